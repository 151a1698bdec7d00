//! Go's `sync` package on the deterministic scheduler: [`Mutex`]/[`RawMutex`],
//! [`RwMutex`]/[`RawRwMutex`], [`WaitGroup`], [`Once`], [`Cond`], the [`Locker`]
//! trait and [`atomic`].
//!
//! Go builds these on `runtime/sema.go` (a semaphore table of `sudog` queues); gosan
//! gives each primitive its own state behind a [`SpinLock`](crate::lock::SpinLock)
//! and its own FIFO `WaitQ` of parked goroutines, the way [`chan`](mod@crate::chan)
//! keeps `recvq`/`sendq`.
//!
//! # Waiter protocol (shared by every primitive here; mirrors `chan.rs`)
//! - A goroutine that must block builds a `Waiter` on its own stack, pushes it on
//!   the primitive's queue *under the primitive's lock*, drops the lock, then parks
//!   with its Go wait reason. Between dropping the lock and parking there is no
//!   scheduling point, so on the one thread of a deterministic run no wake-up can
//!   slip in between.
//! - The waker pops the waiter under the lock, sets `granted` (what was granted
//!   depends on the primitive: ownership of a mutex, a counted read lock, a
//!   notification), drops the lock, and only then calls [`sched::ready`].
//! - A waiter is removed from its queue before its frame can die: an `OnUnwind`
//!   guard runs when `park` unwinds at the end of a run (teardown). If the waiter is
//!   still queued the guard just removes it; if it was already granted something
//!   (popped but never ran), the guard gives it back (unlocks), so a primitive that
//!   outlives the run (a `static`) is consistent for the next run.
//! - Every operation of Go's API starts with [`sched::sched_point`] (`Debug`,
//!   `is_locked` and `count` are observations, not operations); a failed `try_*`
//!   ends with a [`sched::yield_now`]. Release operations (unlocks) go through
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
use std::cell::Cell;
use std::collections::VecDeque;

/// Go's `sync.Locker`: something that can be locked and unlocked. Implemented by
/// [`RawMutex`], [`RawRwMutex`] (its write side) and the read side that
/// [`RawRwMutex::rlocker`] returns; [`Cond`] waits on one.
pub trait Locker {
    /// Blocks until the lock is held.
    fn lock(&self);
    /// Releases the lock (from any goroutine, as in Go).
    fn unlock(&self);
}

/// A parked goroutine's entry in a primitive's `WaitQ` (Go's `sudog`). Lives on the
/// parked goroutine's stack.
///
/// `granted` is written only by the waker under the primitive's lock, and read by the
/// owner under that lock or after `park` returned (the waker set it before `ready`).
pub(crate) struct Waiter {
    pub(crate) g: GRef,
    pub(crate) granted: Cell<bool>,
}

impl Waiter {
    pub(crate) fn new(g: GRef) -> Waiter {
        Waiter {
            g,
            granted: Cell::new(false),
        }
    }
}

/// FIFO of parked goroutines (Go's `waitq`/semaphore root).
pub(crate) struct WaitQ {
    q: VecDeque<*const Waiter>,
}

// SAFETY: the raw pointers point at `Waiter`s on the stacks of parked goroutines;
// they are dereferenced only under the lock of the primitive that owns this queue,
// while the waiter is queued, and a waiter is removed before its frame returns or
// unwinds (module protocol). Nothing in a `Waiter` is tied to one thread.
unsafe impl Send for WaitQ {}

impl WaitQ {
    pub(crate) const fn new() -> WaitQ {
        WaitQ { q: VecDeque::new() }
    }

    /// Appends `w`. The caller holds the owning primitive's lock and keeps `w` alive
    /// until it was popped or [`remove`](Self::remove)d.
    pub(crate) fn push(&mut self, w: &Waiter) {
        self.q.push_back(w);
    }

    /// Pops the longest waiter, marks it granted and returns its goroutine (to be
    /// readied once the caller dropped the lock).
    pub(crate) fn grant_front(&mut self) -> Option<GRef> {
        let w = self.q.pop_front()?;
        // SAFETY: a queued waiter's frame is alive (module protocol); the caller holds
        // the owning primitive's lock.
        let w = unsafe { &*w };
        w.granted.set(true);
        Some(w.g)
    }

    /// Removes `w` if it is still queued; `false` when it was already popped.
    pub(crate) fn remove(&mut self, w: &Waiter) -> bool {
        match self.q.iter().position(|&x| std::ptr::eq(x, w)) {
            Some(i) => {
                self.q.remove(i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.q.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// Runs its closure when dropped, unless [`disarm`](Self::disarm)ed: the clean-up of
/// a waiter whose `park` unwound (teardown).
pub(crate) struct OnUnwind<F: FnOnce()> {
    f: Option<F>,
}

impl<F: FnOnce()> OnUnwind<F> {
    pub(crate) fn new(f: F) -> OnUnwind<F> {
        OnUnwind { f: Some(f) }
    }

    #[inline]
    pub(crate) fn disarm(mut self) {
        self.f = None;
    }
}

impl<F: FnOnce()> Drop for OnUnwind<F> {
    #[inline]
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            f();
        }
    }
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
