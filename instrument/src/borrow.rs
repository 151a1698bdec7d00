//! The borrow state of an instrumented cell: `RefCell`'s borrow counter, made atomic
//! and owned by one OS thread at a time.
//!
//! [`BorrowCell<T>`] is the one place where `Shared<T>`, `SharedVec<T>` and
//! `RaceCell<T>` turn `&self` into access to their value. It enforces, at run time and
//! on every thread (inside a gosan run or not), the two rules that make that sound:
//!
//! 1. **Borrow rule** (as `RefCell`): any number of shared borrows, or one exclusive
//!    borrow, never both. A re-entrant access from inside a `with`/`with_mut` closure
//!    that would break it is a clear panic, not a `&T` aliasing a `&mut T`.
//! 2. **Thread rule**: all borrows live at one time belong to one OS thread. A second
//!    thread that asks while the first holds any borrow gets a clear panic, not a data
//!    race. Two threads' borrows are therefore ordered: the last guard a thread drops
//!    stores the word with `Release`, the first guard the next thread takes loads it
//!    with `Acquire`, so everything the first thread did to the value happens before
//!    what the second does. That is a hand-over of the value between threads, which
//!    needs `T: Send` and never `T: Sync` (shared borrows never span two threads).
//!
//! Inside a deterministic gosan run every goroutine runs on the run's thread, and a
//! borrow never spans a goroutine switch (`with` closures run under `NoSwitch`), so the
//! thread rule only ever fires for cells shared between runs or plain threads without
//! synchronization. The parallel scheduler will have to wait there instead of
//! panicking (its goroutines legitimately run on several threads).
//!
//! ## The state word
//!
//! One `AtomicU64` per cell:
//!
//! | bits   | name      | meaning                                                   |
//! |--------|-----------|-----------------------------------------------------------|
//! | 63..32 | `OWNER`   | token of the thread holding the borrows; 0 = unborrowed   |
//! | 31     | `WRITER`  | the owner holds the exclusive borrow                      |
//! | 30..0  | `READERS` | number of shared borrows the owner holds                  |
//!
//! Transitions, for thread `t` (token `t`, `OWNER` bits `T`):
//!
//! | word before        | shared borrow by `t`       | exclusive borrow by `t` | guard drop            |
//! |--------------------|----------------------------|-------------------------|-----------------------|
//! | `0`                | CAS → `T\|1` (Acquire)     | CAS → `T\|WRITER` (Acquire) | —                 |
//! | `T\|n`, n ≥ 1      | store `T\|n+1` (Relaxed)   | `Borrowed`              | n = 1: store `0` (Release); else store `T\|n-1` |
//! | `T\|WRITER`        | `MutablyBorrowed`          | `MutablyBorrowed`       | store `0` (Release)   |
//! | `U\|…`, `U ≠ T`    | `OtherThread`              | `OtherThread`           | —                     |
//!
//! **Invariant:** a nonzero word owned by `t` is written only by `t`. Other threads
//! only try `compare_exchange(0, …)`, which fails (a mere load) while the word is
//! nonzero. Hence `t` reading a word owned by `t` reads the current value (it is
//! `t`'s own latest store: coherence), and `t` may update it with plain stores.
//! Guards are `!Send`, so the thread that took a borrow is the one that releases it.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const UNBORROWED: u64 = 0;
const OWNER_SHIFT: u32 = 32;
const OWNER: u64 = !0 << OWNER_SHIFT;
const WRITER: u64 = 1 << 31;
const READERS: u64 = WRITER - 1;
const _: () = assert!(OWNER & WRITER == 0 && OWNER & READERS == 0 && WRITER & READERS == 0);
const _: () = assert!(OWNER | WRITER | READERS == u64::MAX);

/// Why a borrow was refused.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// An exclusive borrow while this thread holds shared borrows.
    Borrowed,
    /// Any borrow while this thread holds the exclusive borrow.
    MutablyBorrowed,
    /// Another OS thread holds borrows of this cell right now.
    OtherThread,
    /// 2^31 - 1 nested shared borrows on one thread.
    TooManyReaders,
}

// ── thread tokens ───────────────────────────────────────────────────────────────

thread_local! {
    /// This thread's token; 0 until its first borrow.
    static TOKEN: Cell<u32> = const { Cell::new(0) };
}

/// The next token to hand out. Tokens are never reused, so a token names one thread
/// for the life of the process.
static NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);

/// This OS thread's token (nonzero, unique in the process), as `OWNER` bits.
///
/// `#[inline(never)]`: the token must be read after the scheduling point that
/// precedes each access, never reused from before it (under the parallel scheduler a
/// goroutine may resume on another thread; a function boundary keeps the compiler
/// from caching the thread-local's address across a switch, as `sched_ptr` does).
#[inline(never)]
fn owner_bits() -> u64 {
    let t = TOKEN.with(|t| match t.get() {
        0 => new_token(t),
        v => v,
    });
    u64::from(t) << OWNER_SHIFT
}

#[cold]
fn new_token(slot: &Cell<u32>) -> u32 {
    // Relaxed: tokens only need to be distinct, which the read-modify-write's
    // atomicity gives; no data is published through this counter.
    let t = NEXT_TOKEN
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
        .unwrap_or_else(|_| panic!("gosan: more than 4294967294 threads used instrumented memory"));
    slot.set(t);
    t
}

// ── the state word ──────────────────────────────────────────────────────────────

/// One cell's borrow state (see the module docs for the word and its transitions).
pub(crate) struct BorrowState {
    word: AtomicU64,
}

impl BorrowState {
    pub(crate) const fn new() -> BorrowState {
        BorrowState {
            word: AtomicU64::new(UNBORROWED),
        }
    }

    /// A shared borrow, or why not.
    #[inline]
    pub(crate) fn try_read(&self) -> Result<ReadGuard<'_>, Conflict> {
        let me = owner_bits();
        // Acquire on success: synchronizes with the Release store of `UNBORROWED` in
        // `ReadGuard::drop` / `WriteGuard::drop` that ended the previous owner's
        // borrows, so its accesses to the value happen before ours.
        match self
            .word
            .compare_exchange(UNBORROWED, me | 1, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Ok(ReadGuard::new(self)),
            Err(cur) => self.read_nested(me, cur),
        }
    }

    /// A shared borrow while the word is nonzero: only a nested one by the owner.
    #[inline(never)]
    fn read_nested(&self, me: u64, cur: u64) -> Result<ReadGuard<'_>, Conflict> {
        if cur & OWNER != me {
            return Err(Conflict::OtherThread);
        }
        if cur & WRITER != 0 {
            return Err(Conflict::MutablyBorrowed);
        }
        if cur & READERS == READERS {
            return Err(Conflict::TooManyReaders);
        }
        // Relaxed: this thread owns the word, so `cur` is current and nobody else
        // writes it until we store `UNBORROWED` (module invariant).
        self.word.store(cur + 1, Ordering::Relaxed);
        Ok(ReadGuard::new(self))
    }

    /// The exclusive borrow, or why not.
    #[inline]
    pub(crate) fn try_write(&self) -> Result<WriteGuard<'_>, Conflict> {
        let me = owner_bits();
        // Acquire on success: synchronizes with the Release store of `UNBORROWED` in
        // `ReadGuard::drop` / `WriteGuard::drop` (as in `try_read`).
        match self.word.compare_exchange(
            UNBORROWED,
            me | WRITER,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => Ok(WriteGuard {
                state: self,
                _not_send: PhantomData,
            }),
            Err(cur) => Err(classify_write(me, cur)),
        }
    }
}

#[cold]
fn classify_write(me: u64, cur: u64) -> Conflict {
    if cur & OWNER != me {
        Conflict::OtherThread
    } else if cur & WRITER != 0 {
        Conflict::MutablyBorrowed
    } else {
        Conflict::Borrowed
    }
}

/// A live shared borrow; dropping it releases it. `!Send`: released by the thread
/// that took it.
pub(crate) struct ReadGuard<'a> {
    state: &'a BorrowState,
    _not_send: PhantomData<*const ()>,
}

impl<'a> ReadGuard<'a> {
    fn new(state: &'a BorrowState) -> ReadGuard<'a> {
        ReadGuard {
            state,
            _not_send: PhantomData,
        }
    }
}

impl Drop for ReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let word = &self.state.word;
        // Relaxed: this thread owns the word (it holds this borrow), so the value
        // read is its own latest store (module invariant).
        let cur = word.load(Ordering::Relaxed);
        debug_assert!(cur & WRITER == 0 && cur & READERS >= 1);
        if cur & READERS == 1 {
            // Release: synchronizes with the Acquire compare_exchange in
            // `try_read` / `try_write` of the next owner.
            word.store(UNBORROWED, Ordering::Release);
        } else {
            // Relaxed: still owned by this thread.
            word.store(cur - 1, Ordering::Relaxed);
        }
    }
}

/// The live exclusive borrow; dropping it releases it. `!Send`.
pub(crate) struct WriteGuard<'a> {
    state: &'a BorrowState,
    _not_send: PhantomData<*const ()>,
}

impl Drop for WriteGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: synchronizes with the Acquire compare_exchange in `try_read` /
        // `try_write` of the next owner.
        self.state.word.store(UNBORROWED, Ordering::Release);
    }
}

// ── the cell ────────────────────────────────────────────────────────────────────

/// A value reached through `&self` only by borrows that obey the borrow rule and the
/// thread rule (module docs), plus a raw pointer for `RaceCell`. Remembers where it
/// was created, for the panic messages.
pub(crate) struct BorrowCell<T> {
    state: BorrowState,
    site: &'static Location<'static>,
    value: UnsafeCell<T>,
}

// SAFETY: through `&BorrowCell<T>` the value is reached only by `Ref`/`RefMut`, which
// hold a borrow of `state`, and by `as_ptr`, a raw pointer whose dereference is the
// caller's own `unsafe` duty. The state admits borrows of one OS thread at a time and
// orders consecutive owners (Release on the last guard's drop, Acquire on the next
// owner's first borrow), so `&T`/`&mut T` never exist on two threads at once and the
// value is in effect moved from thread to thread: `T: Send` suffices, as for
// `Mutex<T>`. (`Send` is automatic: `UnsafeCell<T>: Send` when `T: Send`.)
unsafe impl<T: Send> Sync for BorrowCell<T> {}

impl<T> BorrowCell<T> {
    /// A cell created at `site` (its owner's `#[track_caller]` location).
    pub(crate) const fn new(v: T, site: &'static Location<'static>) -> BorrowCell<T> {
        BorrowCell {
            state: BorrowState::new(),
            site,
            value: UnsafeCell::new(v),
        }
    }

    /// The value's address, without borrowing it.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.value.get()
    }

    /// A shared borrow, or why not.
    #[inline]
    pub(crate) fn try_read(&self) -> Result<Ref<'_, T>, Conflict> {
        let guard = self.state.try_read()?;
        Ok(Ref {
            value: self.non_null(),
            _guard: guard,
        })
    }

    /// The exclusive borrow, or why not.
    #[inline]
    pub(crate) fn try_write(&self) -> Result<RefMut<'_, T>, Conflict> {
        let guard = self.state.try_write()?;
        Ok(RefMut {
            value: self.non_null(),
            _guard: guard,
            _marker: PhantomData,
        })
    }

    /// A shared borrow.
    ///
    /// # Panics
    /// On a [`Conflict`], with [`message`]'s text; `kind<ty>` names the public type
    /// (`"Shared"`, `"u64"`).
    #[inline]
    #[track_caller]
    pub(crate) fn read(&self, kind: &'static str, ty: &'static str) -> Ref<'_, T> {
        match self.try_read() {
            Ok(r) => r,
            Err(c) => refused(c, kind, ty, self.site),
        }
    }

    /// The exclusive borrow.
    ///
    /// # Panics
    /// As [`read`](Self::read).
    #[inline]
    #[track_caller]
    pub(crate) fn write(&self, kind: &'static str, ty: &'static str) -> RefMut<'_, T> {
        match self.try_write() {
            Ok(r) => r,
            Err(c) => refused(c, kind, ty, self.site),
        }
    }

    /// The value, consuming the cell.
    pub(crate) fn into_inner(self) -> T {
        self.value.into_inner()
    }

    fn non_null(&self) -> NonNull<T> {
        // SAFETY: `UnsafeCell::get` of a live cell is never null.
        unsafe { NonNull::new_unchecked(self.value.get()) }
    }
}

/// A live shared borrow of a [`BorrowCell`]'s value.
pub(crate) struct Ref<'a, T> {
    value: NonNull<T>,
    _guard: ReadGuard<'a>,
}

impl<T> Ref<'_, T> {
    /// The value's address; valid for reads while this borrow lives.
    pub(crate) fn as_ptr(&self) -> *const T {
        self.value.as_ptr()
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard's shared borrow excludes any `RefMut` (on any thread)
        // while it lives, and the reference cannot outlive `self`.
        unsafe { self.value.as_ref() }
    }
}

/// The live exclusive borrow of a [`BorrowCell`]'s value.
pub(crate) struct RefMut<'a, T> {
    value: NonNull<T>,
    _guard: WriteGuard<'a>,
    _marker: PhantomData<&'a mut T>,
}

impl<T> RefMut<'_, T> {
    /// The value's address; valid for reads and writes while this borrow lives.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.value.as_ptr()
    }
}

impl<T> Deref for RefMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard's exclusive borrow excludes every other `Ref`/`RefMut`
        // while it lives; the reference cannot outlive `self`.
        unsafe { self.value.as_ref() }
    }
}

impl<T> DerefMut for RefMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference
        // derived from the borrow.
        unsafe { self.value.as_mut() }
    }
}

// ── messages ────────────────────────────────────────────────────────────────────

/// The panic text for a refused borrow of a `kind<ty>` created at `site`.
pub(crate) fn message(c: Conflict, kind: &str, ty: &str, site: &Location<'_>) -> String {
    let obj = format!("{kind}<{ty}> created at {site}");
    match c {
        Conflict::Borrowed => format!(
            "gosan: {obj} already borrowed: it cannot be borrowed mutably (with_mut, set, \
             push) while a with/get/len of it is still running on this thread (re-entrant \
             access from inside a closure)"
        ),
        Conflict::MutablyBorrowed => format!(
            "gosan: {obj} already mutably borrowed: it cannot be used while a with_mut/set/\
             push of it is still running on this thread (re-entrant access from inside a \
             closure)"
        ),
        Conflict::OtherThread => format!(
            "gosan: {obj} used from two threads at once: another OS thread is accessing it \
             and nothing orders the two accesses (share it between threads or gosan runs \
             only with synchronization: a join, a channel, a lock)"
        ),
        Conflict::TooManyReaders => {
            format!("gosan: {obj} has too many nested borrows on this thread")
        }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn refused(c: Conflict, kind: &str, ty: &str, site: &Location<'_>) -> ! {
    panic!("{}", message(c, kind, ty, site))
}

impl fmt::Debug for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conflict::Borrowed => "already borrowed",
            Conflict::MutablyBorrowed => "already mutably borrowed",
            Conflict::OtherThread => "used from two threads at once",
            Conflict::TooManyReaders => "too many nested borrows",
        })
    }
}

#[cfg(test)]
mod tests {
    //! Need no gosan run: these run under Miri
    //! (`cargo +nightly miri test -p gosan-instrument --lib`), whose data-race and
    //! aliasing checks would flag a wrong ordering or an aliased `&mut`.

    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;
    use std::thread;

    #[track_caller]
    fn cell<T>(v: T) -> BorrowCell<T> {
        BorrowCell::new(v, Location::caller())
    }

    #[test]
    fn nested_reads_then_a_write() {
        let c = cell(vec![1u64, 2]);
        {
            let a = c.try_read().unwrap();
            let b = c.try_read().unwrap();
            assert_eq!(a[0] + b[1], 3);
            assert_eq!(c.try_write().err(), Some(Conflict::Borrowed));
            drop(a);
            assert_eq!(c.try_write().err(), Some(Conflict::Borrowed));
            drop(b);
        }
        c.try_write().unwrap().push(3);
        assert_eq!(*c.try_read().unwrap(), [1, 2, 3]);
    }

    #[test]
    fn nothing_while_written() {
        let c = cell(String::from("x"));
        let mut w = c.try_write().unwrap();
        w.push('y');
        assert_eq!(c.try_read().err(), Some(Conflict::MutablyBorrowed));
        assert_eq!(c.try_write().err(), Some(Conflict::MutablyBorrowed));
        // a refused borrow changes nothing
        w.push('z');
        drop(w);
        assert_eq!(&*c.try_read().unwrap(), "xyz");
        assert_eq!(c.state.word.load(Ordering::Relaxed), UNBORROWED);
    }

    #[test]
    fn raw_pointers_of_guards_stay_valid_while_held() {
        let c = cell(5i32);
        {
            let w = c.try_write().unwrap();
            // SAFETY: the exclusive borrow is held; no reference to the value exists.
            unsafe { *w.as_ptr() += 1 };
        }
        let r = c.try_read().unwrap();
        // SAFETY: a shared borrow is held.
        assert_eq!(unsafe { *r.as_ptr() }, 6);
    }

    #[test]
    fn another_thread_is_refused_while_borrowed() {
        let c = cell(0u64);
        let r = c.try_read().unwrap();
        thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(c.try_read().err(), Some(Conflict::OtherThread));
                assert_eq!(c.try_write().err(), Some(Conflict::OtherThread));
            });
        });
        drop(r);
        let w = c.try_write().unwrap();
        thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(c.try_read().err(), Some(Conflict::OtherThread));
                assert_eq!(c.try_write().err(), Some(Conflict::OtherThread));
            });
        });
        drop(w);
        // a refused thread left the word as it was: free again
        thread::scope(|s| {
            s.spawn(|| *c.try_write().unwrap() += 1);
        });
        assert_eq!(*c.try_read().unwrap(), 1);
    }

    /// A value handed between threads in turn (each waits for the previous one): every
    /// borrow succeeds and sees the previous writes.
    #[test]
    fn ordered_threads_hand_the_value_over() {
        let c = cell(Vec::<usize>::new());
        let (tx, rx) = mpsc::channel::<()>();
        thread::scope(|s| {
            let c = &c;
            s.spawn(move || {
                c.try_write().unwrap().push(1);
                tx.send(()).unwrap();
            });
            s.spawn(move || {
                rx.recv().unwrap();
                let r = c.try_read().unwrap();
                assert_eq!(*r, [1]);
            });
        });
        c.try_write().unwrap().push(2);
        assert_eq!(*c.try_read().unwrap(), [1, 2]);
    }

    /// Threads racing for the exclusive borrow: each either gets it or is refused
    /// with `OtherThread`; no update is lost and (under Miri) no access races.
    #[test]
    fn racing_threads_are_refused_never_overlap() {
        const THREADS: usize = 4;
        const ITERS: usize = if cfg!(miri) { 30 } else { 20_000 };
        let c = cell(Vec::<usize>::new());
        let won = AtomicUsize::new(0);
        thread::scope(|s| {
            for t in 0..THREADS {
                let (c, won) = (&c, &won);
                s.spawn(move || {
                    for i in 0..ITERS {
                        let got = if i % 3 == 0 {
                            c.try_read().map(|r| {
                                std::hint::black_box(r.len());
                            })
                        } else {
                            c.try_write().map(|mut w| {
                                w.push(t);
                                won.fetch_add(1, Ordering::Relaxed);
                            })
                        };
                        if let Err(e) = got {
                            assert_eq!(e, Conflict::OtherThread);
                        }
                    }
                });
            }
        });
        let c = c.into_inner();
        assert_eq!(c.len(), won.load(Ordering::Relaxed));
    }

    #[test]
    fn guard_is_released_when_a_panic_unwinds() {
        let c = cell(1u8);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _w = c.try_write().unwrap();
            panic!("inside");
        }));
        assert!(r.is_err());
        assert_eq!(*c.try_write().unwrap(), 1);
    }

    #[test]
    fn messages_name_the_object_its_site_and_the_rule() {
        let c = cell(0u32);
        let site = c.site.to_string();
        assert!(site.contains("borrow.rs:"), "{site}");
        let m = message(Conflict::Borrowed, "Shared", "u32", c.site);
        assert!(
            m.starts_with(&format!(
                "gosan: Shared<u32> created at {site} already borrowed:"
            )),
            "{m}"
        );
        let m = message(Conflict::MutablyBorrowed, "SharedVec", "u8", c.site);
        assert!(m.contains("SharedVec<u8> created at "), "{m}");
        assert!(m.contains(" already mutably borrowed:"), "{m}");
        let m = message(Conflict::OtherThread, "RaceCell", "u8", c.site);
        assert!(m.contains("used from two threads at once"), "{m}");
    }

    #[test]
    #[should_panic(expected = "gosan: Shared<String> created at ")]
    fn read_while_written_panics() {
        let c = cell(String::new());
        let _w = c.write("Shared", "String");
        let _r = c.read("Shared", "String");
    }

    #[test]
    #[should_panic(expected = "already borrowed: it cannot be borrowed mutably")]
    fn write_while_read_panics() {
        let c = cell(0u8);
        let _r = c.read("RaceCell", "u8");
        let _w = c.write("RaceCell", "u8");
    }

    #[test]
    fn tokens_are_per_thread_and_stable() {
        let a = owner_bits();
        assert_eq!(a, owner_bits());
        assert_ne!(a, 0);
        let b = thread::spawn(owner_bits).join().unwrap();
        assert_ne!(a, b);
        assert_eq!(b & !OWNER, 0);
    }
}
