//! `sync::WaitGroup`: waits for every `done` under explored schedules, Go's panic
//! texts (negative counter, reuse), the `sync.WaitGroup.Wait` wait reason, and
//! `WaitGroup::go`.

use gosan_runtime::sync::WaitGroup;
use gosan_runtime::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod common;
use common::spin_until;

#[test]
fn wait_returns_after_every_done_under_many_schedules() {
    let r = check(Config::new().seed(4), 300, || {
        let wg = WaitGroup::new();
        let n = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            wg.add(1);
            let (wg, n) = (wg.clone(), n.clone());
            go(move || {
                gosched();
                n.fetch_add(1, Ordering::SeqCst);
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(n.load(Ordering::SeqCst), 5, "wait returned early");
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn wait_returning_early_is_caught_control() {
    // Control: one `done` too many up front makes `wait` return before the last
    // worker; exploration finds it.
    let r = check(Config::new().seed(4), 300, || {
        let wg = WaitGroup::new();
        let n = Arc::new(AtomicUsize::new(0));
        wg.add(4);
        for _ in 0..4 {
            let (wg, n) = (wg.clone(), n.clone());
            go(move || {
                wg.done();
                gosched();
                n.fetch_add(1, Ordering::SeqCst);
            });
        }
        wg.wait();
        assert_eq!(n.load(Ordering::SeqCst), 4, "wait returned early");
    });
    let p = r.panic.expect("a schedule where wait returns early");
    assert!(p.message.contains("wait returned early"), "{}", p.message);
}

#[test]
fn every_waiter_wakes_when_the_counter_reaches_zero() {
    let r = check(Config::new().seed(8), 100, || {
        let wg = WaitGroup::new();
        wg.add(1);
        let woke = Arc::new(AtomicUsize::new(0));
        let done = chan::<()>(3);
        for _ in 0..3 {
            let (wg, woke, done) = (wg.clone(), woke.clone(), done.clone());
            go(move || {
                wg.wait();
                woke.fetch_add(1, Ordering::SeqCst);
                done.send(());
            });
        }
        spin_until(|| format!("{wg:?}").contains("waiters: 3"));
        assert_eq!(woke.load(Ordering::SeqCst), 0);
        wg.done();
        for _ in 0..3 {
            done.recv();
        }
        assert_eq!(woke.load(Ordering::SeqCst), 3);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn negative_counter_panics_with_go_text() {
    let r = run(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        wg.done();
        wg.done();
    });
    let p = r.panic.expect("panic expected");
    assert_eq!(p.message, "sync: negative WaitGroup counter");
    assert!(!p.fatal, "an ordinary panic, as in Go");
}

#[test]
fn negative_counter_panic_is_recoverable() {
    let r = run(|| {
        let wg = WaitGroup::new();
        let e = catch_unwind(AssertUnwindSafe(|| wg.add(-1))).expect_err("must panic");
        assert_eq!(
            e.downcast_ref::<&str>().copied(),
            Some("sync: negative WaitGroup counter")
        );
    });
    assert!(r.is_clean(), "recovered like Go's recover: {r}");
}

#[test]
fn wait_that_never_ends_deadlocks_with_go_wait_reason() {
    let r = run(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        wg.wait();
    });
    let d = r.deadlock.expect("deadlock expected");
    assert!(d.global);
    assert_eq!(d.goroutines.len(), 1);
    assert_eq!(d.goroutines[0].wait_reason, "sync.WaitGroup.Wait");
}

#[test]
fn reuse_before_wait_returned_panics_like_go() {
    // A second waiter is woken by the `done`; if main re-`add`s before it runs again,
    // it finds the group in use: Go's "reused before previous Wait has returned".
    let r = check(Config::new().seed(6).detect_races(false), 200, || {
        let wg = WaitGroup::new();
        wg.add(1);
        let w2 = wg.clone();
        go(move || w2.wait());
        spin_until(|| format!("{wg:?}").contains("waiters: 1"));
        wg.done();
        wg.add(1);
        gosched();
        wg.done();
    });
    let p = r.panic.expect("some schedule shows the reuse");
    assert_eq!(
        p.message,
        "sync: WaitGroup is reused before previous Wait has returned"
    );
    assert!(!p.fatal);
    assert_eq!(p.goroutine.id, 2);
}

#[test]
fn reuse_after_wait_returned_is_fine() {
    let r = check(Config::new().seed(3), 100, || {
        let wg = WaitGroup::new();
        for round in 0..3 {
            let n = Arc::new(AtomicUsize::new(0));
            for _ in 0..2 {
                let n = n.clone();
                wg.go(move || {
                    n.fetch_add(1, Ordering::SeqCst);
                });
            }
            wg.wait();
            assert_eq!(n.load(Ordering::SeqCst), 2, "round {round}");
        }
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn counter_and_outside_a_run() {
    let wg = WaitGroup::default();
    wg.wait(); // counter 0: returns at once, even outside a run
    wg.add(2);
    assert_eq!(wg.count(), 2);
    wg.done();
    wg.done();
    wg.wait();
    assert_eq!(format!("{wg:?}"), "WaitGroup { counter: 0, waiters: 0 }");
    let e = catch_unwind(AssertUnwindSafe(|| wg.done())).expect_err("negative");
    assert_eq!(
        e.downcast_ref::<&str>().copied(),
        Some("sync: negative WaitGroup counter")
    );
}
