//! `sync::Once` and `sync::Cond`: exactly-once under explored schedules, a panicking
//! `f` counts as done, Go's wait reasons in deadlock dumps; `signal` wakes one,
//! `broadcast` wakes all, no lost wake-up between `L.unlock` and the park.

use gosan_runtime::sync::{Cond, Locker, Once, RawMutex};
use gosan_runtime::*;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

mod common;
use common::spin_until;

// ── Once ────────────────────────────────────────────────────────────────────────

#[test]
fn once_runs_f_exactly_once_and_every_caller_sees_it_finished() {
    let r = check(Config::new().seed(12), 300, || {
        let once = Arc::new(Once::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let done = chan::<()>(5);
        for _ in 0..5 {
            let (once, runs, finished, done) =
                (once.clone(), runs.clone(), finished.clone(), done.clone());
            go(move || {
                once.call_once(|| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    gosched();
                    gosched();
                    finished.store(1, Ordering::SeqCst);
                });
                assert_eq!(
                    finished.load(Ordering::SeqCst),
                    1,
                    "call_once returned before f finished"
                );
                done.send(());
            });
        }
        for _ in 0..5 {
            done.recv();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(once.is_completed());
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn panicking_f_counts_as_done() {
    let r = run(|| {
        let once = Once::new();
        let e = catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("boom"))));
        assert_eq!(
            e.expect_err("f panicked").downcast_ref::<&str>().copied(),
            Some("boom")
        );
        assert!(once.is_completed(), "Go counts a panicking f as done");
        let mut ran = false;
        once.call_once(|| ran = true);
        assert!(!ran);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn unrecovered_panic_in_f_is_reported() {
    let r = run(|| {
        let once = Once::new();
        once.call_once(|| panic!("init failed"));
    });
    let p = r.panic.expect("panic expected");
    assert_eq!(p.message, "init failed");
    assert!(!p.fatal);
}

#[test]
fn callers_blocked_on_a_running_f_show_mutex_lock() {
    let r = run(|| {
        let once = Arc::new(Once::new());
        let started = chan::<()>(1);
        let (o2, s2) = (once.clone(), started.clone());
        go(move || {
            o2.call_once(|| {
                s2.send(());
                chan::<()>(0).recv(); // f never finishes
            })
        });
        started.recv();
        once.call_once(|| unreachable!("f is already running"));
    });
    let d = r.deadlock.expect("deadlock expected");
    let reasons: Vec<(u64, &str)> = d
        .goroutines
        .iter()
        .map(|g| (g.id, g.wait_reason.as_str()))
        .collect();
    assert_eq!(reasons, [(1, "sync.Mutex.Lock"), (2, "chan receive")]);
}

#[test]
fn recursive_call_once_deadlocks_like_go() {
    let r = run(|| {
        let once = Arc::new(Once::new());
        let o2 = once.clone();
        once.call_once(move || o2.call_once(|| {}));
    });
    let d = r.deadlock.expect("deadlock expected");
    assert_eq!(d.goroutines[0].wait_reason, "sync.Mutex.Lock");
}

#[test]
fn static_once_torn_down_mid_f_runs_again_in_the_next_run() {
    static O: Once = Once::new();
    let r = run(|| {
        O.call_once(|| {
            chan::<()>(0).recv();
        })
    });
    assert!(r.deadlock.is_some(), "{r}");
    assert!(!O.is_completed(), "f never finished");
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    let r = run(move || {
        O.call_once(|| {
            r2.fetch_add(1, Ordering::SeqCst);
        })
    });
    assert!(r.is_clean(), "{r}");
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert!(O.is_completed());
}

#[test]
fn once_outside_a_run() {
    let once = Once::default();
    let mut n = 0;
    once.call_once(|| n += 1);
    once.call_once(|| n += 1);
    assert_eq!(n, 1);
    assert_eq!(format!("{once:?}"), "Once { done: true, .. }");
}

// ── Cond ────────────────────────────────────────────────────────────────────────

fn cond_waiters(c: &Cond) -> String {
    format!("{c:?}")
}

/// Three goroutines wait on `c` (each counting itself in `woken` once woken).
fn start_waiters(c: &Arc<Cond>, woken: &Arc<AtomicUsize>, done: &Chan<()>) {
    for _ in 0..3 {
        let (c, woken, done) = (c.clone(), woken.clone(), done.clone());
        go(move || {
            c.l.lock();
            c.wait();
            woken.fetch_add(1, Ordering::SeqCst);
            c.l.unlock();
            done.send(());
        });
    }
    spin_until(|| cond_waiters(c).contains("waiters: 3"));
}

#[test]
fn signal_wakes_exactly_one_waiter() {
    let r = check(Config::new().seed(21), 100, || {
        let c = Arc::new(Cond::new(Arc::new(RawMutex::new())));
        let woken = Arc::new(AtomicUsize::new(0));
        let done = chan::<()>(3);
        start_waiters(&c, &woken, &done);
        c.signal();
        done.recv();
        for _ in 0..50 {
            gosched();
        }
        assert_eq!(woken.load(Ordering::SeqCst), 1, "signal woke more than one");
        assert!(cond_waiters(&c).contains("waiters: 2"));
        c.signal();
        c.signal();
        done.recv();
        done.recv();
        assert_eq!(woken.load(Ordering::SeqCst), 3);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn broadcast_wakes_every_waiter() {
    let r = check(Config::new().seed(22), 100, || {
        let c = Arc::new(Cond::new(Arc::new(RawMutex::new())));
        let woken = Arc::new(AtomicUsize::new(0));
        let done = chan::<()>(3);
        start_waiters(&c, &woken, &done);
        c.broadcast();
        for _ in 0..3 {
            done.recv();
        }
        assert_eq!(woken.load(Ordering::SeqCst), 3);
        c.signal(); // nobody waits: a no-op
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn signal_wakes_the_longest_waiter_first() {
    let r = run(|| {
        let c = Arc::new(Cond::new(Arc::new(RawMutex::new())));
        let order = Arc::new(StdMutex::new(Vec::new()));
        let done = chan::<()>(3);
        for i in 0..3 {
            let (c2, order, done) = (c.clone(), order.clone(), done.clone());
            go(move || {
                c2.l.lock();
                c2.wait();
                order.lock().unwrap().push(i);
                c2.l.unlock();
                done.send(());
            });
            let want = format!("waiters: {}", i + 1);
            spin_until(|| cond_waiters(&c).contains(&want));
        }
        for _ in 0..3 {
            c.signal();
            done.recv();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn signal_between_unlock_and_park_is_not_lost() {
    // The waiter is queued before it unlocks L, and L.unlock is a scheduling point:
    // some schedules run the signaller (which does not hold L, as Go allows) inside
    // that window. The notification must still count, or the waiter sleeps forever.
    let r = check(Config::new().seed(41), 300, || {
        let c = Arc::new(Cond::new(Arc::new(RawMutex::new())));
        let done = chan::<()>(1);
        let (c2, d2) = (c.clone(), done.clone());
        go(move || {
            c2.l.lock();
            c2.wait();
            c2.l.unlock();
            d2.send(());
        });
        spin_until(|| cond_waiters(&c).contains("waiters: 1"));
        c.signal();
        done.recv();
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn waiting_forever_shows_cond_wait() {
    let r = run(|| {
        let c = Cond::new(Arc::new(RawMutex::new()));
        c.l.lock();
        c.wait();
    });
    let d = r.deadlock.expect("deadlock expected");
    assert_eq!(d.goroutines.len(), 1);
    assert_eq!(d.goroutines[0].wait_reason, "sync.Cond.Wait");
}

#[test]
fn wait_without_holding_l_is_the_lockers_fatal_error() {
    let r = run(|| {
        let c = Cond::new(Arc::new(RawMutex::new()));
        c.wait();
    });
    let p = r.panic.expect("fatal error expected");
    assert!(p.fatal);
    assert_eq!(p.message, "sync: unlock of unlocked mutex");
}

#[test]
fn producer_consumer_never_loses_a_wakeup() {
    // Classic bounded queue on one mutex and two conds; a lost wake-up (for instance a
    // signal between L.unlock and the park) would deadlock some schedule.
    let r = check(Config::new().seed(31), 300, || {
        let l: Arc<RawMutex> = Arc::new(RawMutex::new());
        let not_empty = Arc::new(Cond::new(l.clone()));
        let not_full = Arc::new(Cond::new(l.clone()));
        let q = Arc::new(StdMutex::new(VecDeque::new()));
        const ITEMS: u32 = 8;
        const CAP: usize = 2;
        {
            let (l, not_empty, not_full, q) =
                (l.clone(), not_empty.clone(), not_full.clone(), q.clone());
            go(move || {
                for i in 0..ITEMS {
                    l.lock();
                    while q.lock().unwrap().len() == CAP {
                        not_full.wait();
                    }
                    q.lock().unwrap().push_back(i);
                    not_empty.signal();
                    l.unlock();
                }
            });
        }
        let mut got = Vec::new();
        for _ in 0..ITEMS {
            l.lock();
            while q.lock().unwrap().is_empty() {
                not_empty.wait();
            }
            got.push(q.lock().unwrap().pop_front().unwrap());
            not_full.signal();
            l.unlock();
        }
        assert_eq!(got, (0..ITEMS).collect::<Vec<_>>());
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn cond_locker_getter_is_l() {
    let m = Arc::new(RawMutex::new());
    let c = Cond::new(m.clone());
    c.locker().lock();
    assert!(m.is_locked());
    Locker::unlock(&**c.locker());
    assert!(!m.is_locked());
}
