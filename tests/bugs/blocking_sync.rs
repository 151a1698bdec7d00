//! Blocking bugs on `sync` primitives: double locks, inverted lock orders, recursive
//! read locks, lost wake-ups, forgotten `done`/`unlock` on an error path.

use crate::Class;
use gosan::sync::{Cond, Locker, Mutex, Once, RawMutex, RwMutex, WaitGroup};
use gosan::time::{after, Duration};
use gosan::{chan, go, select, Chan};
use std::sync::Arc;

/// Double lock through a callback: `update` holds the registry's lock while calling
/// a hook that reads the registry (locking it again). The goroutine is stuck at
/// once while main goes on (a partial deadlock), reported as a wait-for cycle.
pub mod double_lock_through_callback {
    use super::*;
    struct Registry {
        items: Mutex<Vec<i32>>,
    }
    impl Registry {
        fn len(&self) -> usize {
            self.items.lock().len()
        }
        fn update(&self, v: i32, hook: impl Fn(&Registry)) {
            let mut g = self.items.lock();
            g.push(v);
            hook(self); // hook runs under the lock
        }
        fn update_fixed(&self, v: i32, hook: impl Fn(&Registry)) {
            self.items.lock().push(v);
            hook(self); // hook runs after the lock is released
        }
    }
    fn run(fixed: bool) {
        let r = Arc::new(Registry {
            items: Mutex::new(Vec::new()),
        });
        let done: Chan<()> = chan(1);
        let (r2, d2) = (r.clone(), done.clone());
        go(move || {
            let hook = |r: &Registry| assert!(r.len() > 0);
            if fixed {
                r2.update_fixed(1, hook);
            } else {
                r2.update(1, hook);
            }
            d2.send(());
        });
        select! {
            recv(done) -> _ => {},
            recv(after(Duration::from_secs(1))) -> _ => {}, // main moves on
        }
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: call the hook after releasing the lock.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::WaitForCycle);
}

/// AB-BA: two transfers lock the two accounts in argument order. Found as a
/// lock-order inversion even in the schedules that did not deadlock.
pub mod ab_ba_transfer {
    use super::*;
    struct Account {
        id: u32,
        balance: Mutex<i64>,
    }
    fn transfer(from: &Account, to: &Account, n: i64, ordered: bool) {
        let (first, second) = if ordered && from.id > to.id {
            (to, from)
        } else {
            (from, to)
        };
        let mut a = first.balance.lock();
        let mut b = second.balance.lock();
        if std::ptr::eq(first, from) {
            *a -= n;
            *b += n;
        } else {
            *b -= n;
            *a += n;
        }
    }
    fn run(ordered: bool) {
        let x = Arc::new(Account {
            id: 1,
            balance: Mutex::new(10),
        });
        let y = Arc::new(Account {
            id: 2,
            balance: Mutex::new(10),
        });
        let wg = WaitGroup::new();
        for flip in [false, true] {
            let (x, y, wg) = (x.clone(), y.clone(), wg.clone());
            wg.add(1);
            go(move || {
                if flip {
                    transfer(&y, &x, 1, ordered);
                } else {
                    transfer(&x, &y, 1, ordered);
                }
                wg.done();
            });
        }
        wg.wait();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: lock the accounts in id order.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::LockOrder);
}

/// Recursive read lock (RWR): a reader takes the read lock again while a writer
/// queued in between; writer preference blocks the second read for good.
pub mod recursive_read_lock {
    use super::*;
    fn run(fixed: bool) {
        let cfg = Arc::new(RwMutex::new(1));
        let wg = WaitGroup::new();
        let (c2, w2) = (cfg.clone(), wg.clone());
        wg.add(2);
        go(move || {
            *c2.write() += 1;
            w2.done();
        });
        let (c3, w3) = (cfg.clone(), wg.clone());
        go(move || {
            let outer = c3.read();
            gosan::gosched();
            if fixed {
                let v = *outer; // reuse the guard we hold
                assert!(v >= 1);
            } else {
                let inner = c3.read(); // second RLock
                assert_eq!(*inner, *outer);
            }
            drop(outer);
            w3.done();
        });
        wg.wait();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: read through the guard already held.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::WaitForCycle);
}

/// Inverted order across an `RwMutex` and a `Mutex` (a cache and its index): found
/// as a lock-order inversion.
pub mod rwmutex_mutex_inversion {
    use super::*;
    fn run(fixed: bool) {
        let cache = Arc::new(RwMutex::new(0));
        let index = Arc::new(Mutex::new(0));
        let wg = WaitGroup::new();
        wg.add(2);
        let (c, i, w) = (cache.clone(), index.clone(), wg.clone());
        go(move || {
            let _c = c.write();
            *i.lock() += 1;
            w.done();
        });
        let (c, i, w) = (cache.clone(), index.clone(), wg.clone());
        go(move || {
            if fixed {
                let _c = c.read();
                *i.lock() += 1;
            } else {
                let _i = i.lock();
                let _c = c.read();
            }
            w.done();
        });
        wg.wait();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: always the cache first, then the index.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::LockOrder);
}

/// Unlock forgotten on an early-return path (Go code without `defer`): the next
/// locker blocks forever.
pub mod unlock_on_early_return {
    use super::*;
    fn store(m: &RawMutex, v: i32, fixed: bool) -> Result<(), String> {
        m.lock();
        if v < 0 {
            if fixed {
                m.unlock();
            }
            return Err("negative".into());
        }
        m.unlock();
        Ok(())
    }
    fn run(fixed: bool) {
        let m = Arc::new(RawMutex::new());
        let wg = WaitGroup::new();
        for v in [-1, 1] {
            let (m, wg) = (m.clone(), wg.clone());
            wg.add(1);
            go(move || {
                let _ = store(&m, v, fixed);
                wg.done();
            });
        }
        wg.wait();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: unlock on every path.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::GlobalDeadlock);
}

/// `done` forgotten on an error path: `wait` never returns.
pub mod waitgroup_done_missing {
    use super::*;
    fn run(fixed: bool) {
        let wg = WaitGroup::new();
        for i in 0..3 {
            let wg = wg.clone();
            wg.add(1);
            go(move || {
                if i == 1 && !fixed {
                    return; // error path: no done
                }
                wg.done();
            });
        }
        wg.wait();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: `done` on every path.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::GlobalDeadlock);
}

/// Cond signal before wait (a lost wake-up): waiting without a predicate.
pub mod cond_signal_before_wait {
    use super::*;
    fn run(fixed: bool) {
        let m = Arc::new(RawMutex::new());
        let ready = Arc::new(gosan::sync::atomic::AtomicBool::new(false));
        let cond = Arc::new(Cond::new(m.clone()));
        let (m2, c2, r2) = (m.clone(), cond.clone(), ready.clone());
        go(move || {
            m2.lock();
            r2.store(true, gosan::sync::atomic::Ordering::SeqCst);
            c2.signal();
            m2.unlock();
        });
        m.lock();
        if fixed {
            while !ready.load(gosan::sync::atomic::Ordering::SeqCst) {
                cond.wait();
            }
        } else {
            cond.wait(); // misses a signal sent before it waited
        }
        Locker::unlock(&*m);
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: wait in a loop on the predicate, under the lock.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::GlobalDeadlock);
}

/// `Once` re-entered from its own function (initialization that calls back into the
/// lazy getter): blocks forever.
pub mod once_reentered {
    use super::*;
    fn run(fixed: bool) {
        let once = Arc::new(Once::new());
        let o2 = once.clone();
        once.call_once(|| {
            if !fixed {
                o2.call_once(|| {}); // the getter again, from inside init
            }
        });
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: initialization does not call the getter.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::GlobalDeadlock);
}
