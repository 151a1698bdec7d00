//! The race detector and `gosan::sync::atomic`: C11 edges per `Ordering` (DESIGN.md
//! "sync"), as race/no-race pairs. `Relaxed` publishing plain data is a race — a Rust
//! bug class Go cannot have; atomics never race with each other, and race with a
//! plain access of the same address.

// Race-detector tests: they need the detector compiled in (the default `race` feature).
#![cfg(feature = "race")]

use gosan::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use gosan::{check, go, gosched, Config, Report, Shared};
use std::sync::Arc;

const ITERS: usize = 300;

fn clean(r: Report) {
    assert!(r.is_clean(), "{r}");
}

fn racy(r: Report) {
    assert!(!r.races.is_empty(), "expected a data race:\n{r}");
}

/// A writes `data` then raises `flag` with `store`; B spins on `flag` with `load`,
/// then reads `data`.
fn publish(store: Ordering, load: Ordering) -> Report {
    check(Config::new(), ITERS, move || {
        let data = Shared::new(0i64);
        let flag = Arc::new(AtomicBool::new(false));
        {
            let (data, flag) = (data.clone(), flag.clone());
            go(move || {
                data.set(42);
                flag.store(true, store);
            });
        }
        go(move || {
            while !flag.load(load) {
                gosched();
            }
            assert_eq!(data.get(), 42);
        });
    })
}

#[test]
fn release_store_acquire_load_publishes() {
    clean(publish(Ordering::Release, Ordering::Acquire));
}

#[test]
fn seqcst_store_and_load_publish() {
    clean(publish(Ordering::SeqCst, Ordering::SeqCst));
}

#[test]
fn relaxed_flag_does_not_publish() {
    racy(publish(Ordering::Relaxed, Ordering::Relaxed));
}

#[test]
fn release_store_with_relaxed_load_does_not_publish() {
    racy(publish(Ordering::Release, Ordering::Relaxed));
}

#[test]
fn relaxed_store_with_acquire_load_does_not_publish() {
    racy(publish(Ordering::Relaxed, Ordering::Acquire));
}

/// N goroutines each write their own slot then bump `count` with `rmw`; main spins
/// on `count` with `load` until all are in, then reads every slot.
fn rmw_chain(rmw: Ordering, load: Ordering) -> Report {
    check(Config::new(), ITERS, move || {
        const N: usize = 3;
        let slots: Vec<Shared<usize>> = (0..N).map(|_| Shared::new(0)).collect();
        let count = Arc::new(AtomicUsize::new(0));
        for (i, s) in slots.iter().enumerate() {
            let (s, count) = (s.clone(), count.clone());
            go(move || {
                s.set(i + 1);
                count.fetch_add(1, rmw);
            });
        }
        while count.load(load) != N {
            gosched();
        }
        for (i, s) in slots.iter().enumerate() {
            assert_eq!(s.get(), i + 1);
        }
    })
}

#[test]
fn seqcst_rmw_chain_orders_every_link() {
    clean(rmw_chain(Ordering::SeqCst, Ordering::SeqCst));
}

#[test]
fn release_rmws_merge_into_the_release_sequence() {
    // Release-only RMWs acquire nothing: only a release *merge* keeps every earlier
    // link in the clock the final Acquire load sees.
    clean(rmw_chain(Ordering::Release, Ordering::Acquire));
}

#[test]
fn relaxed_rmw_chain_does_not_publish() {
    racy(rmw_chain(Ordering::Relaxed, Ordering::Acquire));
}

#[test]
fn relaxed_rmw_continues_a_release_sequence() {
    // A: data, then a Release store; B: a Relaxed RMW on top of it; C: an Acquire
    // load reading B's value synchronizes with A (C11 release sequence).
    clean(check(Config::new(), ITERS, || {
        let data = Shared::new(0i64);
        let a = Arc::new(AtomicU32::new(0));
        {
            let (data, a) = (data.clone(), a.clone());
            go(move || {
                data.set(1);
                a.store(1, Ordering::Release);
            });
        }
        {
            let a = a.clone();
            go(move || {
                while a.load(Ordering::Relaxed) != 1 {
                    gosched();
                }
                a.fetch_add(1, Ordering::Relaxed);
            });
        }
        go(move || {
            while a.load(Ordering::Acquire) != 2 {
                gosched();
            }
            assert_eq!(data.get(), 1);
        });
    }));
}

/// A publishes through a Release store of 1; B waits with a CAS 5 → 6 that keeps
/// failing (it reads 1) with `failure` ordering, then reads data.
fn failed_cas(failure: Ordering) -> Report {
    check(Config::new(), ITERS, move || {
        let data = Shared::new(0i64);
        let flag = Arc::new(AtomicU64::new(0));
        {
            let (data, flag) = (data.clone(), flag.clone());
            go(move || {
                data.set(1);
                flag.store(1, Ordering::Release);
            });
        }
        go(move || {
            loop {
                match flag.compare_exchange(5, 6, Ordering::AcqRel, failure) {
                    Err(1) => break,
                    Err(_) => gosched(),
                    Ok(_) => unreachable!(),
                }
            }
            assert_eq!(data.get(), 1);
        });
    })
}

#[test]
fn failed_cas_acquires_with_its_failure_ordering() {
    clean(failed_cas(Ordering::Acquire));
}

#[test]
fn failed_relaxed_cas_does_not_acquire() {
    racy(failed_cas(Ordering::Relaxed));
}

#[test]
fn successful_cas_is_an_rmw() {
    // A spin lock built on CAS(Acquire) / store(Release) protects plain data.
    clean(check(Config::new(), ITERS, || {
        let data = Shared::new(0i64);
        let lock = Arc::new(AtomicBool::new(false));
        for _ in 0..2 {
            let (data, lock) = (data.clone(), lock.clone());
            go(move || {
                while lock
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {}
                data.update(|v| *v += 1);
                lock.store(false, Ordering::Release);
            });
        }
    }));
}

#[test]
fn spin_lock_with_relaxed_unlock_races() {
    racy(check(Config::new(), ITERS, || {
        let data = Shared::new(0i64);
        let lock = Arc::new(AtomicBool::new(false));
        for _ in 0..2 {
            let (data, lock) = (data.clone(), lock.clone());
            go(move || {
                while lock
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {}
                data.update(|v| *v += 1);
                lock.store(false, Ordering::Relaxed);
            });
        }
    }));
}

#[test]
fn fetch_update_acquires_and_releases() {
    clean(check(Config::new(), ITERS, || {
        let data = Shared::new(0i64);
        let n = Arc::new(AtomicU64::new(0));
        for _ in 0..2 {
            let (data, n) = (data.clone(), n.clone());
            go(move || {
                // Take the turn: 0 → 1 for the first, 2 → 3 for the second.
                loop {
                    let r = n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                        (v % 2 == 0).then_some(v + 1)
                    });
                    if r.is_ok() {
                        break;
                    }
                    gosched();
                }
                data.update(|v| *v += 1);
                n.fetch_add(1, Ordering::Release);
            });
        }
    }));
}

#[test]
fn atomics_never_race_with_each_other() {
    clean(check(Config::new(), ITERS, || {
        let a = Arc::new(AtomicU64::new(0));
        for i in 0..3u64 {
            let a = a.clone();
            go(move || {
                a.store(i, Ordering::Relaxed);
                let _ = a.load(Ordering::Relaxed);
                a.fetch_add(1, Ordering::Relaxed);
                let _ = a.swap(7, Ordering::Relaxed);
                let _ = a.compare_exchange(7, 8, Ordering::Relaxed, Ordering::Relaxed);
            });
        }
    }));
}

#[test]
fn plain_write_races_with_an_atomic_access() {
    racy(check(Config::new(), ITERS, || {
        let a = Arc::new(AtomicU64::new(0));
        {
            let a = a.clone();
            go(move || gosan::race::write(&*a as *const AtomicU64));
        }
        go(move || {
            let _ = a.load(Ordering::SeqCst);
        });
    }));
}

#[test]
fn plain_read_races_with_an_atomic_store() {
    racy(check(Config::new(), ITERS, || {
        let a = Arc::new(AtomicU64::new(0));
        {
            let a = a.clone();
            go(move || gosan::race::read(&*a as *const AtomicU64));
        }
        go(move || a.store(1, Ordering::SeqCst));
    }));
}

#[test]
fn plain_reads_after_the_atomics_are_done_are_ordered() {
    // Plain accesses of an atomic's address ordered by a join are fine.
    clean(check(Config::new(), ITERS, || {
        let a = Arc::new(AtomicU64::new(0));
        let wg = gosan::sync::WaitGroup::new();
        for _ in 0..2 {
            let (a, wg) = (a.clone(), wg.clone());
            wg.add(1);
            go(move || {
                a.fetch_add(1, Ordering::Relaxed);
                wg.done();
            });
        }
        wg.wait();
        gosan::race::write(&*a as *const AtomicU64);
    }));
}

#[test]
fn freed_atomic_leaves_no_history() {
    // Goroutines drop their own atomics; a later allocation at a reused address (same
    // size class: Arc<AtomicU64> and Shared<u64>) by an unordered goroutine must not
    // race with the dead atomic's accesses.
    clean(check(Config::new(), 100, || {
        for _ in 0..4 {
            go(|| {
                let a = Arc::new(AtomicU64::new(0));
                a.fetch_add(1, Ordering::Relaxed);
                drop(a);
                gosched();
                let s = Shared::new(0u64);
                s.set(1);
            });
        }
    }));
}
