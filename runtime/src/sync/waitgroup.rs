//! `WaitGroup` (Go's `sync.WaitGroup`): a counter; `wait` blocks until it is zero.
//!
//! Follows Go's `src/sync/waitgroup.go`: `Add(delta)` moves the counter; going
//! negative panics `sync: negative WaitGroup counter` (an ordinary, recoverable
//! panic, as in Go); reaching zero wakes every waiter at once (Go stores 0 into the
//! state, then releases the semaphore once per waiter). A woken waiter that finds
//! the group already in use again panics `sync: WaitGroup is reused before previous
//! Wait has returned`, Go's check in `Wait`. Go's other misuse panic ("Add called
//! concurrently with Wait") guards a window between Wait's load and its CAS that a
//! state under one lock does not have, so it cannot occur here.
//!
//! # State (under the spin lock)
//! - `counter`: Go's high 32 bits (here an `i64`).
//! - `waiters`: goroutines parked in `wait` (`sync.WaitGroup.Wait`); Go's low 32 bits
//!   are its length.
//!
//! Invariant: `waiters` non-empty ⇒ `counter > 0` (the `add` that reaches zero
//! empties the queue under the same lock).
//!
//! # Race detector (Go's annotations in `waitgroup.go`)
//! - `clock`: an `add` with a negative delta (so every `done`) release-merges into
//!   it before moving the counter; `wait` acquires it when it returns, including at
//!   once on a zero counter. So every `done` happens-before `wait` returns.
//! - Misuse is a data race on `sema` (Go's `&wg.sema`): an `add` that raises the
//!   counter from zero *reads* it, the first waiter about to block *writes* it. An
//!   `add` from zero concurrent with a `wait` (or a reuse before the previous `wait`
//!   returned) is then reported as a race, as in Go. The address is freed (its
//!   history forgotten) with the group.
//!
//! A `WaitGroup` is a cheap `Clone` handle (an `Arc` inside), so it moves into
//! goroutines as Go code passes `&wg`.

use super::{ready_all, Dequeue, WaitQ, Waiter};
use crate::lock::SpinLock;
use crate::race::{self, RaceClock};
use crate::sched::{self, WaitReason};
use std::fmt;
use std::sync::Arc;

struct Synced {
    counter: i64,
    waiters: WaitQ,
    /// What every `done` released (see the module docs).
    clock: RaceClock,
}

/// The state the handles share.
struct Group {
    st: SpinLock<Synced>,
    /// Go's `wg.sema`: only its address is used, as the race target of misuse.
    sema: u64,
}

impl Group {
    fn sema_addr(&self) -> u64 {
        &self.sema as *const u64 as u64
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        race::freed(self.sema_addr(), 8);
    }
}

/// Go's `sync.WaitGroup`, as a `Clone` handle: clones share one counter.
#[derive(Clone)]
pub struct WaitGroup {
    inner: Arc<Group>,
}

impl WaitGroup {
    /// A group with counter 0.
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(Group {
                st: SpinLock::new(Synced {
                    counter: 0,
                    waiters: WaitQ::new(),
                    clock: RaceClock::new(),
                }),
                sema: 0,
            }),
        }
    }

    /// Adds `delta` (possibly negative) to the counter; at zero every waiter wakes.
    ///
    /// # Panics
    /// `sync: negative WaitGroup counter` when the counter goes below zero.
    #[track_caller]
    pub fn add(&self, delta: i64) {
        sched::sched_point();
        let mut st = self.inner.st.lock();
        if delta < 0 {
            // Synchronize decrements with `wait` (Go releases before the counter moves).
            race::release_merge(&mut st.clock);
        }
        let v = match st.counter.checked_add(delta) {
            Some(v) => v,
            None => {
                drop(st);
                panic!("sync: WaitGroup counter overflow");
            }
        };
        st.counter = v;
        if v < 0 {
            drop(st);
            panic!("sync: negative WaitGroup counter");
        }
        if delta > 0 && v == delta {
            // The first increment must be synchronized with `wait`: a read, since
            // several transitions from zero may be concurrent.
            race::access(self.inner.sema_addr(), 8, false, false);
        }
        if v > 0 || st.waiters.is_empty() {
            return;
        }
        let mut wake = Vec::with_capacity(st.waiters.len());
        while let Some(g) = st.waiters.grant_front() {
            wake.push(g);
        }
        drop(st);
        ready_all(wake);
    }

    /// `add(-1)`.
    ///
    /// # Panics
    /// `sync: negative WaitGroup counter`.
    #[track_caller]
    pub fn done(&self) {
        self.add(-1);
    }

    /// Blocks (`sync.WaitGroup.Wait`) until the counter is zero.
    ///
    /// # Panics
    /// `sync: WaitGroup is reused before previous Wait has returned` when, by the time
    /// this waiter runs again, the group was already `add`ed to again.
    #[track_caller]
    pub fn wait(&self) {
        sched::sched_point();
        let mut st = self.inner.st.lock();
        if st.counter == 0 {
            race::acquire(&mut st.clock);
            return;
        }
        if st.waiters.is_empty() {
            // The first waiter: a write, to race with an unordered `add` from zero
            // (only the first, or concurrent waits would race with each other).
            race::access(self.inner.sema_addr(), 8, true, false);
        }
        let w = Waiter::new(sched::current(), None);
        st.waiters.push(&w);
        drop(st);
        let guard = Dequeue::new(|| {
            self.inner.st.lock().waiters.remove(&w);
        });
        sched::park(WaitReason::WaitGroupWait);
        guard.disarm();
        debug_check!(
            w.completed.get(),
            "WaitGroup::wait",
            "woken by the add that reached zero"
        );
        let mut st = self.inner.st.lock();
        if st.counter != 0 {
            drop(st);
            panic!("sync: WaitGroup is reused before previous Wait has returned");
        }
        race::acquire(&mut st.clock);
    }

    /// Go 1.25's `wg.Go(f)`: `add(1)`, then runs `f` on a new goroutine that calls
    /// `done` when `f` returns.
    #[track_caller]
    pub fn go<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.add(1);
        let wg = self.clone();
        sched::go(move || {
            f();
            wg.done();
        });
    }

    /// The current counter (no scheduling point; for tests and `Debug`).
    pub fn count(&self) -> i64 {
        self.inner.st.lock().counter
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.st.lock();
        f.debug_struct("WaitGroup")
            .field("counter", &st.counter)
            .field("waiters", &st.waiters.len())
            .finish()
    }
}
