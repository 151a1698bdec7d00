//! Non-blocking bugs: data races and misuse panics.

use crate::Class;
use gosan::sync::{Mutex, WaitGroup};
use gosan::{chan, go, Chan, Shared};
use std::sync::Arc;

/// `wg.add(1)` inside the goroutine: `wait` may run before any `add`, so it returns
/// at once and main reads the result the workers still write.
pub mod waitgroup_add_inside_goroutine {
    use super::*;
    fn run(fixed: bool) {
        let wg = WaitGroup::new();
        let total = Shared::new(0i64);
        let lock = Arc::new(Mutex::new(()));
        for _ in 0..2 {
            let (wg, total, lock) = (wg.clone(), total.clone(), lock.clone());
            if fixed {
                wg.add(1);
            }
            go(move || {
                if !fixed {
                    wg.add(1);
                }
                {
                    let _g = lock.lock();
                    total.update(|t| *t += 1);
                }
                wg.done();
            });
        }
        wg.wait();
        let _ = total.get();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: `add` before `go`.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::Race);
}

/// A counter shared without a lock (the plainest Go race).
pub mod unlocked_counter {
    use super::*;
    fn run(fixed: bool) {
        let n = Shared::new(0);
        let m = Arc::new(Mutex::new(()));
        let done: Chan<()> = chan(0);
        for _ in 0..2 {
            let (n, m, d) = (n.clone(), m.clone(), done.clone());
            go(move || {
                if fixed {
                    let _g = m.lock();
                    n.update(|v| *v += 1);
                } else {
                    n.update(|v| *v += 1);
                }
                d.send(());
            });
        }
        done.recv();
        done.recv();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: the increment under a mutex.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::Race);
}

/// Check-then-act on a cache: the check and the fill are two critical sections, so
/// two goroutines both see "missing" and both write the slot.
pub mod check_then_act {
    use super::*;
    fn run(fixed: bool) {
        let filled = Arc::new(Mutex::new(false));
        let slot = Shared::new(0);
        let wg = WaitGroup::new();
        for v in [1, 2] {
            let (filled, slot, wg) = (filled.clone(), slot.clone(), wg.clone());
            wg.add(1);
            go(move || {
                if fixed {
                    let mut f = filled.lock();
                    if !*f {
                        slot.set(v);
                        *f = true;
                    }
                } else {
                    let missing = !*filled.lock();
                    if missing {
                        slot.set(v); // outside the lock
                        *filled.lock() = true;
                    }
                }
                wg.done();
            });
        }
        wg.wait();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: check and fill in one critical section.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::Race);
}

/// Closing a channel from two places (two workers both "finish" the stream).
pub mod double_close {
    use super::*;
    fn run(fixed: bool) {
        let c: Chan<i32> = chan(1);
        let once = Arc::new(gosan::sync::Once::new());
        let wg = WaitGroup::new();
        for _ in 0..2 {
            let (c, once, wg) = (c.clone(), once.clone(), wg.clone());
            wg.add(1);
            go(move || {
                if fixed {
                    once.call_once(|| c.close());
                } else {
                    c.close();
                }
                wg.done();
            });
        }
        wg.wait();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: close exactly once (`Once`).
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::Race);
}

/// WaitGroup reused before the previous `wait` returned: a new round's `add` while
/// a waiter of the previous round has not left yet (Go's misuse: a race on the group,
/// or the panic `sync: WaitGroup is reused before previous Wait has returned`).
pub mod waitgroup_reuse {
    use super::*;
    fn run(fixed: bool) {
        let wg = WaitGroup::new();
        let left: Chan<()> = chan(0);
        wg.add(1);
        let (w2, l2) = (wg.clone(), left.clone());
        go(move || {
            w2.wait();
            l2.send(());
        });
        let w3 = wg.clone();
        go(move || w3.done());
        if fixed {
            left.recv(); // the waiter left: the group may be reused
        }
        wg.add(1); // the next round
        wg.done();
        if !fixed {
            left.recv();
        }
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: reuse only after every waiter returned.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::Race);
}
