//! `Cond` (Go's `sync.Cond`): goroutines wait for a signal while holding a
//! [`Locker`].
//!
//! Follows Go's `src/sync/cond.go` with `runtime/sema.go`'s `notifyList`: `Wait`
//! takes its place in the FIFO list *before* unlocking `L` (Go's
//! `runtime_notifyListAdd`), so a `Signal` that comes between the unlock and the park
//! is not lost; `Signal` wakes the longest waiter, `Broadcast` all of them; a woken
//! waiter re-locks `L` before `Wait` returns. No spurious wake-ups: `wait` returns
//! only after a `signal`/`broadcast` picked it (callers still loop on their
//! condition, as in Go, because another goroutine may run first).
//!
//! # Race detector
//! `signal`/`broadcast` release-merge into the cond's clock; a woken waiter acquires
//! it before re-locking `L` (whose own edges come on top). Merging, because several
//! signals may be pending for waiters that have not run yet.
//!
//! # State (under `waiters`' spin lock)
//! `waiters`: goroutines that called `wait` and were not notified yet. A waiter's
//! `granted` flag is "notified"; it is set under the lock by `signal`/`broadcast`,
//! which remove it from the list. The waiter checks it under the lock after
//! unlocking `L` and parks (`sync.Cond.Wait`) only if it is still unset — `L.unlock`
//! is a scheduling point, during which a notification can arrive while the waiter
//! is not parked yet (`ready` of a running goroutine does nothing).

use super::{ready_all, Dequeue, Locker, WaitQ, Waiter};
use crate::lock::SpinLock;
use crate::race::{self, RaceClock};
use crate::sched::{self, WaitReason};
use std::fmt;
use std::sync::Arc;

/// Go's `sync.Cond`.
pub struct Cond {
    /// Go's `c.L`: held while observing or changing the condition.
    pub l: Arc<dyn Locker + Send + Sync>,
    waiters: SpinLock<Notify>,
}

/// Under `Cond::waiters`' lock.
struct Notify {
    q: WaitQ,
    /// What signals and broadcasts released.
    clock: RaceClock,
}

impl Cond {
    /// Go's `sync.NewCond(l)`.
    pub fn new(l: Arc<dyn Locker + Send + Sync>) -> Cond {
        Cond {
            l,
            waiters: SpinLock::new(Notify {
                q: WaitQ::new(),
                clock: RaceClock::new(),
            }),
        }
    }

    /// Go's `c.L`.
    pub fn locker(&self) -> &Arc<dyn Locker + Send + Sync> {
        &self.l
    }

    /// Unlocks `L`, parks (`sync.Cond.Wait`) until signalled, and locks `L` again
    /// before returning. The caller must hold `L` (else `L.unlock` fails as usual,
    /// e.g. `fatal error: sync: unlock of unlocked mutex`).
    #[track_caller]
    pub fn wait(&self) {
        sched::sched_point();
        let w = Waiter::new(sched::current(), None);
        self.waiters.lock().q.push(&w);
        let guard = Dequeue::new(|| {
            self.waiters.lock().q.remove(&w);
        });
        self.l.unlock();
        let notified = {
            let _q = self.waiters.lock();
            w.completed.get()
        };
        if !notified {
            sched::park(WaitReason::CondWait);
        }
        guard.disarm();
        debug_check!(
            w.completed.get(),
            "Cond::wait",
            "Cond::wait returns only when notified"
        );
        race::acquire(&mut self.waiters.lock().clock);
        self.l.lock();
    }

    /// Wakes the goroutine that has waited longest, if any.
    pub fn signal(&self) {
        sched::sched_point();
        let g = {
            let mut n = self.waiters.lock();
            race::release_merge(&mut n.clock);
            n.q.grant_front()
        };
        ready_all(g);
    }

    /// Wakes every waiting goroutine.
    pub fn broadcast(&self) {
        sched::sched_point();
        let mut wake = Vec::new();
        {
            let mut n = self.waiters.lock();
            race::release_merge(&mut n.clock);
            wake.reserve(n.q.len());
            while let Some(g) = n.q.grant_front() {
                wake.push(g);
            }
        }
        ready_all(wake);
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cond")
            .field("waiters", &self.waiters.lock().q.len())
            .finish_non_exhaustive()
    }
}
