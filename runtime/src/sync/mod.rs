//! Go's `sync` package on the deterministic scheduler: [`Mutex`]/[`RawMutex`],
//! [`RwMutex`]/[`RawRwMutex`], [`WaitGroup`], [`Once`], [`Cond`], the [`Locker`]
//! trait and [`atomic`].
//!
//! Go builds these on `runtime/sema.go` (a semaphore table of `sudog` queues); gosan
//! gives each primitive its own state behind a `SpinLock` (`lock.rs`)
//! and its own FIFO `WaitQ` of parked goroutines (`waitq.rs`), the same queue a
//! channel's `recvq`/`sendq` are.
//!
//! # Waiter protocol
//! The one of `waitq.rs`, shared with channels: a goroutine that must block pushes a
//! `Waiter<()>` under the primitive's lock, drops the lock and parks; the waker pops
//! it with `WaitQ::grant_front` (marking it `completed`: what was granted depends on
//! the primitive — ownership of a mutex, a counted read lock, a notification), drops
//! the lock, and only then calls `sched::ready`. A `Dequeue` guard removes a waiter
//! whose `park` unwound at teardown, or gives back what it was already granted.
//!
//! # Operations
//! - Every operation of Go's API starts with `sched::sched_point` (`Debug`,
//!   `is_locked` and `count` are observations, not operations); a failed `try_*`
//!   ends with a `sched::yield_now`. Release operations (unlocks) go through
//!   `release_point`: when the scheduling point unwinds (teardown) the release
//!   still happens, and while the thread is already unwinding (a guard's `Drop`)
//!   there is no scheduling point at all, because a second unwind out of a
//!   destructor would abort the process.
//!
//! Parallel mode (`procs > 1`, not built yet) will need `ready` of a goroutine that
//! has queued itself but not parked yet to make its next `park` return at once (Go's
//! `goready`/`gopark` hand-shake under the `sudog` lock); `Cond::wait`, whose
//! `L.unlock` sits between enqueue and park, relies on that window being closed.
//!
//! Fairness: every queue is FIFO and every release hands off directly to the longest
//! waiter (Go's starvation mode, always on). That is deterministic and starvation
//! free; it never shows the barging Go's normal mode allows (an unlocker re-taking
//! the lock ahead of a woken waiter), which no correct program can rely on.

pub mod atomic;
mod cond;
mod mutex;
mod once;
mod rwmutex;
mod waitgroup;

pub use cond::Cond;
pub use mutex::{Mutex, MutexGuard, RawMutex};
pub use once::Once;
pub use rwmutex::{RawRwMutex, RwMutex, RwMutexReadGuard, RwMutexWriteGuard};
pub use waitgroup::WaitGroup;

use crate::sched::{self, GRef};
pub(crate) use crate::waitq::{Dequeue, WaitQ, Waiter};

/// Go's `sync.Locker`: something that can be locked and unlocked. Implemented by
/// [`RawMutex`], [`RawRwMutex`] (its write side) and the read side that
/// [`RawRwMutex::rlocker`] returns; [`Cond`] waits on one.
pub trait Locker {
    /// Blocks until the lock is held.
    fn lock(&self);
    /// Releases the lock (from any goroutine, as in Go).
    fn unlock(&self);
}

/// The scheduling point of a release operation (unlock, runlock), then `release`.
///
/// While the thread is unwinding (a guard dropped by a panic or by teardown) there is
/// no scheduling point: switching out of a destructor could unwind a second time and
/// abort. When the scheduling point itself unwinds (the run ended while we were
/// switched out), `release` still runs before the unwind goes on, so the primitive is
/// left released.
#[inline]
#[track_caller]
pub(crate) fn release_point<R>(release: impl FnOnce() -> R) -> R {
    if std::thread::panicking() {
        return release();
    }
    match std::panic::catch_unwind(sched::sched_point) {
        Ok(()) => release(),
        Err(payload) => {
            release();
            std::panic::resume_unwind(payload)
        }
    }
}

/// Readies every goroutine in `gs` (collected under a lock that is now dropped).
pub(crate) fn ready_all(gs: impl IntoIterator<Item = GRef>) {
    for g in gs {
        sched::ready(g);
    }
}
