//! `sync::atomic`: std's API, every operation a scheduling point (so exploration
//! interleaves them), exact counters, and a failed CAS as a yield (a CAS spin lock
//! terminates under every strategy).

use gosan_runtime::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use gosan_runtime::*;
use std::sync::Arc;

mod common;
use common::within;

fn join(n: usize, done: &Chan<()>) {
    for _ in 0..n {
        done.recv();
    }
}

#[test]
fn fetch_add_counter_is_exact_under_many_schedules() {
    let r = check(Config::new().seed(1), 300, || {
        let a = Arc::new(AtomicU64::new(0));
        let done = chan::<()>(4);
        for _ in 0..4 {
            let (a, done) = (a.clone(), done.clone());
            go(move || {
                for _ in 0..10 {
                    a.fetch_add(1, Ordering::Relaxed);
                }
                done.send(());
            });
        }
        join(4, &done);
        assert_eq!(a.load(Ordering::SeqCst), 40);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn cas_loop_counter_is_exact_under_many_schedules() {
    let r = check(Config::new().seed(2), 300, || {
        let a = Arc::new(AtomicI64::new(0));
        let done = chan::<()>(3);
        for _ in 0..3 {
            let (a, done) = (a.clone(), done.clone());
            go(move || {
                for _ in 0..5 {
                    let mut cur = a.load(Ordering::Relaxed);
                    while let Err(actual) =
                        a.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed)
                    {
                        cur = actual;
                    }
                }
                done.send(());
            });
        }
        join(3, &done);
        assert_eq!(a.load(Ordering::SeqCst), 15);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn load_then_store_loses_updates_so_atomics_are_scheduling_points() {
    // Control: a non-atomic increment built from two atomic operations. Only if the
    // scheduler can switch between the load and the store does exploration find the
    // lost update.
    let r = check(Config::new().seed(3), 300, || {
        let a = Arc::new(AtomicU32::new(0));
        let done = chan::<()>(2);
        for _ in 0..2 {
            let (a, done) = (a.clone(), done.clone());
            go(move || {
                let v = a.load(Ordering::SeqCst);
                a.store(v + 1, Ordering::SeqCst);
                done.send(());
            });
        }
        join(2, &done);
        assert_eq!(a.load(Ordering::SeqCst), 2, "lost update");
    });
    let p = r.panic.expect("exploration must interleave load and store");
    assert!(p.message.contains("lost update"), "{}", p.message);
}

fn cas_spinlock_program() {
    let flag = Arc::new(AtomicBool::new(false));
    let taken = chan::<()>(0);
    let (f2, t2) = (flag.clone(), taken.clone());
    go(move || {
        f2.store(true, Ordering::Release);
        t2.send(());
        for _ in 0..10 {
            gosched();
        }
        f2.store(false, Ordering::Release);
    });
    taken.recv();
    // Spin on a failing CAS until the holder releases: each failure is a yield.
    while flag
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {}
    flag.store(false, Ordering::Release);
}

#[test]
fn failed_cas_spin_terminates_under_every_strategy() {
    for strategy in [
        Strategy::RoundRobin,
        Strategy::Random,
        Strategy::Pct { depth: 1 },
        Strategy::Pct { depth: 3 },
    ] {
        for seed in 0..20 {
            let s = strategy.clone();
            let r = within(60, move || {
                run_with(Config::new().seed(seed).strategy(s), cas_spinlock_program)
            });
            assert!(r.is_clean(), "{strategy:?} seed {seed}: {r}");
        }
    }
}

#[test]
fn std_api_inside_a_run() {
    let r = run(|| {
        let a = AtomicI32::new(5);
        assert_eq!(a.swap(7, Ordering::SeqCst), 5);
        assert_eq!(
            a.compare_exchange(7, 8, Ordering::SeqCst, Ordering::SeqCst),
            Ok(7)
        );
        assert_eq!(
            a.compare_exchange(7, 9, Ordering::SeqCst, Ordering::SeqCst),
            Err(8)
        );
        assert_eq!(a.fetch_sub(10, Ordering::SeqCst), 8);
        assert_eq!(a.load(Ordering::SeqCst), -2);
        assert_eq!(a.fetch_max(3, Ordering::SeqCst), -2);
        assert_eq!(a.fetch_min(1, Ordering::SeqCst), 3);
        assert_eq!(a.fetch_or(0b110, Ordering::SeqCst), 1);
        assert_eq!(a.fetch_and(0b011, Ordering::SeqCst), 0b111);
        assert_eq!(a.fetch_xor(0b001, Ordering::SeqCst), 0b011);
        assert_eq!(a.fetch_nand(0b010, Ordering::SeqCst), 0b010);
        assert_eq!(a.load(Ordering::SeqCst), !0b010);
        assert_eq!(
            a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| Some(v * 2)),
            Ok(!0b010)
        );
        assert_eq!(
            a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |_| None),
            Err(!0b010 * 2)
        );

        let b = AtomicBool::new(true);
        assert!(b.fetch_not(Ordering::SeqCst));
        assert!(!b.fetch_or(true, Ordering::SeqCst));
        assert!(b.fetch_and(false, Ordering::SeqCst));
        assert!(!b.fetch_xor(true, Ordering::SeqCst));
        assert!(b.fetch_nand(true, Ordering::SeqCst));
        assert!(!b.load(Ordering::SeqCst));

        let u = AtomicUsize::new(usize::MAX);
        assert_eq!(u.fetch_add(1, Ordering::SeqCst), usize::MAX); // wraps like std
        assert_eq!(u.load(Ordering::SeqCst), 0);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn constructors_accessors_and_traits_outside_a_run() {
    static S: AtomicU64 = AtomicU64::new(1);
    assert_eq!(S.fetch_add(1, Ordering::SeqCst), 1);
    let mut a = AtomicU32::from(3);
    *a.get_mut() += 1;
    assert_eq!(a.load(Ordering::Relaxed), 4);
    assert_eq!(format!("{a:?}"), "4");
    assert_eq!(a.into_inner(), 4);
    assert_eq!(AtomicI64::default().into_inner(), 0);
    assert!(!AtomicBool::default().into_inner());
    assert_eq!(format!("{:?}", AtomicBool::from(true)), "true");
    let p = AtomicUsize::new(9);
    // SAFETY: `p` is alive and no other access is concurrent.
    assert_eq!(unsafe { *p.as_ptr() }, 9);
}
