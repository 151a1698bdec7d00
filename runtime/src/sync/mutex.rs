//! `RawMutex` (Go's `sync.Mutex`) and `Mutex<T>`, its RAII form over a value.
//!
//! Follows Go's `src/sync/mutex.go` semantics in starvation mode: `Unlock` hands the
//! mutex straight to the longest waiter (FIFO), which wakes up owning it; a newcomer
//! never barges past a queued waiter. Deterministic and starvation free (see the
//! fairness note in [`super`]).
//!
//! # State (under `state`'s spin lock)
//! - `locked`: someone owns the mutex (possibly a granted waiter that has not run yet).
//! - `waiters`: goroutines parked in `lock` (`sync.Mutex.Lock` in dumps).
//!
//! Invariant: `waiters` non-empty ⇒ `locked` (an unlock with waiters never clears
//! `locked`, it transfers it).
//!
//! # Race detector (Go's `race.Acquire`/`race.Release` in `mutex.go`)
//! `clock` is the mutex's sync clock: a successful `lock`/`try_lock` acquires it, and
//! `unlock` release-stores into it, so unlock happens-before the next lock. A waiter
//! handed the mutex acquires it on the unlocker's side, right after that release, so
//! nothing released later can leak into it. A failed `try_lock` and the `Debug`
//! peek create no edge.
//!
//! Not reentrant: a holder that locks again parks behind itself forever, which the
//! scheduler reports as a deadlock, as Go does. `unlock` of an unlocked mutex is Go's
//! unrecoverable `fatal error: sync: unlock of unlocked mutex` ([`throw`]).

use super::{release_point, Dequeue, Locker, WaitQ, Waiter};
use crate::deadlock::{self, LockTag, Mode};
use crate::fatal::throw;
use crate::lock::{SpinGuard, SpinLock};
use crate::race::{self, RaceClock};
use crate::sched::{self, WaitReason};
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

struct Synced {
    locked: bool,
    waiters: WaitQ,
    /// The race detector's sync clock (see the module docs).
    clock: RaceClock,
    /// Identity for the wait-for and lock-order graphs (`crate::deadlock`).
    tag: LockTag,
}

/// Go's `sync.Mutex`: `lock`/`unlock` with no data attached. Unlock from any
/// goroutine is allowed; unlocking an unlocked mutex is a fatal error.
pub struct RawMutex {
    state: SpinLock<Synced>,
}

impl RawMutex {
    /// An unlocked mutex (Go's zero value). The caller is its creation site in
    /// deadlock and lock-order reports.
    #[track_caller]
    pub const fn new() -> RawMutex {
        RawMutex::tagged(false)
    }

    /// A lock whose `owned` tag says only a guard releases it (`RawMutex` inside the
    /// RAII type).
    #[track_caller]
    pub(crate) const fn tagged(owned: bool) -> RawMutex {
        RawMutex {
            state: SpinLock::new(Synced {
                locked: false,
                waiters: WaitQ::new(),
                clock: RaceClock::new(),
                tag: LockTag::new(owned),
            }),
        }
    }

    /// Locks the mutex, parking (`sync.Mutex.Lock`) until it is available.
    #[inline]
    #[track_caller]
    pub fn lock(&self) {
        sched::sched_point_on(self as *const Self as usize);
        let mut st = self.state.lock();
        if !st.locked {
            st.locked = true;
            race::acquire(&mut st.clock);
            deadlock::on_acquired(&mut st.tag, Mode::Write, false);
            return;
        }
        self.lock_slow(st);
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_slow(&self, mut st: SpinGuard<'_, Synced>) {
        let w = Waiter::new(sched::current(), None);
        st.waiters.push(&w);
        deadlock::on_blocking(&mut st.tag, WaitReason::MutexLock);
        drop(st);
        let guard = Dequeue::new(|| {
            let mut st = self.state.lock();
            if !st.waiters.remove(&w) {
                // Granted but unwound before running: give the mutex back.
                Self::hand_off(st);
            }
        });
        sched::park(WaitReason::MutexLock);
        guard.disarm();
        // The unlocker made us acquire its release (`hand_off`).
        debug_check!(
            w.completed.get(),
            "RawMutex::lock",
            "woken lock waiter owns the mutex"
        );
        deadlock::on_acquired(&mut self.state.lock().tag, Mode::Write, false);
    }

    /// Locks the mutex if it is free. A failure is a yield (DESIGN.md "Schedules"), so
    /// `while !m.try_lock() {}` lets the holder run.
    #[inline]
    pub fn try_lock(&self) -> bool {
        sched::sched_point();
        {
            let mut st = self.state.lock();
            if !st.locked {
                st.locked = true;
                race::acquire(&mut st.clock);
                deadlock::on_acquired(&mut st.tag, Mode::Write, true);
                return true;
            }
        }
        // A failed try_lock creates no edge.
        sched::yield_now();
        false
    }

    /// `try_lock` without scheduling point, yield or happens-before edge (`Debug`:
    /// an observation, not an operation).
    fn try_lock_quiet(&self) -> bool {
        let mut st = self.state.lock();
        if st.locked {
            return false;
        }
        st.locked = true;
        true
    }

    /// Undoes [`try_lock_quiet`](Self::try_lock_quiet): no edge either.
    fn unlock_quiet(&self) {
        Self::hand_off(self.state.lock());
    }

    /// Unlocks the mutex, handing it to the longest waiter if any.
    ///
    /// # Fatal error
    /// `sync: unlock of unlocked mutex` when it is not locked: recorded in the run's
    /// report even if the unwind is caught.
    #[inline]
    #[track_caller]
    pub fn unlock(&self) {
        release_point(|| self.unlock_now());
    }

    /// `unlock` without the scheduling point.
    #[track_caller]
    pub(crate) fn unlock_now(&self) {
        let mut st = self.state.lock();
        if !st.locked {
            drop(st);
            throw("sync: unlock of unlocked mutex");
        }
        race::release(&mut st.clock);
        deadlock::on_released(&mut st.tag, Mode::Write);
        Self::hand_off(st);
    }

    /// Passes ownership to the first waiter, which acquires the clock as it stands
    /// (the unlocker's release, if any), or clears `locked`. `st.locked` is set.
    fn hand_off(mut st: SpinGuard<'_, Synced>) {
        match st.waiters.grant_front() {
            Some(g) => {
                race::acquire_for(g, &mut st.clock);
                deadlock::on_granted(g);
                drop(st);
                sched::ready(g);
            }
            None => st.locked = false,
        }
    }

    /// Whether the mutex is held right now (no scheduling point; for `Debug` and
    /// tests — the answer may be stale by the next scheduling point).
    pub fn is_locked(&self) -> bool {
        self.state.lock().locked
    }
}

impl Locker for RawMutex {
    fn lock(&self) {
        RawMutex::lock(self)
    }
    fn unlock(&self) {
        RawMutex::unlock(self)
    }
}

impl Default for RawMutex {
    #[track_caller]
    fn default() -> RawMutex {
        RawMutex::new()
    }
}

impl fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("RawMutex")
            .field("locked", &st.locked)
            .field("waiters", &st.waiters.len())
            .finish()
    }
}

/// A value protected by a [`RawMutex`]: `lock()` returns a guard that unlocks on drop.
/// No poisoning (Go has none): a panic while holding the guard unlocks it.
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out `&mut T` to one guard at a time, so sharing it between
// goroutines (threads in parallel mode) only ever moves access to `T` around: T: Send.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`. The caller is its creation site in
    /// deadlock and lock-order reports.
    #[track_caller]
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::tagged(true),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value (no locking needed: we own the mutex).
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, parking (`sync.Mutex.Lock`) until available.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        MutexGuard {
            m: self,
            _marker: PhantomData,
        }
    }

    /// Locks if free; `None` (a yield) otherwise.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then(|| MutexGuard {
            m: self,
            _marker: PhantomData,
        })
    }

    /// The protected value through `&mut self` (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    #[track_caller]
    fn from(v: T) -> Mutex<T> {
        Mutex::new(v)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        if self.raw.try_lock_quiet() {
            // SAFETY: we hold the lock (taken just above, released just below).
            d.field("data", &unsafe { &*self.data.get() });
            self.raw.unlock_quiet();
        } else {
            d.field("data", &format_args!("<locked>"));
        }
        d.finish_non_exhaustive()
    }
}

/// Holds a [`Mutex`] locked; unlocks it when dropped (a scheduling point, except
/// while unwinding).
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    m: &'a Mutex<T>,
    /// Send iff T: Send, Sync iff T: Sync (the guard hands out `&mut T` / `&T`).
    _marker: PhantomData<&'a mut T>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the mutex is held by us.
        unsafe { &*self.m.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the mutex is held by us, exclusively.
        unsafe { &mut *self.m.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Never throws: the guard holds the lock and nobody else can unlock `raw`.
        release_point(|| self.m.raw.unlock_now());
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
