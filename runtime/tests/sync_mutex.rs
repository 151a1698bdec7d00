//! `sync::RawMutex` / `sync::Mutex<T>`: mutual exclusion under explored schedules,
//! Go's fatal error on unlocking an unlocked mutex, re-lock deadlock, FIFO hand-off,
//! `try_lock` as a yield, use outside a run, and replay of a contended program.

use gosan_runtime::sync::{Mutex, RawMutex};
use gosan_runtime::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod common;
use common::{spin_until, within};

fn waiters(m: &RawMutex) -> String {
    format!("{m:?}")
}

const N: usize = 4;
const K: usize = 5;

/// N goroutines each add K times with a read-gosched-write inside the critical
/// section; joins on a channel.
fn counter_program(lock: bool) {
    let m = Arc::new(Mutex::new(0usize));
    let done = chan::<()>(N);
    for _ in 0..N {
        let (m, done) = (m.clone(), done.clone());
        go(move || {
            for _ in 0..K {
                if lock {
                    let mut g = m.lock();
                    let v = *g;
                    gosched();
                    *g = v + 1;
                } else {
                    // The same read-gosched-write with the lock held only around
                    // each access: the update as a whole is not protected.
                    let v = *m.lock();
                    gosched();
                    *m.lock() = v + 1;
                }
            }
            done.send(());
        });
    }
    for _ in 0..N {
        done.recv();
    }
    assert_eq!(*m.lock(), N * K, "lost update");
}

#[test]
fn mutex_counter_is_exact_under_many_schedules() {
    let r = check(Config::new().seed(1), 300, || counter_program(true));
    assert!(r.is_clean(), "{r}");
}

#[test]
fn unprotected_counter_loses_updates_control() {
    // Control for the test above: without the lock around the whole update, schedule
    // exploration finds the lost update.
    let r = check(Config::new().seed(1), 300, || counter_program(false));
    let p = r.panic.expect("check must find the lost update");
    assert!(p.message.contains("lost update"), "{}", p.message);
    assert!(!p.fatal);
}

#[test]
fn no_two_goroutines_inside_the_critical_section() {
    let r = check(Config::new().seed(7), 300, || {
        let m = Arc::new(RawMutex::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let done = chan::<()>(3);
        for _ in 0..3 {
            let (m, inside, done) = (m.clone(), inside.clone(), done.clone());
            go(move || {
                for _ in 0..3 {
                    m.lock();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two inside");
                    gosched();
                    gosched();
                    inside.fetch_sub(1, Ordering::SeqCst);
                    m.unlock();
                }
                done.send(());
            });
        }
        for _ in 0..3 {
            done.recv();
        }
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn unlock_of_unlocked_mutex_is_fatal() {
    let r = run(|| {
        let m = RawMutex::new();
        m.unlock();
    });
    let p = r.panic.expect("fatal error expected");
    assert!(p.fatal);
    assert_eq!(p.message, "sync: unlock of unlocked mutex");
    assert_eq!(p.goroutine.id, 1);
}

#[test]
fn unlock_of_unlocked_mutex_is_fatal_even_if_caught() {
    let after = Arc::new(AtomicUsize::new(0));
    let a = after.clone();
    let r = run(move || {
        let m = RawMutex::new();
        let caught = catch_unwind(AssertUnwindSafe(|| m.unlock()));
        assert!(caught.is_err());
        a.store(1, Ordering::SeqCst);
        gosched(); // the run ends at the next switch
        a.store(2, Ordering::SeqCst);
    });
    let p = r
        .panic
        .expect("fatal error must be recorded although caught");
    assert!(p.fatal);
    assert_eq!(p.message, "sync: unlock of unlocked mutex");
    assert!(after.load(Ordering::SeqCst) >= 1);
}

#[test]
fn unlock_from_another_goroutine_is_allowed() {
    let r = run(|| {
        let m = Arc::new(RawMutex::new());
        m.lock();
        let m2 = m.clone();
        let done = chan::<()>(0);
        let d = done.clone();
        go(move || {
            m2.unlock();
            d.send(());
        });
        done.recv();
        assert!(m.try_lock(), "unlocked by the other goroutine");
        m.unlock();
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn relock_by_holder_deadlocks_with_go_wait_reason() {
    let r = run(|| {
        let m = Mutex::new(());
        let _g = m.lock();
        let _g2 = m.lock(); // not reentrant
        unreachable!();
    });
    let d = r.deadlock.expect("deadlock expected");
    assert!(d.global);
    assert_eq!(d.goroutines.len(), 1);
    assert_eq!(d.goroutines[0].id, 1);
    assert_eq!(d.goroutines[0].wait_reason, "sync.Mutex.Lock");
    assert!(r.panic.is_none());
}

#[test]
fn lock_order_inversion_deadlocks_both_in_mutex_lock() {
    // Classic AB/BA: at least one schedule deadlocks, with both goroutines parked in
    // sync.Mutex.Lock. (Lock-order detection off: it would report the inversion in
    // the first schedule, before any deadlocks — `tests/partial_deadlock.rs`.)
    let r = check(Config::new().seed(3).detect_lock_order(false), 500, || {
        let a = Arc::new(RawMutex::new());
        let b = Arc::new(RawMutex::new());
        let done = chan::<()>(1);
        let (a2, b2, d) = (a.clone(), b.clone(), done.clone());
        go(move || {
            b2.lock();
            a2.lock();
            a2.unlock();
            b2.unlock();
            d.send(());
        });
        a.lock();
        b.lock();
        b.unlock();
        a.unlock();
        done.recv();
    });
    let d = r.deadlock.as_ref().expect("some schedule deadlocks");
    let reasons: Vec<&str> = d
        .goroutines
        .iter()
        .map(|g| g.wait_reason.as_str())
        .collect();
    assert_eq!(reasons, ["sync.Mutex.Lock", "sync.Mutex.Lock"], "{r}");
}

#[test]
fn waiters_get_the_mutex_in_arrival_order() {
    let r = check(Config::new().seed(11), 50, || {
        let m = Arc::new(RawMutex::new());
        let order = Arc::new(Mutex::new(Vec::new()));
        let done = chan::<()>(4);
        m.lock();
        for i in 0..4 {
            let (m2, order, done) = (m.clone(), order.clone(), done.clone());
            go(move || {
                m2.lock();
                order.lock().push(i);
                m2.unlock();
                done.send(());
            });
            let want = format!("waiters: {}", i + 1);
            spin_until(|| waiters(&m).contains(&want));
        }
        m.unlock();
        // Direct hand-off: still locked (owned by the first waiter, which has not run
        // yet), so the unlocker cannot barge back in ahead of the queue.
        assert_eq!(waiters(&m), "RawMutex { locked: true, waiters: 3 }");
        for _ in 0..4 {
            done.recv();
        }
        assert_eq!(*order.lock(), vec![0, 1, 2, 3]);
    });
    assert!(r.is_clean(), "{r}");
}

fn try_lock_spin_program() {
    let m = Arc::new(RawMutex::new());
    let locked = chan::<()>(0);
    let m2 = m.clone();
    let l2 = locked.clone();
    go(move || {
        m2.lock();
        l2.send(());
        for _ in 0..10 {
            gosched();
        }
        m2.unlock();
    });
    locked.recv();
    while !m.try_lock() {}
    m.unlock();
}

#[test]
fn failed_try_lock_is_a_yield_under_every_strategy() {
    for strategy in [
        Strategy::RoundRobin,
        Strategy::Random,
        Strategy::Pct { depth: 1 },
        Strategy::Pct { depth: 3 },
    ] {
        for seed in 0..20 {
            let s = strategy.clone();
            let r = within(60, move || {
                run_with(Config::new().seed(seed).strategy(s), try_lock_spin_program)
            });
            assert!(r.is_clean(), "{strategy:?} seed {seed}: {r}");
        }
    }
}

#[test]
fn mutex_guard_try_lock_and_accessors() {
    let r = run(|| {
        let m = Mutex::new(vec![1]);
        {
            let mut g = m.lock();
            g.push(2);
            assert!(m.try_lock().is_none());
            assert!(format!("{m:?}").contains("<locked>"));
        }
        let mut g = m.try_lock().expect("free again");
        g.push(3);
        drop(g);
        assert_eq!(format!("{m:?}"), "Mutex { data: [1, 2, 3], .. }");
        let mut m = m;
        m.get_mut().push(4);
        assert_eq!(m.into_inner(), vec![1, 2, 3, 4]);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn guard_unlocks_when_a_recovered_panic_unwinds_through_it() {
    let r = run(|| {
        let m = Mutex::new(0);
        let res = catch_unwind(AssertUnwindSafe(|| {
            let _g = m.lock();
            panic!("inside");
        }));
        assert!(res.is_err());
        assert!(
            m.try_lock().is_some(),
            "no poisoning, guard unlocked on unwind"
        );
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn uncontended_use_outside_a_run_just_works() {
    let m = Mutex::new(5);
    *m.lock() += 1;
    assert_eq!(*m.try_lock().unwrap(), 6);
    let raw = RawMutex::new();
    raw.lock();
    assert!(!raw.try_lock());
    raw.unlock();
    assert!(raw.try_lock());
    raw.unlock();
    assert_eq!(m.into_inner(), 6);
    static GLOBAL: RawMutex = RawMutex::new();
    GLOBAL.lock();
    GLOBAL.unlock();
}

#[test]
fn contended_lock_outside_a_run_panics_clearly() {
    let raw = RawMutex::new();
    raw.lock();
    let e = catch_unwind(AssertUnwindSafe(|| raw.lock())).expect_err("must not block");
    let msg = e
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("outside a gosan run"), "{msg}");
    // The failed attempt left no waiter behind.
    assert_eq!(format!("{raw:?}"), "RawMutex { locked: true, waiters: 0 }");
    raw.unlock();
    let e = catch_unwind(AssertUnwindSafe(|| raw.unlock())).expect_err("unlocked");
    assert_eq!(
        e.downcast_ref::<gosan_runtime::__private::FatalError>()
            .map(|f| f.0.as_str()),
        Some("sync: unlock of unlocked mutex")
    );
}

fn contended_program() {
    let m = Arc::new(Mutex::new(0u32));
    let done = chan::<()>(3);
    for _ in 0..3 {
        let (m, done) = (m.clone(), done.clone());
        go(move || {
            for _ in 0..4 {
                *m.lock() += 1;
            }
            done.send(());
        });
    }
    for _ in 0..3 {
        done.recv();
    }
    assert_eq!(*m.lock(), 12);
}

#[test]
fn same_seed_same_schedule() {
    for strategy in [Strategy::Random, Strategy::Pct { depth: 3 }] {
        let a = run_with(
            Config::new().seed(42).strategy(strategy.clone()),
            contended_program,
        );
        let b = run_with(
            Config::new().seed(42).strategy(strategy.clone()),
            contended_program,
        );
        assert!(a.is_clean(), "{a}");
        assert!(!a.schedule.is_empty());
        assert_eq!(a.schedule, b.schedule, "{strategy:?}");
        let c = run_with(
            Config::new().strategy(Strategy::Replay(a.schedule.clone())),
            contended_program,
        );
        assert_eq!(a.schedule, c.schedule);
    }
}

#[test]
fn static_mutex_is_reusable_after_a_run_that_deadlocked_inside() {
    static M: RawMutex = RawMutex::new();
    // Run 1: main holds M and a goroutine parks in M.lock(); the run deadlocks and is
    // torn down while the waiter is queued.
    let r = run(|| {
        M.lock();
        let c = chan::<()>(0);
        go(|| {
            M.lock();
        });
        c.recv();
    });
    assert!(r.deadlock.is_some(), "{r}");
    assert_eq!(format!("{M:?}"), "RawMutex { locked: true, waiters: 0 }");
    M.unlock(); // outside a run: uncontended
    let r = run(|| {
        M.lock();
        M.unlock();
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn primitives_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    use gosan_runtime::sync::{atomic, Cond, Once, RawRwMutex, RwMutex, WaitGroup};
    send_sync::<RawMutex>();
    // Like std: a Mutex makes a Send-but-not-Sync value shareable.
    send_sync::<Mutex<std::cell::Cell<i32>>>();
    send_sync::<RawRwMutex>();
    send_sync::<RwMutex<Vec<i32>>>();
    send_sync::<WaitGroup>();
    send_sync::<Once>();
    send_sync::<Cond>();
    send_sync::<atomic::AtomicU64>();
    send_sync::<atomic::AtomicBool>();
}
