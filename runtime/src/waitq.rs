//! Wait queues of parked goroutines, shared by channels, `select!` and the `sync`
//! primitives: Go's `sudog` ([`Waiter`]) and `waitq` ([`WaitQ`]) from `runtime2.go` /
//! `chan.go` / `sema.go`.
//!
//! A [`Waiter`] lives on the parked goroutine's own stack (in its frame, or in a
//! `select!` arm borrowed by that frame); a [`WaitQ`] is a FIFO of raw pointers to
//! waiters, kept inside the primitive's state behind the primitive's lock
//! ([`SpinLock`](crate::lock::SpinLock)). A channel waiter carries the value being
//! sent or the slot a received value is delivered to; a sync waiter carries nothing
//! (`Waiter<()>`): what it is granted (mutex ownership, a counted read lock, a
//! notification) is the primitive's own state.
//!
//! # Waiter protocol
//! 1. **Enqueue** — the goroutine that must block builds its `Waiter` on its stack,
//!    pushes it under the primitive's lock, drops the lock and parks
//!    (`sched::park`) with its Go wait reason. Between dropping the lock and parking
//!    there is no scheduling point, so on the one thread of a deterministic run no
//!    wake-up can slip in between. (`Cond::wait` unlocks its `L` in that window; the
//!    parallel scheduler will need Go's `gopark`/`goready` hand-shake for it.)
//! 2. **Dequeue** — the waker (a partner send/receive, `close`, an unlock, `done`,
//!    a signal) pops the waiter under the lock ([`WaitQ::dequeue`],
//!    [`WaitQ::grant_front`]), completes it — value moved into or out of `slot`,
//!    `completed` set (`false` only when `close` woke it) — then drops the lock and
//!    only then calls `sched::ready` on its goroutine. After the pop only the owner
//!    touches the waiter again.
//! 3. **Select** — the waiters of one blocked `select!` share a [`SelectSync`]
//!    (Go's `selectDone`): the first dequeue claims the select (`done`, `fired`
//!    case) and every other of its waiters becomes stale; `dequeue` skips stale
//!    waiters and [`WaitQ::has_live`] ignores them. The woken owner removes its other
//!    waiters from their queues before its frame goes on.
//! 4. **Teardown unwind** — a waiter is removed from its queue before its frame can
//!    return or unwind: when `park` unwinds at the end of a run (teardown), a
//!    [`Dequeue`] guard (or the select's `Unqueue` guard, `select.rs`) runs under
//!    the lock. If the waiter is still queued it is just removed
//!    ([`WaitQ::remove`]); if it was already dequeued and granted something but never
//!    ran, the guard gives it back (unlock, pass the write lock on), so a primitive
//!    that outlives the run (a `static`) is consistent for the next run.
//!
//! Invariant: every pointer in a `WaitQ` points to a live `Waiter` (steps 1 and 4),
//! and is dereferenced only under the lock of the primitive owning the queue.

use crate::sched::GRef;
use std::cell::{Cell, UnsafeCell};
use std::collections::VecDeque;

/// Shared state of a blocked `select!`: which case completed first (Go's
/// `selectDone` and the index `selectgo` returns).
///
/// `pub` but unnameable and unconstructible outside the crate (a private module,
/// private constructor): it appears in `SelectArm::enqueue`, which only the runtime
/// can therefore call.
pub struct SelectSync {
    pub(crate) done: Cell<bool>,
    pub(crate) fired: Cell<usize>,
}

impl SelectSync {
    pub(crate) fn new() -> SelectSync {
        SelectSync {
            done: Cell::new(false),
            fired: Cell::new(usize::MAX),
        }
    }
}

/// A parked goroutine's entry in a wait queue (Go's `sudog`).
pub(crate) struct Waiter<T = ()> {
    pub(crate) g: GRef,
    /// Send: the value offered. Receive: where the value is delivered. Written by
    /// the waker under the lock after dequeuing, read by the owner after waking.
    pub(crate) slot: UnsafeCell<Option<T>>,
    /// Set by the waker under the lock: `true` when the wait completed (a partner
    /// took or gave the value, the primitive granted what was waited for), `false`
    /// when `close` woke it.
    pub(crate) completed: Cell<bool>,
    /// The owning `select!`'s shared state, or null.
    pub(crate) sel: *const SelectSync,
    /// This waiter's arm index in its `select!`.
    pub(crate) case: usize,
    /// Address of the channel handle a plain send/receive blocked through (0 when
    /// unknown): the orphaned-channel check (`chan.rs`) looks whether it lies on
    /// the waiter's own stack.
    pub(crate) handle: Cell<usize>,
}

impl<T> Waiter<T> {
    /// A waiter of goroutine `g` carrying `value` (a send) or none.
    pub(crate) fn new(g: GRef, value: Option<T>) -> Self {
        Waiter::in_select(g, value, std::ptr::null(), 0)
    }

    /// A waiter of arm `case` of a blocked `select!` whose shared state is `sel`.
    pub(crate) fn in_select(
        g: GRef,
        value: Option<T>,
        sel: *const SelectSync,
        case: usize,
    ) -> Self {
        Waiter {
            g,
            slot: UnsafeCell::new(value),
            completed: Cell::new(false),
            sel,
            case,
            handle: Cell::new(0),
        }
    }
}

/// FIFO of parked goroutines' waiters (Go's `waitq`).
pub(crate) struct WaitQ<T = ()> {
    q: VecDeque<*const Waiter<T>>,
}

// SAFETY: the raw pointers point at `Waiter`s on the stacks of parked goroutines;
// they are dereferenced only under the lock of the primitive that owns this queue,
// while the waiter is queued, and a waiter is removed before its frame returns or
// unwinds (module protocol). What crosses threads through a waiter is a `T` (moved
// in or out of its slot) and a `GRef`, so `T: Send` suffices.
unsafe impl<T: Send> Send for WaitQ<T> {}

impl<T> WaitQ<T> {
    pub(crate) const fn new() -> Self {
        WaitQ { q: VecDeque::new() }
    }

    /// Appends `w`. The caller holds the owning primitive's lock and keeps `w` alive
    /// and in place until it was dequeued or [`remove`](Self::remove)d.
    pub(crate) fn push(&mut self, w: &Waiter<T>) {
        self.q.push_back(w);
    }

    /// Pops the first waiter that can still complete, claiming its `select!` if any
    /// (stale waiters of an already-claimed select are dropped from the queue).
    pub(crate) fn dequeue(&mut self) -> Option<&Waiter<T>> {
        while let Some(w) = self.q.pop_front() {
            // SAFETY: a queued waiter's frame is alive until it is removed (module
            // protocol); the caller holds the owning primitive's lock.
            let w = unsafe { &*w };
            if !w.sel.is_null() {
                // SAFETY: the select's sync lives in the parked goroutine's frame, as
                // long as any of its waiters is queued.
                let sel = unsafe { &*w.sel };
                if sel.done.get() {
                    continue; // stale entry of a select another case completed
                }
                sel.done.set(true);
                sel.fired.set(w.case);
            }
            return Some(w);
        }
        None
    }

    /// Pops the longest waiter, marks it completed (granted) and returns its
    /// goroutine, to be readied once the caller dropped the lock.
    pub(crate) fn grant_front(&mut self) -> Option<GRef> {
        let w = self.dequeue()?;
        w.completed.set(true);
        Some(w.g)
    }

    /// Whether a waiter that can still complete is queued.
    pub(crate) fn has_live(&self) -> bool {
        self.q.iter().any(|&w| {
            // SAFETY: as in `dequeue`.
            let w = unsafe { &*w };
            // SAFETY: as in `dequeue`.
            w.sel.is_null() || !unsafe { &*w.sel }.done.get()
        })
    }

    /// Removes `w` if it is still queued; `false` when it was already dequeued.
    pub(crate) fn remove(&mut self, w: &Waiter<T>) -> bool {
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

    /// The queued waiters that can still complete (the caller holds the lock).
    pub(crate) fn live(&self) -> impl Iterator<Item = &Waiter<T>> {
        self.q.iter().filter_map(|&w| {
            // SAFETY: as in `dequeue`.
            let w = unsafe { &*w };
            // SAFETY: as in `dequeue`.
            (w.sel.is_null() || !unsafe { &*w.sel }.done.get()).then_some(w)
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// The teardown-unwind guard of a waiter (protocol step 4): runs its clean-up when
/// dropped — which, once [`disarm`](Self::disarm)ed after `park` returned normally,
/// only happens when `park` unwound.
pub(crate) struct Dequeue<F: FnOnce()> {
    f: Option<F>,
}

impl<F: FnOnce()> Dequeue<F> {
    /// Arms the guard with the clean-up `f` (it takes the primitive's lock itself).
    #[inline]
    pub(crate) fn new(f: F) -> Dequeue<F> {
        Dequeue { f: Some(f) }
    }

    /// `park` returned normally: the waker already dequeued the waiter.
    #[inline]
    pub(crate) fn disarm(mut self) {
        self.f = None;
    }
}

impl<F: FnOnce()> Drop for Dequeue<F> {
    #[inline]
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            unwound(f);
        }
    }
}

/// The clean-up of a waiter whose `park` unwound (teardown): out of line.
#[cold]
#[inline(never)]
fn unwound(f: impl FnOnce()) {
    f()
}

#[cfg(test)]
mod tests {
    use super::{SelectSync, WaitQ, Waiter};
    use crate::sched::GRef;

    fn g(id: u64) -> GRef {
        GRef {
            slot: id as u32,
            id,
            run: 0,
        }
    }

    #[test]
    fn fifo_grant_and_remove() {
        let (a, b, c) = (
            Waiter::<()>::new(g(1), None),
            Waiter::new(g(2), None),
            Waiter::new(g(3), None),
        );
        let mut q = WaitQ::new();
        q.push(&a);
        q.push(&b);
        q.push(&c);
        assert_eq!(q.len(), 3);
        assert!(q.remove(&b), "a queued waiter is removed");
        assert_eq!(q.grant_front(), Some(g(1)));
        assert!(a.completed.get() && !c.completed.get());
        assert!(!q.remove(&a), "a granted waiter is no longer queued");
        assert_eq!(q.grant_front(), Some(g(3)));
        assert!(q.is_empty() && q.grant_front().is_none());
    }

    #[test]
    fn a_claimed_select_leaves_stale_waiters_behind() {
        let sel = SelectSync::new();
        let arm0 = Waiter::in_select(g(1), Some(10), &sel, 0);
        let arm1 = Waiter::in_select(g(1), Some(11), &sel, 1);
        let plain = Waiter::new(g(2), Some(20));
        let (mut q0, mut q1) = (WaitQ::new(), WaitQ::new());
        q0.push(&arm0);
        q1.push(&arm1);
        q1.push(&plain);
        assert!(q1.has_live());
        // The partner on q0 claims the select for case 0 ...
        let w = q0.dequeue().map(|w| w.case);
        assert_eq!(w, Some(0));
        assert!(sel.done.get());
        assert_eq!(sel.fired.get(), 0);
        // ... so on q1 the select's other waiter is stale and skipped.
        let next = q1.dequeue().map(|w| w.g);
        assert_eq!(next, Some(g(2)));
        assert!(!q1.has_live());
    }
}
