//! Global deadlocks and leaks: Go's `fatal error: all goroutines are asleep -
//! deadlock!` with a dump of every goroutine, and (beyond Go) goroutines blocked for
//! good after main returned.

use gosan::{chan, go, run, run_with, Chan, Config};

/// 1-based line of the line in this file that ends with `marker`.
fn line_of(marker: &str) -> u32 {
    1 + include_str!("deadlock.rs")
        .lines()
        .position(|l| l.ends_with(marker))
        .expect("marker") as u32
}

fn reasons(r: &gosan::Report) -> Vec<(u64, String)> {
    r.deadlock
        .as_ref()
        .expect("expected a deadlock")
        .goroutines
        .iter()
        .map(|g| (g.id, g.wait_reason.clone()))
        .collect()
}

#[test]
fn main_receiving_from_nobody_is_a_global_deadlock() {
    let r = run(|| {
        let c: Chan<i32> = chan(0);
        c.recv(); // blocks: main
    });
    let d = r.deadlock.as_ref().expect("deadlock");
    assert!(d.global);
    assert_eq!(reasons(&r), vec![(1, "chan receive".to_string())]);
    let text = r.to_string();
    assert!(
        text.starts_with(
            "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [chan receive]:\n"
        ),
        "{text}"
    );
    // The dump names this test's function and file:line of the blocking call.
    let top = &d.goroutines[0].stack[0];
    assert!(
        top.function
            .contains("deadlock::main_receiving_from_nobody"),
        "{top:?}"
    );
    assert!(top.file.ends_with("tests/deadlock.rs"), "{top:?}");
    assert_eq!(top.line, line_of("// blocks: main"));
}

#[test]
fn no_deadlock_when_a_sender_comes() {
    let r = run(|| {
        let c: Chan<i32> = chan(0);
        let tx = c.clone();
        go(move || tx.send(1));
        assert_eq!(c.recv(), Some(1));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn every_channel_wait_reason_appears_in_the_dump() {
    let r = run(|| {
        let a: Chan<i32> = chan(0);
        let a2 = a.clone();
        go(move || a2.send(1)); // chan send
        go(|| {
            Chan::<i32>::nil().recv(); // chan receive (nil chan)
        });
        go(|| Chan::<i32>::nil().send(1)); // chan send (nil chan)
        go(|| gosan::select! {}); // select (no cases)
        let b: Chan<i32> = chan(0);
        let c: Chan<i32> = chan(0);
        go(move || {
            gosan::select! {
                recv(b) -> _v => {},
                recv(c) -> _v => {},
            }
        }); // select
        let d: Chan<i32> = chan(0);
        d.recv(); // chan receive (main)
    });
    let mut got: Vec<String> = reasons(&r).into_iter().map(|(_, w)| w).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            "chan receive",
            "chan receive (nil chan)",
            "chan send",
            "chan send (nil chan)",
            "select",
            "select (no cases)"
        ]
    );
    let text = r.to_string();
    assert!(text.contains("created by "), "{text}");
    assert!(text.contains("tests/deadlock.rs:"), "{text}");
}

#[test]
fn dump_of_a_goroutine_names_its_creation_site() {
    let r = run(|| {
        let c: Chan<i32> = chan(0);
        let c2 = c.clone();
        go(move || {
            // creation site: sender
            c2.send(1);
            c2.send(2);
        });
        c.recv();
        let never: Chan<i32> = chan(0);
        never.recv();
    });
    let d = r.deadlock.expect("deadlock");
    let g = d
        .goroutines
        .iter()
        .find(|g| g.id != 1)
        .expect("second goroutine");
    assert_eq!(g.wait_reason, "chan send");
    assert_eq!(
        g.created_at[0].line,
        line_of("// creation site: sender") - 1,
        "{:?}",
        g.created_at
    );
    assert!(g.created_at[0].file.ends_with("tests/deadlock.rs"));
    assert!(g.stack[0].function.contains("{{closure}}"), "{:?}", g.stack);
}

#[test]
fn goroutine_blocked_after_main_returns_is_a_leak() {
    let r = run(|| {
        let c: Chan<i32> = chan(0);
        go(move || {
            // Parks only after main returned (blocking on its own only handle
            // before that would be a partial deadlock, tests/partial_deadlock.rs).
            gosan::time::sleep(std::time::Duration::from_millis(1));
            c.recv();
        });
    });
    assert!(r.deadlock.is_none(), "{r}");
    assert_eq!(r.leaks.len(), 1, "{r}");
    assert_eq!(r.leaks[0].wait_reason, "chan receive");
    assert!(r
        .to_string()
        .contains("WARNING: GOROUTINE LEAK: 1 goroutine(s) blocked forever after main returned"));
}

#[test]
fn goroutine_finishing_after_main_is_not_a_leak() {
    let r = run(|| {
        let c: Chan<i32> = chan(1);
        let c2 = c.clone();
        go(move || {
            c2.recv();
        });
        c.send(1);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn leak_check_off_ends_the_run_when_main_returns() {
    let r = run_with(Config::new().leak_check(false), || {
        let c: Chan<i32> = chan(0);
        // A handle the run cannot see end (else the receiver is provably orphaned
        // while main is still running: a partial deadlock, not a leak).
        std::mem::forget(c.clone());
        go(move || {
            c.recv();
        });
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn runtime_is_reusable_after_a_deadlock() {
    for _ in 0..50 {
        let r = run(|| {
            let c: Chan<String> = chan(0);
            let c2 = c.clone();
            go(move || c2.send("x".repeat(10)));
            let never: Chan<i32> = chan(0);
            never.recv();
        });
        assert!(r.deadlock.is_some());
        let ok = run(|| {
            let c: Chan<i32> = chan(1);
            c.send(1);
            assert_eq!(c.recv(), Some(1));
        });
        assert!(ok.is_clean(), "{ok}");
    }
}
