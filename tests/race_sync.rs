//! The race detector through Go's `sync` package: each happens-before edge of
//! DESIGN.md ("Behaviour that must match Go") as a pair — the program that relies on
//! the edge is clean under every explored schedule, its twin without the edge races.
//!
//! Spin-waits that must create no edge use std atomics, which the detector does not
//! see (a hidden side channel), with `gosched()` so that the other goroutine runs.

// Race-detector tests: they need the detector compiled in (the default `race` feature).
#![cfg(feature = "race")]

use gosan::sync::{Cond, Locker, Mutex, Once, RawMutex, RawRwMutex, RwMutex, WaitGroup};
use gosan::{check, go, gosched, Config, Report, Shared};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

const ITERS: usize = 300;

fn clean(r: Report) {
    assert!(r.is_clean(), "{r}");
}

fn racy(r: Report) {
    assert!(!r.races.is_empty(), "expected a data race:\n{r}");
}

/// A hidden flag: setting and polling it creates no happens-before edge.
#[derive(Clone, Default)]
struct Hidden(Arc<AtomicBool>);

impl Hidden {
    fn set(&self) {
        self.0.store(true, SeqCst);
    }
    fn wait(&self) {
        while !self.0.load(SeqCst) {
            gosched();
        }
    }
}

// ── Mutex ────────────────────────────────────────────────────────────────────────

#[test]
fn mutex_unlock_happens_before_next_lock() {
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(Mutex::new(()));
        for _ in 0..2 {
            let (x, m) = (x.clone(), m.clone());
            go(move || {
                let _g = m.lock();
                x.update(|v| *v += 1);
            });
        }
    }));
}

#[test]
fn mutex_access_outside_the_lock_races() {
    racy(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(Mutex::new(()));
        {
            let (x, m) = (x.clone(), m.clone());
            go(move || {
                let _g = m.lock();
                x.update(|v| *v += 1);
            });
        }
        go(move || x.update(|v| *v += 1));
    }));
}

#[test]
fn raw_mutex_hand_off_to_a_waiter_carries_the_edge() {
    // The second goroutine parks in lock() while the first holds it (forced through
    // hidden flags), so the edge travels through the hand-off to a waiter.
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(RawMutex::new());
        let locked = Hidden::default();
        {
            let (x, m, locked) = (x.clone(), m.clone(), locked.clone());
            go(move || {
                m.lock();
                locked.set();
                for _ in 0..3 {
                    gosched(); // let the other goroutine queue up
                }
                x.set(1);
                m.unlock();
            });
        }
        go(move || {
            locked.wait();
            m.lock();
            assert_eq!(x.get(), 1);
            m.unlock();
        });
    }));
}

#[test]
fn failed_try_lock_creates_no_edge() {
    // A writes x and unlocks, then locks again and holds m. B's try_lock fails
    // (forced), so B has no edge from A's unlock: its read of x races with A's write.
    // (If a failed try_lock acquired the mutex's clock, B would see A's unlock.)
    racy(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(RawMutex::new());
        let (held, done) = (Hidden::default(), Hidden::default());
        {
            let (x, m, held, done) = (x.clone(), m.clone(), held.clone(), done.clone());
            go(move || {
                m.lock();
                x.set(1);
                m.unlock();
                m.lock();
                held.set();
                done.wait();
                m.unlock();
            });
        }
        go(move || {
            held.wait();
            assert!(!m.try_lock());
            let _ = x.get();
            done.set();
        });
    }));
}

#[test]
fn successful_try_lock_acquires() {
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(Mutex::new(()));
        for _ in 0..2 {
            let (x, m) = (x.clone(), m.clone());
            go(move || loop {
                if let Some(_g) = m.try_lock() {
                    x.update(|v| *v += 1);
                    break;
                }
            });
        }
    }));
}

#[test]
fn book_example_fixed_with_a_mutex_is_clean() {
    // The seed book's `num += a` race (examples/race_demo.rs), fixed with sync.Mutex.
    clean(check(Config::new(), ITERS, || {
        let num = Shared::new(0i64);
        let mu = Arc::new(Mutex::new(()));
        let wg = WaitGroup::new();
        wg.add(2);
        for a in [1i64, -1] {
            let (num, mu, wg) = (num.clone(), mu.clone(), wg.clone());
            go(move || {
                {
                    let _g = mu.lock();
                    num.update(|n| *n += a);
                }
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(num.get(), 0);
    }));
}

#[test]
fn book_example_races() {
    racy(check(Config::new(), ITERS, || {
        let num = Shared::new(0i64);
        let wg = WaitGroup::new();
        wg.add(2);
        for a in [1i64, -1] {
            let (num, wg) = (num.clone(), wg.clone());
            go(move || {
                num.update(|n| *n += a);
                wg.done();
            });
        }
        wg.wait();
        let _ = num.get();
    }));
}

#[test]
fn book_example_reports_only_the_real_race() {
    // The `num += a` race only: no false race on the read after wg.wait().
    let r = check(Config::new(), ITERS, || {
        let num = Shared::new(0i64);
        let wg = WaitGroup::new();
        wg.add(2);
        for a in [1i64, -1] {
            let (num, wg) = (num.clone(), wg.clone());
            go(move || {
                num.update(|n| *n += a);
                wg.done();
            });
        }
        wg.wait();
        let _ = num.get();
    });
    racy(r.clone());
    for race in &r.races {
        assert!(
            race.current.goroutine != 1 && race.previous.goroutine != 1,
            "main's read after wait() is ordered:\n{r}"
        );
    }
}

// ── RWMutex ──────────────────────────────────────────────────────────────────────

#[test]
fn rwmutex_runlock_and_unlock_order_readers_and_writers() {
    // Reader first: RUnlock → Lock. Writer first: Unlock → RLock.
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(RwMutex::new(()));
        for _ in 0..2 {
            let (x, m) = (x.clone(), m.clone());
            go(move || {
                let _g = m.read();
                let _ = x.get();
            });
        }
        let (x2, m2) = (x.clone(), m.clone());
        go(move || {
            let _g = m2.write();
            x2.set(1);
        });
        go(move || {
            let _g = m.write();
            x.set(2);
        });
    }));
}

#[test]
fn rwmutex_two_readers_are_not_ordered() {
    // Writing under a read lock: the two readers race with each other.
    racy(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(RawRwMutex::new());
        for v in 1..=2 {
            let (x, m) = (x.clone(), m.clone());
            go(move || {
                m.rlock();
                x.set(v);
                m.runlock();
            });
        }
    }));
}

#[test]
fn rwmutex_sequential_readers_are_not_ordered() {
    // Even one after the other (hidden flag), a read lock orders nothing after an
    // earlier reader: RUnlock only synchronizes with a later Lock.
    racy(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(RawRwMutex::new());
        let first = Hidden::default();
        {
            let (x, m, first) = (x.clone(), m.clone(), first.clone());
            go(move || {
                m.rlock();
                x.set(1);
                m.runlock();
                first.set();
            });
        }
        go(move || {
            first.wait();
            m.rlock();
            x.set(2);
            m.runlock();
        });
    }));
}

#[test]
fn rwmutex_unlock_happens_before_rlock() {
    // The reader waits (hidden flag) until the writer unlocked: only Unlock → RLock
    // orders the write before the read.
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(RawRwMutex::new());
        let written = Hidden::default();
        {
            let (x, m, written) = (x.clone(), m.clone(), written.clone());
            go(move || {
                m.lock();
                x.set(1);
                m.unlock();
                written.set();
            });
        }
        go(move || {
            written.wait();
            m.rlock();
            assert_eq!(x.get(), 1);
            m.runlock();
        });
    }));
}

#[test]
fn rwmutex_read_without_rlock_races() {
    racy(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(RawRwMutex::new());
        let written = Hidden::default();
        {
            let (x, m, written) = (x.clone(), m.clone(), written.clone());
            go(move || {
                m.lock();
                x.set(1);
                m.unlock();
                written.set();
            });
        }
        go(move || {
            written.wait();
            let _ = x.get();
        });
    }));
}

#[test]
fn rwmutex_runlock_happens_before_lock() {
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(RawRwMutex::new());
        let read = Hidden::default();
        {
            let (x, m, read) = (x.clone(), m.clone(), read.clone());
            go(move || {
                m.rlock();
                let _ = x.get();
                m.runlock();
                read.set();
            });
        }
        go(move || {
            read.wait();
            m.lock();
            x.set(1);
            m.unlock();
        });
    }));
}

#[test]
fn rwmutex_try_variants_acquire_like_the_blocking_ones() {
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let m = Arc::new(RwMutex::new(()));
        {
            let (x, m) = (x.clone(), m.clone());
            go(move || loop {
                if let Some(_g) = m.try_write() {
                    x.set(1);
                    break;
                }
            });
        }
        go(move || loop {
            if let Some(_g) = m.try_read() {
                let _ = x.get();
                break;
            }
        });
    }));
}

// ── WaitGroup ────────────────────────────────────────────────────────────────────

#[test]
fn waitgroup_done_happens_before_wait_returns() {
    clean(check(Config::new(), ITERS, || {
        let xs: Vec<Shared<i64>> = (0..3).map(|_| Shared::new(0)).collect();
        let wg = WaitGroup::new();
        for (i, x) in xs.iter().enumerate() {
            wg.add(1);
            let (x, wg) = (x.clone(), wg.clone());
            go(move || {
                x.set(i as i64 + 1);
                wg.done();
            });
        }
        wg.wait();
        for (i, x) in xs.iter().enumerate() {
            assert_eq!(x.get(), i as i64 + 1);
        }
    }));
}

#[test]
fn waitgroup_read_before_wait_races() {
    racy(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let wg = WaitGroup::new();
        wg.add(1);
        {
            let (x, wg) = (x.clone(), wg.clone());
            go(move || {
                x.set(1);
                wg.done();
            });
        }
        let _ = x.get();
        wg.wait();
    }));
}

#[test]
fn waitgroup_wait_on_zero_counter_acquires() {
    // The goroutine finished (hidden flag) before wait(): wait returns at once, and
    // still orders every done() before it.
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let wg = WaitGroup::new();
        let finished = Hidden::default();
        wg.add(1);
        {
            let (x, wg, finished) = (x.clone(), wg.clone(), finished.clone());
            go(move || {
                x.set(1);
                wg.done();
                finished.set();
            });
        }
        finished.wait();
        wg.wait();
        assert_eq!(x.get(), 1);
    }));
}

#[test]
fn waitgroup_add_from_zero_concurrent_with_wait_races() {
    // Go's misuse: Add inside the goroutine races with Wait (on the WaitGroup itself).
    let r = check(Config::new(), ITERS, || {
        let wg = WaitGroup::new();
        {
            let wg = wg.clone();
            go(move || {
                wg.add(1);
                gosched();
                wg.done();
            });
        }
        gosched();
        wg.wait();
    });
    racy(r.clone());
    assert_eq!(r.races.len(), 1, "{r}");
    assert_eq!(r.races[0].current.size, 8, "{r}");
}

/// A waiter is woken by `done`; main re-`add`s from zero before that waiter's
/// `wait` returned (runtime/tests/sync_waitgroup.rs's reuse case).
fn reuse_before_wait_returned(cfg: Config) -> Report {
    check(cfg, ITERS, || {
        let wg = WaitGroup::new();
        wg.add(1);
        let w2 = wg.clone();
        go(move || w2.wait());
        while !format!("{wg:?}").contains("waiters: 1") {
            gosched();
        }
        wg.done();
        wg.add(1);
        gosched();
        wg.done();
    })
}

#[test]
fn waitgroup_reuse_before_wait_returned_is_a_race() {
    // Go's misuse: the waiter's Wait (a write of the group) and main's Add from zero
    // (a read) are unordered.
    racy(reuse_before_wait_returned(Config::new().seed(6)));
}

#[test]
fn waitgroup_reuse_panic_shows_without_the_detector() {
    let r = reuse_before_wait_returned(Config::new().seed(6).detect_races(false));
    let p = r.panic.expect("some schedule shows the reuse");
    assert_eq!(
        p.message,
        "sync: WaitGroup is reused before previous Wait has returned"
    );
}

#[test]
fn waitgroup_add_before_go_is_clean() {
    clean(check(Config::new(), ITERS, || {
        let wg = WaitGroup::new();
        for _ in 0..2 {
            wg.add(1);
            let wg = wg.clone();
            go(move || wg.done());
        }
        wg.wait();
        // Reuse after wait returned: fine.
        wg.add(1);
        let wg2 = wg.clone();
        go(move || wg2.done());
        wg.wait();
    }));
}

#[test]
fn waitgroup_go_is_clean() {
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let wg = WaitGroup::new();
        let x2 = x.clone();
        wg.go(move || x2.set(7));
        wg.wait();
        assert_eq!(x.get(), 7);
    }));
}

// ── Once ─────────────────────────────────────────────────────────────────────────

#[test]
fn once_f_happens_before_every_call_once_return() {
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let once = Arc::new(Once::new());
        for _ in 0..3 {
            let (x, once) = (x.clone(), once.clone());
            go(move || {
                once.call_once(|| x.set(42));
                assert_eq!(x.get(), 42);
            });
        }
    }));
}

#[test]
fn once_is_completed_true_happens_after_f() {
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let once = Arc::new(Once::new());
        {
            let (x, once) = (x.clone(), once.clone());
            go(move || once.call_once(|| x.set(42)));
        }
        go(move || {
            while !once.is_completed() {
                gosched();
            }
            assert_eq!(x.get(), 42);
        });
    }));
}

#[test]
fn hand_rolled_once_without_sync_races() {
    // The twin without Once: a hidden flag picks who initializes, nothing orders the
    // initialization before the other goroutine's read.
    racy(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let started = Arc::new(AtomicBool::new(false));
        for _ in 0..2 {
            let (x, started) = (x.clone(), started.clone());
            go(move || {
                if !started.swap(true, SeqCst) {
                    x.set(42);
                } else {
                    let _ = x.get();
                }
            });
        }
    }));
}

// ── Cond ─────────────────────────────────────────────────────────────────────────

#[test]
fn cond_predicate_under_the_mutex_is_clean() {
    clean(check(Config::new(), ITERS, || {
        let ready = Shared::new(false);
        let data = Shared::new(0i64);
        let m = Arc::new(RawMutex::new());
        let c = Arc::new(Cond::new(m.clone()));
        {
            let (ready, data, m, c) = (ready.clone(), data.clone(), m.clone(), c.clone());
            go(move || {
                m.lock();
                data.set(7);
                ready.set(true);
                c.signal();
                m.unlock();
            });
        }
        m.lock();
        while !ready.get() {
            c.wait();
        }
        assert_eq!(data.get(), 7);
        m.unlock();
    }));
}

#[test]
fn cond_predicate_without_the_lock_races() {
    racy(check(Config::new(), ITERS, || {
        let ready = Shared::new(false);
        let m = Arc::new(RawMutex::new());
        let c = Arc::new(Cond::new(m.clone()));
        {
            let (ready, c) = (ready.clone(), c.clone());
            go(move || {
                ready.set(true); // not under L
                c.broadcast();
            });
        }
        m.lock();
        if !ready.get() {
            // May miss the broadcast (a lost wake-up): give up after a while.
            m.unlock();
            gosan::time::sleep(std::time::Duration::from_millis(1));
            m.lock();
        }
        m.unlock();
    }));
}

#[test]
fn cond_signal_happens_before_the_woken_wait_returns() {
    // L is the read side of an RWMutex, which orders nothing between two readers:
    // only signal → wake-up orders the write before the read.
    clean(check(Config::new(), ITERS, || {
        let data = Shared::new(0i64);
        let rw = Arc::new(RawRwMutex::new());
        let l: Arc<dyn Locker + Send + Sync> = rw.rlocker();
        let c = Arc::new(Cond::new(l.clone()));
        {
            let (data, l, c) = (data.clone(), l.clone(), c.clone());
            go(move || {
                // Wait (no edge: Debug is an observation) until main sits in c.wait().
                while !format!("{c:?}").contains("waiters: 1") {
                    gosched();
                }
                l.lock();
                data.set(7);
                c.signal();
                l.unlock();
            });
        }
        l.lock();
        c.wait();
        assert_eq!(data.get(), 7);
        l.unlock();
    }));
}

#[test]
fn cond_without_signal_edge_races() {
    // The same program where the write comes after the signal: not ordered.
    racy(check(Config::new(), ITERS, || {
        let data = Shared::new(0i64);
        let rw = Arc::new(RawRwMutex::new());
        let l: Arc<dyn Locker + Send + Sync> = rw.rlocker();
        let c = Arc::new(Cond::new(l.clone()));
        {
            let (data, l, c) = (data.clone(), l.clone(), c.clone());
            go(move || {
                while !format!("{c:?}").contains("waiters: 1") {
                    gosched();
                }
                l.lock();
                c.signal();
                data.set(7);
                l.unlock();
            });
        }
        l.lock();
        c.wait();
        let _ = data.get();
        l.unlock();
    }));
}
