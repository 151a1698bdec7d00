//! Memory lifecycle: an object whose address the detector watches forgets its history
//! when its memory is freed, so a new object at the same address starts clean — and a
//! race on the new object is still found (issue 7, "Memory lifecycle").
//!
//! Each test runs two goroutines that never synchronize with each other: one frees
//! objects, the other allocates at the freed addresses (the allocator hands a freed
//! block of the same size straight back). Without the reset, the second goroutine's
//! first access is reported as racing with the first goroutine's last one.

// Race-detector tests: they need the detector compiled in (the default `race` feature).
#![cfg(feature = "race")]

use gosan::sync::atomic::{AtomicU64, Ordering};
use gosan::sync::{Mutex, WaitGroup};
use gosan::{chan, go, gosched, run, Chan, RaceCell, Report, Shared};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as StdOrdering};
use std::sync::Arc;

const ROUNDS: usize = if cfg!(miri) { 4 } else { 40 };

fn clean(r: Report) {
    assert!(r.is_clean(), "expected no finding:\n{r}");
}

/// A `Shared` of `K` words whose value covers `addr`, if one of that size lands there.
fn shared_over<const K: usize>(addr: usize) -> bool {
    let s = Shared::new([0u64; K]);
    let lo = s.addr() as usize;
    let hit = (lo..lo + 8 * K).contains(&addr);
    if hit {
        s.set([1; K]);
    }
    hit
}

/// Allocates `Shared`s of growing sizes until one lands on `addr` (the freed block):
/// whether one did.
fn reuse(addr: usize) -> bool {
    shared_over::<1>(addr)
        || shared_over::<2>(addr)
        || shared_over::<3>(addr)
        || shared_over::<4>(addr)
        || shared_over::<5>(addr)
        || shared_over::<6>(addr)
        || shared_over::<7>(addr)
        || shared_over::<8>(addr)
        || shared_over::<9>(addr)
        || shared_over::<10>(addr)
        || shared_over::<11>(addr)
        || shared_over::<12>(addr)
        || shared_over::<13>(addr)
        || shared_over::<14>(addr)
        || shared_over::<15>(addr)
        || shared_over::<16>(addr)
        || shared_over::<17>(addr)
        || shared_over::<18>(addr)
        || shared_over::<19>(addr)
        || shared_over::<20>(addr)
        || shared_over::<21>(addr)
        || shared_over::<22>(addr)
        || shared_over::<23>(addr)
        || shared_over::<24>(addr)
        || shared_over::<25>(addr)
        || shared_over::<26>(addr)
        || shared_over::<27>(addr)
        || shared_over::<28>(addr)
        || shared_over::<29>(addr)
        || shared_over::<30>(addr)
        || shared_over::<31>(addr)
        || shared_over::<32>(addr)
        || shared_over::<33>(addr)
        || shared_over::<34>(addr)
        || shared_over::<35>(addr)
        || shared_over::<36>(addr)
        || shared_over::<37>(addr)
        || shared_over::<38>(addr)
        || shared_over::<39>(addr)
        || shared_over::<40>(addr)
        || shared_over::<44>(addr)
        || shared_over::<48>(addr)
        || shared_over::<52>(addr)
        || shared_over::<56>(addr)
        || shared_over::<60>(addr)
        || shared_over::<64>(addr)
        || shared_over::<72>(addr)
        || shared_over::<80>(addr)
        || shared_over::<88>(addr)
        || shared_over::<96>(addr)
        || shared_over::<112>(addr)
        || shared_over::<128>(addr)
}

/// Runs `free_one` (which returns the address it freed) and `reuse_one` (which
/// allocates and uses objects, saying whether one landed on the address) alternately
/// in two unordered goroutines; returns how many rounds reused the freed address.
fn alternate(
    free_one: impl Fn() -> usize + Send + 'static,
    reuse_one: impl Fn(usize) -> bool + Send + 'static,
) -> (Report, usize) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let r = run(move || {
        let turn = Arc::new(AtomicUsize::new(0));
        let wg = WaitGroup::new();
        wg.add(2);
        {
            let (turn1, wg1) = (turn.clone(), wg.clone());
            let addrs = Arc::new(std::sync::Mutex::new(Vec::with_capacity(ROUNDS)));
            let a2 = addrs.clone();
            go(move || {
                for i in 0..ROUNDS {
                    while turn1.load(StdOrdering::SeqCst) != 2 * i {
                        gosched();
                    }
                    a2.lock().unwrap().push(free_one());
                    turn1.store(2 * i + 1, StdOrdering::SeqCst);
                }
                wg1.done();
            });
            let wg2 = wg.clone();
            let turn2 = turn.clone();
            go(move || {
                for i in 0..ROUNDS {
                    while turn2.load(StdOrdering::SeqCst) != 2 * i + 1 {
                        gosched();
                    }
                    let addr = addrs.lock().unwrap()[i];
                    if reuse_one(addr) {
                        h.fetch_add(1, StdOrdering::SeqCst);
                    }
                    turn2.store(2 * i + 2, StdOrdering::SeqCst);
                }
                wg2.done();
            });
        }
        wg.wait();
    });
    let n = hits.load(StdOrdering::SeqCst);
    (r, n)
}

#[test]
fn channel_freed_and_reallocated_is_clean() {
    let (r, hits) = alternate(
        || {
            let c: Chan<u64> = chan(1);
            c.send(1);
            c.recv();
            c.close();
            let addr = format!("{c:?}");
            let addr = usize::from_str_radix(&addr[7..addr.find(',').unwrap()], 16).unwrap();
            drop(c);
            addr
        },
        |addr| {
            // The same type lands on the freed block first; then a `Shared`, maybe.
            let c: Chan<u64> = chan(1);
            let hit = format!("{c:?}").contains(&format!("{addr:x}"));
            c.send(2);
            c.close();
            drop(c);
            hit | reuse(addr)
        },
    );
    assert!(hits > 0, "the allocator never reused a channel's block");
    clean(r);
}

#[test]
fn shared_freed_and_reallocated_is_clean() {
    let (r, hits) = alternate(
        || {
            let s = Shared::new([7u64; 4]);
            s.set([8; 4]);
            s.addr() as usize
        },
        reuse,
    );
    assert!(hits > 0, "the allocator never reused a Shared's block");
    clean(r);
}

#[test]
fn mutex_freed_and_reallocated_is_clean() {
    let (r, hits) = alternate(
        || {
            let m = Box::new(Mutex::new(3u64));
            *m.lock() += 1;
            let addr = &*m as *const Mutex<u64> as usize;
            drop(m);
            addr
        },
        |addr| {
            let m = Box::new(Mutex::new(4u64));
            *m.lock() += 1;
            let hit = &*m as *const Mutex<u64> as usize == addr;
            drop(m);
            hit | reuse(addr)
        },
    );
    assert!(hits > 0, "the allocator never reused a Mutex's block");
    clean(r);
}

#[test]
fn atomic_freed_and_reallocated_is_clean() {
    let (r, hits) = alternate(
        || {
            let a = Box::new(AtomicU64::new(0));
            a.store(5, Ordering::Release);
            gosan::race::write(&*a as *const AtomicU64 as *const u64);
            let addr = &*a as *const AtomicU64 as usize;
            drop(a);
            addr
        },
        |addr| {
            let a = Box::new(AtomicU64::new(1));
            let hit = &*a as *const AtomicU64 as usize == addr;
            a.load(Ordering::Acquire);
            gosan::race::read(&*a as *const AtomicU64 as *const u64);
            a.store(2, Ordering::Relaxed);
            hit
        },
    );
    assert!(hits > 0, "the allocator never reused an atomic's block");
    clean(r);
}

/// After the reset, the new object's own races are still found: a Shared at a
/// channel's freed address, written by two unordered goroutines.
#[test]
fn race_on_reallocated_object_is_still_found() {
    let r = run(|| {
        for _ in 0..ROUNDS {
            let c: Chan<u64> = chan(0);
            c.close();
            drop(c);
            let s = Shared::new(0u64);
            let wg = WaitGroup::new();
            wg.add(1);
            let (s2, wg2) = (s.clone(), wg.clone());
            go(move || {
                s2.set(1);
                wg2.done();
            });
            s.set(2);
            wg.wait();
        }
    });
    assert!(!r.races.is_empty(), "expected a data race, got:\n{r}");
}

/// A pooled stack handed to a new goroutine starts with clean shadow: goroutines that
/// never synchronize annotate their own locals, one after another on the same stack.
#[test]
fn pooled_stack_starts_clean() {
    let r = run(|| {
        for _ in 0..ROUNDS {
            let done = Arc::new(AtomicBool::new(false));
            let d = done.clone();
            go(move || {
                let local = [0u64; 4];
                gosan::race::write(&local);
                gosan::race::read(&local);
                d.store(true, StdOrdering::SeqCst);
            });
            while !done.load(StdOrdering::SeqCst) {
                gosched();
            }
            gosched(); // let it return, so its stack goes back to the pool
        }
    });
    clean(r);
}

/// A `RaceCell` moved by `Vec` growth leaves no history at its old address: a plain
/// allocation there later, annotated by an unordered goroutine, is clean.
#[test]
fn race_cell_moved_by_vec_growth_leaves_no_history() {
    let (r, hits) = alternate(
        || {
            let mut v = Vec::with_capacity(1);
            v.push(RaceCell::new([1u64; 9]));
            v[0].with_mut(|p| {
                // SAFETY: inside `with_mut`, `p` is the cell's value, exclusively.
                unsafe { (*p)[0] += 1 }
            });
            let old = &v[0] as *const RaceCell<[u64; 9]> as usize;
            let fill = Box::new(0u8); // so growth cannot extend in place
            v.push(RaceCell::new([2u64; 9])); // grows: the first cell moves
            let moved = &v[0] as *const RaceCell<[u64; 9]> as usize != old;
            v[0].with(|_| ());
            drop(fill);
            if moved {
                v[0].with(|p| p as usize)
                    .wrapping_sub(&v[0] as *const RaceCell<[u64; 9]> as usize)
                    .wrapping_add(old)
            } else {
                0
            }
        },
        |addr| {
            let mut keep = Vec::with_capacity(32); // alive until all are placed
            (1..=32usize).any(|k| {
                let b: Vec<u64> = Vec::with_capacity(k); // malloc (calloc skips the cache)
                gosan::race::write_range(b.as_ptr().cast(), 8 * k);
                let hit = (b.as_ptr() as usize..b.as_ptr() as usize + 8 * k).contains(&addr);
                keep.push(b);
                hit
            })
        },
    );
    assert!(
        hits > 0,
        "Vec growth never moved the cell out of a reused block"
    );
    clean(r);
}

/// The current access of a race report always has its stack.
#[test]
fn current_access_of_a_report_has_its_stack() {
    let r = run(|| {
        let s = Shared::new(0u64);
        let wg = WaitGroup::new();
        wg.add(1);
        let (s2, wg2) = (s.clone(), wg.clone());
        go(move || {
            s2.set(1);
            wg2.done();
        });
        s.set(2);
        wg.wait();
    });
    assert!(!r.races.is_empty(), "expected a data race, got:\n{r}");
    let text = r.to_string();
    let cur = text
        .split("Previous")
        .next()
        .expect("a report has a current access");
    assert!(
        !cur.contains("failed to restore the stack"),
        "current access without a stack:\n{text}"
    );
    assert!(cur.contains("address_reuse.rs"), "{text}");
}
