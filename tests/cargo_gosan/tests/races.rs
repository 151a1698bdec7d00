//! Racy cases (`racy_*`: `cargo gosan test` exits 66 with both stacks) and their
//! race-free twins (`twin_*`: exit 0, no report). Plain memory only: the detector
//! sees it through compiler instrumentation.

use cargo_gosan_example::{bump_counter, counter, store_slot, SendPtr};
use gosan::sync::{Mutex, WaitGroup};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Two goroutines bump a `static mut` with nothing ordering them.
#[gosan::test]
fn racy_static_mut() {
    let done = gosan::chan::<()>(0);
    for _ in 0..2 {
        let d = done.clone();
        gosan::go(move || {
            bump_counter(0);
            d.send(());
        });
    }
    done.recv();
    done.recv();
}

/// Two goroutines write one `Vec` element through a raw pointer.
#[gosan::test]
fn racy_vec_raw_pointer() {
    let mut v = vec![0u64; 4];
    let p = SendPtr(v.as_mut_ptr());
    let wg = WaitGroup::new();
    wg.add(2);
    for i in 0..2 {
        let w = wg.clone();
        gosan::go(move || {
            store_slot(p, 1, i);
            w.done();
        });
    }
    wg.wait();
    assert!(v[1] < 2);
}

/// A plain `#[test]` calling `gosan::run`: the test passes (it expects the race),
/// and `cargo gosan` still exits 66 because a gosan run found one.
#[test]
fn racy_in_plain_run() {
    let report = gosan::run(|| {
        let done = gosan::chan::<()>(1);
        let d = done.clone();
        gosan::go(move || {
            bump_counter(1);
            d.send(());
        });
        bump_counter(1);
        done.recv();
    });
    // `COUNTERS[1] += 1` is a read and a write: one report each.
    assert!(!report.races.is_empty(), "{report}");
}

/// The counter, ordered by a channel: the send happens before the receive completes.
#[gosan::test]
fn twin_static_mut_chan() {
    let done = gosan::chan::<()>(0);
    let d = done.clone();
    gosan::go(move || {
        bump_counter(2);
        d.send(());
    });
    done.recv();
    bump_counter(2);
    assert!(counter(2) >= 2);
}

/// The counter under a gosan `Mutex`.
#[gosan::test]
fn twin_static_mut_mutex() {
    let m = Arc::new(Mutex::new(()));
    let wg = WaitGroup::new();
    for _ in 0..3 {
        wg.add(1);
        let (m, w) = (m.clone(), wg.clone());
        gosan::go(move || {
            let _g = m.lock();
            bump_counter(3);
            drop(_g);
            w.done();
        });
    }
    wg.wait();
    let _g = m.lock();
    assert!(counter(3) >= 3); // under the lock every writer held
}

/// Distinct `Vec` elements through raw pointers, then a `WaitGroup` before the
/// owner reads them all.
#[gosan::test]
fn twin_vec_waitgroup() {
    let mut v = vec![0u64; 4];
    let p = SendPtr(v.as_mut_ptr());
    let wg = WaitGroup::new();
    for i in 0..4 {
        wg.add(1);
        let w = wg.clone();
        gosan::go(move || {
            store_slot(p, i, i as u64 + 1);
            w.done();
        });
    }
    wg.wait();
    assert_eq!(v, [1, 2, 3, 4]);
    v.push(5);
}

/// Data published with a std `AtomicBool` (Release store, Acquire load): the
/// compiler-instrumented atomics carry the happens-before edge.
#[gosan::test]
fn twin_atomic_flag() {
    let ready = Arc::new(AtomicBool::new(false));
    let r = ready.clone();
    gosan::go(move || {
        bump_counter(4);
        r.store(true, Ordering::Release);
    });
    while !ready.load(Ordering::Acquire) {
        gosan::gosched();
    }
    bump_counter(4);
}

/// Values behind an `Arc` read by goroutines, dropped by whichever is last: `Arc`'s
/// `fetch_sub(Release)` + `fence(Acquire)` orders the drop's writes after every
/// other owner's reads.
#[gosan::test]
fn twin_arc_drop() {
    struct Tally(Vec<u64>);
    impl Drop for Tally {
        fn drop(&mut self) {
            self.0[0] = 0; // a write, after every reader's last use
        }
    }
    let t = Arc::new(Tally(vec![7; 8]));
    let wg = WaitGroup::new();
    for _ in 0..3 {
        wg.add(1);
        let (t, w) = (t.clone(), wg.clone());
        gosan::go(move || {
            assert_eq!(t.0[0], 7);
            drop(t);
            w.done();
        });
    }
    drop(t);
    wg.wait();
}

/// Heap blocks freed by one goroutine and reused by another's allocation start
/// with no history (the `free` interposer).
#[gosan::test]
fn twin_heap_reuse() {
    let wg = WaitGroup::new();
    for i in 0..8u64 {
        wg.add(1);
        let w = wg.clone();
        gosan::go(move || {
            let mut b = vec![i; 16];
            b[3] += 1;
            drop(b);
            w.done();
        });
    }
    wg.wait();
}

/// `select!` (expanded inside this function), a timer and a context: the counter is
/// ordered by the channel, and gosan's own code in the expansion is not mistaken for
/// this test's.
#[gosan::test]
fn twin_select_timer_context() {
    let (ctx, cancel) = gosan::context::with_cancel(&gosan::context::background());
    let c = gosan::chan::<u64>(1);
    let tx = c.clone();
    gosan::go(move || {
        bump_counter(5);
        tx.send(1);
    });
    let mut got = 0;
    loop {
        gosan::select! {
            recv(c) -> v => {
                got += v.unwrap();
                bump_counter(5);
                cancel.cancel();
            }
            recv(ctx.done()) -> _ => break,
            recv(gosan::time::after(std::time::Duration::from_secs(1))) -> _ => panic!("timeout"),
        }
    }
    assert_eq!(got, 1);
}
