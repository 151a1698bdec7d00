//! Beyond Go (issue 11): wait-for cycles among lock holders and waiters reported the
//! moment they close, while the rest of the program runs on (`global: false`), and
//! lock-order inversions (lockdep) reported even when the run did not deadlock.
//! Each case has its fixed twin, which must stay clean.

use gosan::sync::{Mutex, RawMutex, RwMutex};
use gosan::{chan, go, run, run_with, Config, Report};
use std::sync::Arc;

fn partial(r: &Report) -> Vec<(u64, String)> {
    let d = r
        .deadlock
        .as_ref()
        .unwrap_or_else(|| panic!("no deadlock:\n{r}"));
    assert!(!d.global, "{r}");
    d.goroutines
        .iter()
        .map(|g| (g.id, g.wait_reason.clone()))
        .collect()
}

/// Replaces hex addresses and line numbers so report text can be compared.
fn normalize(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        if line.starts_with("gosan: reproduce") {
            continue;
        }
        let mut l = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            l.push(c);
            if c == ':' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                    chars.next();
                }
                l.push('N');
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

#[test]
fn double_lock_is_reported_while_main_runs_on() {
    let r = run(|| {
        let m = Arc::new(Mutex::new(0));
        let (m2, done) = (m.clone(), chan::<()>(1));
        let d2 = done.clone();
        go(move || {
            let _g = m2.lock();
            d2.send(());
            let _again = m2.lock(); // re-locks a mutex it holds
        });
        done.recv();
        // main goes on with other work after the goroutine deadlocked
        sleep(Duration::from_millis(5));
        let c = chan::<i32>(1);
        c.send(1);
        assert_eq!(c.recv(), Some(1));
    });
    assert_eq!(partial(&r), vec![(2, "sync.Mutex.Lock".to_string())]);
    assert!(
        r.leaks.is_empty(),
        "a partially deadlocked goroutine is not a leak:\n{r}"
    );
    let g = &r.deadlock.as_ref().unwrap().goroutines[0];
    let why = g.why.as_deref().unwrap();
    assert!(why.contains("tests/partial_deadlock.rs"), "{why}");
    assert!(why.contains("held by goroutine 2"), "{why}");
    let text = normalize(&r.to_string());
    assert!(
        text.starts_with(
            "WARNING: PARTIAL DEADLOCK: 1 goroutine(s) blocked forever while the program ran\n\n\
             goroutine 2 [sync.Mutex.Lock]:\n\
             blocked forever: wait-for cycle: waits for the lock created at tests/partial_deadlock.rs:N, held by goroutine 2\n"
        ),
        "{text}"
    );
}

#[test]
fn double_lock_fixed_is_clean() {
    let r = run(|| {
        let m = Arc::new(Mutex::new(0));
        let m2 = m.clone();
        let done = chan::<()>(0);
        let d2 = done.clone();
        go(move || {
            *m2.lock() += 1;
            *m2.lock() += 1;
            d2.send(());
        });
        done.recv();
        assert_eq!(*m.lock(), 2);
    });
    assert!(r.is_clean(), "{r}");
}

fn ab_ba(fixed: bool, seed: u64) -> Report {
    run_with(Config::new().seed(seed), move || {
        let a = Arc::new(Mutex::new(()));
        let b = Arc::new(Mutex::new(()));
        let done = chan::<()>(0);
        let (a2, b2, d2) = (a.clone(), b.clone(), done.clone());
        go(move || {
            let _x = a2.lock();
            let _y = b2.lock();
            drop((_y, _x));
            d2.send(());
        });
        if fixed {
            let _x = a.lock();
            let _y = b.lock();
        } else {
            let _y = b.lock();
            let _x = a.lock();
        }
        done.recv();
    })
}

#[test]
fn ab_ba_is_a_lock_order_inversion_even_without_deadlock() {
    // Some seeds deadlock (a wait-for cycle), others do not: every one reports the
    // inversion; at least one run got lucky.
    let mut lucky = 0;
    for seed in 0..40 {
        let r = ab_ba(false, seed);
        if let Some(d) = &r.deadlock {
            assert!(!d.global || d.goroutines.len() == 2, "{r}");
        } else {
            lucky += 1;
            assert_eq!(r.lock_order.len(), 1, "{r}");
            let l = &r.lock_order[0];
            assert_eq!(l.locks.len(), 2);
            assert_eq!(l.stacks.len(), 2);
            assert_eq!(l.held_stacks.len(), 2);
            assert!(l
                .sites
                .iter()
                .all(|s| s.contains("tests/partial_deadlock.rs")));
            let text = r.to_string();
            assert!(
                text.contains("WARNING: lock-order-inversion (potential deadlock)\n  Cycle in lock order graph: M1 => M2 => M1\n")
                    || text.contains("WARNING: lock-order-inversion (potential deadlock)\n  Cycle in lock order graph: M2 => M1 => M2\n"),
                "{text}"
            );
            assert!(r.to_json().contains("\"held_stacks\""));
        }
    }
    assert!(lucky > 0);
}

#[test]
fn ab_ba_deadlock_is_a_wait_for_cycle() {
    let mut found = false;
    for seed in 0..60 {
        let r = ab_ba(false, seed);
        if let Some(d) = &r.deadlock {
            found = true;
            // main is in the cycle, so once both park nobody is left: the global
            // check fires too; each dump says why.
            assert_eq!(d.goroutines.len(), 2, "{r}");
            assert!(d.goroutines.iter().all(|g| g.why.is_some()), "{r}");
        }
    }
    assert!(found);
}

#[test]
fn ab_ba_fixed_is_clean() {
    for seed in 0..40 {
        let r = ab_ba(true, seed);
        assert!(r.is_clean(), "{r}");
    }
}

#[test]
fn lock_order_detection_can_be_turned_off() {
    for seed in 0..20 {
        let r = run_with(Config::new().seed(seed).detect_lock_order(false), || {
            let a = Arc::new(Mutex::new(()));
            let b = Arc::new(Mutex::new(()));
            {
                let _x = a.lock();
                let _y = b.lock();
            }
            let _y = b.lock();
            let _x = a.lock();
        });
        assert!(r.is_clean(), "{r}");
    }
    let r = run(|| {
        let a = Arc::new(Mutex::new(()));
        let b = Arc::new(Mutex::new(()));
        {
            let _x = a.lock();
            let _y = b.lock();
        }
        let _y = b.lock();
        let _x = a.lock();
    });
    assert_eq!(r.lock_order.len(), 1, "{r}");
}

fn rwr(fixed: bool, seed: u64) -> Report {
    run_with(Config::new().seed(seed), move || {
        let rw = Arc::new(RwMutex::new(0));
        let (rw2, started) = (rw.clone(), chan::<()>(0));
        let st2 = started.clone();
        let done = chan::<()>(1);
        let d2 = done.clone();
        go(move || {
            st2.recv();
            *rw2.write() += 1; // the writer queues behind the reader
            d2.send(());
        });
        if fixed {
            let v = *rw.read();
            started.send(());
            gosan::gosched();
            let w = *rw.read();
            assert!(w >= v);
        } else {
            let _r1 = rw.read();
            started.send(());
            gosan::gosched();
            let _r2 = rw.read(); // recursive read lock
        }
        done.recv();
    })
}

#[test]
fn reader_writer_reader_is_a_wait_for_cycle() {
    let mut found = 0;
    for seed in 0..30 {
        let r = rwr(false, seed);
        if let Some(d) = &r.deadlock {
            found += 1;
            let mut why: Vec<_> = d.goroutines.iter().map(|g| g.wait_reason.clone()).collect();
            why.sort();
            assert_eq!(why, vec!["sync.RWMutex.Lock", "sync.RWMutex.RLock"], "{r}");
            assert!(d.goroutines.iter().all(|g| g.why.is_some()), "{r}");
        }
    }
    assert!(found > 0);
}

#[test]
fn reader_writer_reader_fixed_is_clean() {
    for seed in 0..30 {
        let r = rwr(true, seed);
        assert!(r.is_clean(), "{r}");
    }
}

#[test]
fn partial_deadlock_stop_ends_the_run() {
    let r = run_with(Config::new().stop_on_partial_deadlock(true), || {
        let m = Arc::new(Mutex::new(()));
        let m2 = m.clone();
        go(move || {
            let _a = m2.lock();
            let _b = m2.lock();
        });
        loop {
            gosan::time::sleep(std::time::Duration::from_millis(1));
        }
    });
    assert_eq!(partial(&r), vec![(2, "sync.Mutex.Lock".to_string())]);
}

#[test]
fn raw_mutex_unlocked_by_another_goroutine_is_not_a_cycle() {
    // A hand-off lock: one goroutine locks, another unlocks (allowed in Go).
    let r = run(|| {
        let m = Arc::new(RawMutex::new());
        let m2 = m.clone();
        m.lock();
        go(move || m2.unlock());
        m.lock(); // waits for the other goroutine's unlock
        m.unlock();
    });
    assert!(r.is_clean(), "{r}");
}

// ── orphaned channels ─────────────────────────────────────────────────────────────

use gosan::time::{after, sleep, Duration};
use gosan::Chan;

#[test]
fn receiver_orphaned_when_the_last_other_handle_drops_while_main_runs() {
    let r = run(|| {
        let c: Chan<i32> = chan(0);
        let c2 = c.clone();
        go(move || {
            let _ = c2.recv(); // nobody will ever send or close
        });
        gosan::gosched();
        drop(c); // main gives its handle up and goes on
        sleep(Duration::from_millis(5));
        let k = chan::<i32>(1);
        k.send(1);
        assert_eq!(k.recv(), Some(1));
    });
    assert_eq!(partial(&r), vec![(2, "chan receive".to_string())]);
    let g = &r.deadlock.as_ref().unwrap().goroutines[0];
    assert_eq!(
        g.why.as_deref(),
        Some("no other handle of this channel is alive")
    );
    assert!(r.leaks.is_empty(), "{r}");
    assert!(
        r.to_string()
            .contains("goroutine 2 [chan receive]:\nblocked forever: no other handle of this channel is alive\n"),
        "{r}"
    );
}

#[test]
fn sender_blocking_on_its_only_handle_is_reported_at_once() {
    let r = run(|| {
        go(|| {
            let c: Chan<i32> = chan(0);
            c.send(1); // the only handle
        });
        sleep(Duration::from_millis(5));
    });
    assert_eq!(partial(&r), vec![(2, "chan send".to_string())]);
}

#[test]
fn producer_left_by_an_early_consumer_is_found_with_its_reason() {
    // Found while main still runs (a partial deadlock) or, when the producer parks
    // only after main returned, as a leak; either way with why.
    for seed in 0..20 {
        let r = run_with(Config::new().seed(seed), || {
            let c: Chan<i32> = chan(0);
            let c2 = c.clone();
            go(move || {
                for i in 0..10 {
                    c2.send(i);
                }
            });
            let _ = c.recv(); // the consumer takes one and returns, dropping its handle
        });
        let g = match &r.deadlock {
            Some(d) => {
                assert!(!d.global && r.leaks.is_empty(), "{r}");
                &d.goroutines[0]
            }
            None => &r.leaks[0],
        };
        assert_eq!((g.id, g.wait_reason.as_str()), (2, "chan send"), "{r}");
        assert_eq!(
            g.why.as_deref(),
            Some("no other handle of this channel is alive")
        );
    }
}

#[test]
fn nil_channel_leak_says_why() {
    let r = run(|| {
        go(|| {
            Chan::<i32>::nil().recv();
        });
        gosan::gosched();
    });
    assert_eq!(r.leaks.len(), 1, "{r}");
    assert_eq!(r.leaks[0].why.as_deref(), Some("nil channel"));
}

#[test]
fn handles_reachable_through_the_heap_or_a_timer_are_alive() {
    // No false positives: a handle inside an Arc shared with another goroutine, and
    // a timer's channel (the timer holds a Weak), are never judged orphaned.
    for seed in 0..20 {
        let r = run_with(Config::new().seed(seed), || {
            let shared = Arc::new(chan::<i32>(0));
            let s2 = shared.clone();
            go(move || {
                sleep(Duration::from_millis(1));
                s2.send(7);
            });
            assert_eq!(shared.recv(), Some(7));
            let t = after(Duration::from_millis(3));
            t.recv();
            let c: Chan<i32> = chan(0);
            let c2 = c.clone();
            go(move || c2.send(1));
            drop(c.clone());
            assert_eq!(c.recv(), Some(1));
        });
        assert!(r.is_clean(), "{r}");
    }
}

#[test]
fn select_over_two_orphaned_channels_is_blocked_forever() {
    let r = run(|| {
        go(|| {
            let a: Chan<i32> = chan(0);
            let b: Chan<i32> = chan(0);
            gosan::select! {
                recv(a) -> _ => {},
                recv(b) -> _ => {},
            }
        });
        sleep(Duration::from_millis(5));
    });
    assert_eq!(partial(&r), vec![(2, "select".to_string())]);
}

#[test]
fn select_with_one_live_arm_is_not_blocked_forever() {
    for seed in 0..20 {
        let r = run_with(Config::new().seed(seed), || {
            let a: Chan<i32> = chan(0);
            let live: Chan<i32> = chan(0);
            let l2 = live.clone();
            let done: Chan<()> = chan(0);
            let d2 = done.clone();
            go(move || {
                gosan::select! {
                    recv(a) -> _ => {},
                    recv(l2) -> v => assert_eq!(v, Some(1)),
                    recv(after(Duration::from_secs(1))) -> _ => {},
                }
                d2.send(());
            });
            sleep(Duration::from_millis(1));
            live.send(1);
            done.recv();
        });
        assert!(r.is_clean(), "{r}");
    }
}

#[test]
fn receivers_holding_every_handle_between_them_are_all_blocked_forever() {
    let r = run(|| {
        let c: Chan<i32> = chan(0);
        for _ in 0..2 {
            let c2 = c.clone();
            go(move || {
                let _ = c2.recv();
            });
        }
        sleep(Duration::from_millis(1)); // both receivers parked
        drop(c); // the producer leaves without sending or closing
        sleep(Duration::from_millis(5));
    });
    let mut found = partial(&r);
    found.sort(); // reported in the order they parked
    assert_eq!(
        found,
        vec![
            (2, "chan receive".to_string()),
            (3, "chan receive".to_string())
        ]
    );
}

#[test]
fn a_receiver_with_a_second_handle_elsewhere_is_not_judged() {
    let r = run(|| {
        let c: Chan<i32> = chan(0);
        let c2 = c.clone();
        let keep = Arc::new(c.clone()); // a handle on the heap, held by main
        go(move || {
            let _ = c2.recv();
        });
        sleep(Duration::from_millis(1));
        drop(c);
        sleep(Duration::from_millis(5));
        keep.send(1);
    });
    assert!(r.is_clean(), "{r}");
}
