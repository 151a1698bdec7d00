//! `RawRwMutex` (Go's `sync.RWMutex`) and `RwMutex<T>`, its RAII form over a value.
//!
//! Follows Go's `src/sync/rwmutex.go` step for step, with its atomic counters turned
//! into plain fields under one spin lock:
//! - `Lock`: take `w` (the writers' mutex; a writer queued here shows
//!   `sync.Mutex.Lock`, as in Go), then announce itself (`writer = true`, Go's
//!   `readerCount -= rwmutexMaxReaders`) so that new readers block, then wait
//!   (`sync.RWMutex.Lock`) for the active readers to leave.
//! - `RLock`: blocks (`sync.RWMutex.RLock`) while a writer is announced — so a reader
//!   arriving after a waiting writer waits behind it (writer preference), and a
//!   recursive read lock can deadlock, exactly as in Go.
//! - `Unlock`: un-announce, admit *every* reader that was blocked (they become active
//!   at once), then release `w` to the next writer (FIFO hand-off), which must in turn
//!   wait for those readers.
//! - `RUnlock`: the last active reader leaving wakes the announced writer.
//!
//! # State (under `state`'s spin lock)
//! - `w_held`: Go's `w` is held (by the announced writer, or granted to a queued one
//!   that has not announced yet). `writers`: parked in `w.Lock`.
//! - `writer`: a writer is announced (pending or holding the write lock).
//! - `readers`: active read locks (Go's `readerCount`, and `readerWait` while a writer
//!   is announced: no reader becomes active then, so the two coincide).
//! - `pending`: the announced writer parked until `readers == 0` (at most one).
//! - `readers_q`: readers parked in `RLock`.
//!
//! # Race detector (Go's annotations in `rwmutex.go`)
//! Two sync clocks, named after the semaphores Go keys them by:
//! - `reader_sem`: `Unlock` release-stores into it; `RLock` and `Lock` acquire it
//!   (Unlock → later RLock, Unlock → later Lock).
//! - `writer_sem`: `RUnlock` release-merges into it; `Lock` acquires it (every
//!   RUnlock → later Lock).
//!
//! Two readers are never ordered by the lock (a reader's write is not seen by another
//! reader). A reader admitted by `Unlock` acquires on the unlocker's side right after
//! its release; a writer acquires once it owns the write lock, in its own context
//! (nobody can release in between: readers and writers are excluded by then).
//! Failed `try_*` and the `Debug` peek create no edge.
//!
//! Invariants: `writer ⇒ w_held`; `writers` non-empty ⇒ `w_held`; `readers_q`
//! non-empty ⇒ `writer`; `pending` non-empty ⇒ `writer && readers > 0`; write-locked
//! ⇔ `writer && pending` empty (then `readers == 0`).

use super::{ready_all, release_point, Dequeue, Locker, WaitQ, Waiter};
use crate::deadlock::{self, LockTag, Mode};
use crate::fatal::throw;
use crate::lock::{SpinGuard, SpinLock};
use crate::race::{self, RaceClock};
use crate::sched::{self, WaitReason};
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

struct Synced {
    w_held: bool,
    writers: WaitQ,
    writer: bool,
    readers: u32,
    pending: WaitQ,
    readers_q: WaitQ,
    /// Go's `&rw.readerSem` race clock (see the module docs).
    reader_sem: RaceClock,
    /// Go's `&rw.writerSem` race clock.
    writer_sem: RaceClock,
    /// Identity for the wait-for and lock-order graphs (`crate::deadlock`).
    tag: LockTag,
}

impl Synced {
    /// The write lock is now ours: acquire what every unlock and runlock released.
    fn write_acquired(&mut self) {
        race::acquire(&mut self.reader_sem);
        race::acquire(&mut self.writer_sem);
    }
}

/// Go's `sync.RWMutex`: writer-preferring reader/writer lock with no data attached.
pub struct RawRwMutex {
    state: SpinLock<Synced>,
}

impl RawRwMutex {
    /// An unlocked RWMutex (Go's zero value). The caller is its creation site in
    /// deadlock and lock-order reports.
    #[track_caller]
    pub const fn new() -> RawRwMutex {
        RawRwMutex::tagged(false)
    }

    /// A lock whose `owned` tag says only a guard releases it (`RawRwMutex` inside the
    /// RAII type).
    #[track_caller]
    pub(crate) const fn tagged(owned: bool) -> RawRwMutex {
        RawRwMutex {
            state: SpinLock::new(Synced {
                w_held: false,
                writers: WaitQ::new(),
                writer: false,
                readers: 0,
                pending: WaitQ::new(),
                readers_q: WaitQ::new(),
                reader_sem: RaceClock::new(),
                writer_sem: RaceClock::new(),
                tag: LockTag::new(owned),
            }),
        }
    }

    // ── write side ──────────────────────────────────────────────────────────────

    /// Locks for writing: waits for the previous writer (`sync.Mutex.Lock`), then
    /// blocks new readers and waits for the active ones (`sync.RWMutex.Lock`).
    #[inline]
    #[track_caller]
    pub fn lock(&self) {
        sched::sched_point();
        let mut st = self.state.lock();
        if st.w_held {
            st = self.lock_w_slow(st);
        } else {
            st.w_held = true;
        }
        st.writer = true;
        if st.readers > 0 {
            deadlock::on_announced(&mut st.tag);
            self.lock_wait_readers(st);
            st = self.state.lock();
        }
        st.write_acquired();
        deadlock::on_acquired(&mut st.tag, Mode::Write, false);
    }

    /// Phase 1 slow path: park until `w` is handed to us; returns the lock again.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_w_slow<'a>(&'a self, mut st: SpinGuard<'a, Synced>) -> SpinGuard<'a, Synced> {
        let w = Waiter::new(sched::current(), None);
        st.writers.push(&w);
        deadlock::on_blocking(&mut st.tag, WaitReason::MutexLock);
        drop(st);
        let guard = Dequeue::new(|| {
            let mut st = self.state.lock();
            if !st.writers.remove(&w) {
                // Granted `w` but unwound before running: pass it on.
                let wake = Self::release_w(&mut st);
                drop(st);
                ready_all(wake);
            }
        });
        sched::park(WaitReason::MutexLock);
        guard.disarm();
        debug_check!(w.completed.get(), "RawRwMutex::lock", "woken writer owns w");
        self.state.lock()
    }

    /// Phase 2: announced, park until the last active reader leaves.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_wait_readers(&self, mut st: SpinGuard<'_, Synced>) {
        let w = Waiter::new(sched::current(), None);
        st.pending.push(&w);
        deadlock::on_blocking(&mut st.tag, WaitReason::RwMutexLock);
        drop(st);
        let guard = Dequeue::new(|| {
            // Announced (still pending) or granted the write lock: either way, undo
            // as `unlock` does, so blocked readers and writers are not stranded.
            let mut st = self.state.lock();
            st.pending.remove(&w);
            let wake = Self::release_write(&mut st);
            drop(st);
            ready_all(wake);
        });
        sched::park(WaitReason::RwMutexLock);
        guard.disarm();
        debug_check!(
            w.completed.get(),
            "RawRwMutex::lock",
            "woken writer owns the write lock"
        );
    }

    /// Locks for writing if neither a writer nor a reader holds or waits for it; a
    /// failure is a yield.
    #[inline]
    pub fn try_lock(&self) -> bool {
        sched::sched_point();
        {
            let mut st = self.state.lock();
            if !st.w_held && st.readers == 0 {
                st.w_held = true;
                st.writer = true;
                st.write_acquired();
                deadlock::on_acquired(&mut st.tag, Mode::Write, true);
                return true;
            }
        }
        sched::yield_now();
        false
    }

    /// Unlocks the write lock: admits every blocked reader, then hands `w` to the
    /// next writer.
    ///
    /// # Fatal error
    /// `sync: Unlock of unlocked RWMutex` when it is not write-locked.
    #[inline]
    #[track_caller]
    pub fn unlock(&self) {
        release_point(|| self.unlock_now());
    }

    #[track_caller]
    fn unlock_now(&self) {
        let mut st = self.state.lock();
        if !st.writer || !st.pending.is_empty() {
            drop(st);
            throw("sync: Unlock of unlocked RWMutex");
        }
        race::release(&mut st.reader_sem);
        deadlock::on_released(&mut st.tag, Mode::Write);
        let wake = Self::release_write(&mut st);
        drop(st);
        ready_all(wake);
    }

    /// Go's `Unlock` body: un-announce, admit blocked readers, release `w`. Returns
    /// whom to ready (readers first, then the next writer), once the lock is dropped.
    fn release_write(st: &mut Synced) -> Vec<sched::GRef> {
        st.writer = false;
        let mut wake = Vec::new();
        if !st.readers_q.is_empty() {
            wake.reserve(st.readers_q.len() + 1);
            while let Some(g) = st.readers_q.grant_front() {
                st.readers += 1;
                // The admitted reader's RLock acquires the Unlock's release.
                race::acquire_for(g, &mut st.reader_sem);
                deadlock::on_granted(g);
                wake.push(g);
            }
        }
        wake.extend(Self::release_w(st));
        wake
    }

    /// Go's `w.Unlock`: hand `w` to the first queued writer, or free it.
    fn release_w(st: &mut Synced) -> Option<sched::GRef> {
        let next = st.writers.grant_front();
        match next {
            Some(g) => deadlock::on_granted(g),
            None => st.w_held = false,
        }
        next
    }

    // ── read side ───────────────────────────────────────────────────────────────

    /// Locks for reading; parks (`sync.RWMutex.RLock`) while a writer is announced.
    #[inline]
    #[track_caller]
    pub fn rlock(&self) {
        sched::sched_point();
        let mut st = self.state.lock();
        if !st.writer {
            st.readers += 1;
            race::acquire(&mut st.reader_sem);
            deadlock::on_acquired(&mut st.tag, Mode::Read, false);
            return;
        }
        self.rlock_slow(st);
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn rlock_slow(&self, mut st: SpinGuard<'_, Synced>) {
        let w = Waiter::new(sched::current(), None);
        st.readers_q.push(&w);
        deadlock::on_blocking(&mut st.tag, WaitReason::RwMutexRLock);
        drop(st);
        let guard = Dequeue::new(|| {
            let mut st = self.state.lock();
            if !st.readers_q.remove(&w) {
                // Admitted (counted in `readers`) but unwound before running.
                let wake = Self::release_read(&mut st);
                drop(st);
                ready_all(wake);
            }
        });
        sched::park(WaitReason::RwMutexRLock);
        guard.disarm();
        debug_check!(
            w.completed.get(),
            "RawRwMutex::rlock",
            "woken reader holds a read lock"
        );
        deadlock::on_acquired(&mut self.state.lock().tag, Mode::Read, false);
    }

    /// Locks for reading unless a writer is announced; a failure is a yield.
    #[inline]
    pub fn try_rlock(&self) -> bool {
        sched::sched_point();
        {
            let mut st = self.state.lock();
            if !st.writer {
                st.readers += 1;
                race::acquire(&mut st.reader_sem);
                deadlock::on_acquired(&mut st.tag, Mode::Read, true);
                return true;
            }
        }
        sched::yield_now();
        false
    }

    /// Releases one read lock; the last reader out wakes a waiting writer.
    ///
    /// # Fatal error
    /// `sync: RUnlock of unlocked RWMutex` when no read lock is held.
    #[inline]
    #[track_caller]
    pub fn runlock(&self) {
        release_point(|| self.runlock_now());
    }

    #[track_caller]
    fn runlock_now(&self) {
        let mut st = self.state.lock();
        if st.readers == 0 {
            drop(st);
            throw("sync: RUnlock of unlocked RWMutex");
        }
        race::release_merge(&mut st.writer_sem);
        deadlock::on_released(&mut st.tag, Mode::Read);
        let wake = Self::release_read(&mut st);
        drop(st);
        ready_all(wake);
    }

    /// One reader leaves (`readers > 0`); the last one grants the announced writer.
    fn release_read(st: &mut Synced) -> Option<sched::GRef> {
        st.readers -= 1;
        if st.readers == 0 {
            let g = st.pending.grant_front();
            if let Some(g) = g {
                deadlock::on_granted(g);
            }
            g
        } else {
            None
        }
    }

    /// Go's `RLocker`: a [`Locker`] whose lock/unlock are `rlock`/`runlock`.
    pub fn rlocker(self: &Arc<Self>) -> Arc<dyn Locker + Send + Sync> {
        Arc::new(RLocker(self.clone()))
    }
}

/// The read side of a [`RawRwMutex`] as a [`Locker`].
struct RLocker(Arc<RawRwMutex>);

impl Locker for RLocker {
    fn lock(&self) {
        self.0.rlock()
    }
    fn unlock(&self) {
        self.0.runlock()
    }
}

impl Locker for RawRwMutex {
    fn lock(&self) {
        RawRwMutex::lock(self)
    }
    fn unlock(&self) {
        RawRwMutex::unlock(self)
    }
}

impl Default for RawRwMutex {
    #[track_caller]
    fn default() -> RawRwMutex {
        RawRwMutex::new()
    }
}

impl fmt::Debug for RawRwMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("RawRwMutex")
            .field("write_locked", &(st.writer && st.pending.is_empty()))
            .field("readers", &st.readers)
            .field("waiting_writers", &(st.writers.len() + st.pending.len()))
            .field("waiting_readers", &st.readers_q.len())
            .finish()
    }
}

/// A value protected by a [`RawRwMutex`]: many `read()` guards or one `write()`
/// guard at a time; writer-preferring like Go's `RWMutex`. No poisoning.
pub struct RwMutex<T: ?Sized> {
    raw: RawRwMutex,
    data: UnsafeCell<T>,
}

// SAFETY: writers get `&mut T` exclusively (T moves between goroutines: Send), readers
// share `&T` concurrently (Sync), as for `std::sync::RwLock`.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwMutex<T> {}

impl<T> RwMutex<T> {
    /// A new unlocked RwMutex holding `value`.
    #[track_caller]
    pub const fn new(value: T) -> RwMutex<T> {
        RwMutex {
            raw: RawRwMutex::tagged(true),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value (no locking needed: we own the lock).
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwMutex<T> {
    /// Locks for reading (`rlock`).
    #[inline]
    #[track_caller]
    pub fn read(&self) -> RwMutexReadGuard<'_, T> {
        self.raw.rlock();
        RwMutexReadGuard {
            m: self,
            _marker: PhantomData,
        }
    }

    /// Locks for writing (`lock`).
    #[inline]
    #[track_caller]
    pub fn write(&self) -> RwMutexWriteGuard<'_, T> {
        self.raw.lock();
        RwMutexWriteGuard {
            m: self,
            _marker: PhantomData,
        }
    }

    /// `try_rlock`: `None` (a yield) when a writer holds or waits for the lock.
    #[inline]
    pub fn try_read(&self) -> Option<RwMutexReadGuard<'_, T>> {
        self.raw.try_rlock().then(|| RwMutexReadGuard {
            m: self,
            _marker: PhantomData,
        })
    }

    /// `try_lock`: `None` (a yield) when anyone holds or waits for the lock.
    #[inline]
    pub fn try_write(&self) -> Option<RwMutexWriteGuard<'_, T>> {
        self.raw.try_lock().then(|| RwMutexWriteGuard {
            m: self,
            _marker: PhantomData,
        })
    }

    /// The protected value through `&mut self` (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwMutex<T> {
    #[track_caller]
    fn default() -> RwMutex<T> {
        RwMutex::new(T::default())
    }
}

impl<T> From<T> for RwMutex<T> {
    #[track_caller]
    fn from(v: T) -> RwMutex<T> {
        RwMutex::new(v)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwMutex");
        let readable = {
            let mut st = self.raw.state.lock();
            let ok = !st.writer;
            if ok {
                st.readers += 1;
            }
            ok
        };
        if readable {
            // SAFETY: we hold a read lock (taken above, released below).
            d.field("data", &unsafe { &*self.data.get() });
            // Quietly, as it was taken: an observation creates no edge.
            let wake = RawRwMutex::release_read(&mut self.raw.state.lock());
            ready_all(wake);
        } else {
            d.field("data", &format_args!("<locked>"));
        }
        d.finish_non_exhaustive()
    }
}

/// Holds a read lock of a [`RwMutex`]; `runlock`s when dropped.
#[must_use = "if unused the RwMutex will immediately unlock"]
pub struct RwMutexReadGuard<'a, T: ?Sized> {
    m: &'a RwMutex<T>,
    /// Send/Sync iff T: Sync (the guard hands out `&T`).
    _marker: PhantomData<&'a T>,
}

/// Holds the write lock of a [`RwMutex`]; `unlock`s when dropped.
#[must_use = "if unused the RwMutex will immediately unlock"]
pub struct RwMutexWriteGuard<'a, T: ?Sized> {
    m: &'a RwMutex<T>,
    /// Send iff T: Send, Sync iff T: Sync (the guard hands out `&mut T`).
    _marker: PhantomData<&'a mut T>,
}

impl<T: ?Sized> Deref for RwMutexReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read lock is held: no writer can exist until it is released.
        unsafe { &*self.m.data.get() }
    }
}

impl<T: ?Sized> Drop for RwMutexReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Never throws: this guard's read lock is counted in `readers`.
        release_point(|| self.m.raw.runlock_now());
    }
}

impl<T: ?Sized> Deref for RwMutexWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write lock is held: no other guard exists.
        unsafe { &*self.m.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwMutexWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held: no other guard exists.
        unsafe { &mut *self.m.data.get() }
    }
}

impl<T: ?Sized> Drop for RwMutexWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Never throws: this guard holds the write lock.
        release_point(|| self.m.raw.unlock_now());
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwMutexReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwMutexWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
