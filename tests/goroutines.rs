//! Goroutines: identity, counts, panics, 100k live goroutines, stack overflow.

use gosan::{chan, go, goid, num_goroutine, run, Chan};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn goid_and_num_goroutine() {
    let r = run(|| {
        assert_eq!(goid(), 1);
        assert_eq!(num_goroutine(), 1);
        let c: Chan<u64> = chan(0);
        let c2 = c.clone();
        go(move || c2.send(goid()));
        assert_eq!(num_goroutine(), 2);
        let id = c.recv().unwrap();
        assert!(id > 1);
        gosan::gosched();
    });
    assert!(r.is_clean(), "{r}");
    assert_eq!(goid(), 0, "outside a run");
}

#[test]
fn go_outside_a_run_is_a_clear_error() {
    let e = std::panic::catch_unwind(|| go(|| {})).unwrap_err();
    let msg = e.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("gosan::go called outside a gosan run"),
        "{msg}"
    );
}

#[test]
fn blocking_outside_a_run_is_a_clear_error() {
    let c: Chan<i32> = chan(0);
    let e = std::panic::catch_unwind(move || c.recv()).unwrap_err();
    let msg = e.downcast_ref::<String>().unwrap();
    assert!(msg.contains("outside a gosan run"), "{msg}");
}

#[test]
fn runs_do_not_nest() {
    let r = run(|| {
        let _ = gosan::run(|| {});
    });
    let p = r.panic.expect("nested run must fail");
    assert!(p.message.contains("runs do not nest"), "{}", p.message);
}

#[test]
fn panic_in_a_goroutine_ends_the_run_with_its_stack() {
    let r = run(|| {
        let c: Chan<i32> = chan(0);
        go(|| panic!("boom {}", 7)); // panic site
        c.recv();
    });
    let p = r.panic.as_ref().expect("panic");
    assert_eq!(p.message, "boom 7");
    assert!(!p.fatal);
    assert_eq!(p.goroutine.id, 2);
    let top = &p.goroutine.stack[0];
    assert!(
        top.function.contains("panic_in_a_goroutine_ends_the_run"),
        "{:?}",
        p.goroutine.stack
    );
    assert!(top.file.ends_with("tests/goroutines.rs"), "{top:?}");
    let line = 1 + include_str!("goroutines.rs")
        .lines()
        .position(|l| l.ends_with("// panic site"))
        .unwrap() as u32;
    assert_eq!(top.line, line);
    // The run ended at the panic, not at a global deadlock. (Main, parked on a
    // channel nobody else holds, is proven blocked forever first: a partial
    // deadlock, kept in the report as DESIGN.md's fine print says.)
    assert!(
        r.deadlock.as_ref().is_none_or(|d| !d.global),
        "the run ended at the panic"
    );
    let text = r.to_string();
    assert!(
        text.starts_with("panic: boom 7\n\ngoroutine 2 [running]:\n"),
        "{text}"
    );
}

#[test]
fn recover_with_catch_unwind_is_not_a_finding() {
    let r = run(|| {
        let c: Chan<i32> = chan(1);
        let c2 = c.clone();
        go(move || {
            let r = std::panic::catch_unwind(|| panic!("recovered"));
            assert!(r.is_err());
            c2.send(1);
        });
        assert_eq!(c.recv(), Some(1));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn destructors_of_blocked_goroutines_run_at_the_end_of_a_run() {
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let r = run(move || {
        for _ in 0..10 {
            let g = Guard(d.clone());
            go(move || {
                let _g = g;
                Chan::<i32>::nil().recv();
            });
        }
        let never: Chan<i32> = chan(0);
        never.recv();
    });
    assert_eq!(r.deadlock.unwrap().goroutines.len(), 11);
    assert_eq!(dropped.load(Ordering::SeqCst), 10);
}

#[test]
#[cfg(feature = "race")] // asserts the detector's memory-budget note
fn hundred_thousand_live_goroutines() {
    // More than vm.max_map_count / 2 guarded stacks: slab stacks take over.
    const N: usize = 100_000;
    let r = run(|| {
        let release: Chan<()> = chan(0);
        let done: Chan<()> = chan(N);
        for _ in 0..N {
            let (release, done) = (release.clone(), done.clone());
            go(move || {
                release.recv();
                done.send(());
            });
        }
        // nobody can finish before main sends: all N are alive at once
        assert_eq!(num_goroutine(), N + 1);
        for _ in 0..N {
            release.send(());
        }
        for _ in 0..N {
            done.recv();
        }
        assert_eq!(num_goroutine(), 1);
    });
    assert!(r.is_clean(), "{r}");
    // Every goroutine here synchronizes with main (a hub), so each learns main's
    // whole vector clock; the clocks share it (detector/src/hb/tree.rs) instead of
    // copying it, so the detector stays within its memory budget and keeps going.
    assert!(r.notes.is_empty(), "{r}");
}

#[test]
fn hundred_thousand_live_goroutines_without_the_detector() {
    const N: usize = 100_000;
    let r = gosan::run_with(gosan::Config::new().detect_races(false), || {
        let release: Chan<()> = chan(0);
        let done: Chan<()> = chan(N);
        for _ in 0..N {
            let (release, done) = (release.clone(), done.clone());
            go(move || {
                release.recv();
                done.send(());
            });
        }
        assert_eq!(num_goroutine(), N + 1);
        release.close();
        for _ in 0..N {
            done.recv();
        }
    });
    assert!(r.is_clean() && r.notes.is_empty(), "{r}");
}

#[test]
fn spawn_and_finish_many_goroutines_reuses_stacks() {
    let r = run(|| {
        let wg = chan::<()>(1000);
        for _ in 0..50 {
            for _ in 0..1000 {
                let wg = wg.clone();
                go(move || wg.send(()));
            }
            for _ in 0..1000 {
                wg.recv();
            }
        }
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn waking_a_goroutine_from_a_foreign_thread_is_a_clear_error() {
    let msg = Arc::new(std::sync::Mutex::new(String::new()));
    let m2 = msg.clone();
    let r = run(move || {
        let c: Chan<i32> = chan(0);
        let c2 = c.clone();
        go(move || {
            c2.recv();
        });
        gosan::time::sleep(std::time::Duration::from_millis(1)); // the receiver parks
        let t = std::thread::spawn(move || c.send(1));
        let err = t.join().unwrap_err();
        *m2.lock().unwrap() = err
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default();
    });
    let msg = msg.lock().unwrap().clone();
    assert!(msg.contains("another gosan run"), "{msg:?} / {r}");
}
