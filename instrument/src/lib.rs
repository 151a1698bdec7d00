//! gosan-instrument: shared memory the race detector watches.
//!
//! Go instruments every memory access at compile time; Rust code under gosan says
//! which memory is shared:
//! - [`Shared<T>`]: a variable shared between goroutines (`Clone` handle, like a Go
//!   variable captured by several closures). `get`/`set`/`update`/`with`/`with_mut`
//!   are a read or a write of its address.
//! - [`SharedVec<T>`]: a growable vector with one shadow location per element and one
//!   for its length (Go's slice header), so `push` races with `push`/`len`, and
//!   `set(i)` races only with accesses to element `i`.
//! - [`RaceCell<T>`]: loom-style cell for unsafe code: `with(|p: *const T| ..)` is a
//!   read, `with_mut(|p: *mut T| ..)` a write.
//! - [`race`]: Go's `runtime.RaceRead`/`RaceWrite`/`RaceAcquire`/… annotations.
//!
//! Every access is a scheduling point (so `check` can interleave it) and, with the
//! detector on, an event for the FastTrack engine (`gosan_runtime::race`). Closures
//! given to `with`/`with_mut` run with switching suspended: they must not block (a
//! clear panic if they do), so no other goroutine can observe the borrowed value.
//!
//! # Shadow
//!
//! `Shared<T>` and `RaceCell<T>` keep the detector's record of their value next to it
//! (`gosan_runtime`'s `InlineShadow`: one FastTrack cell for the whole value, stamped
//! with the run that wrote it), read and written only while the access holds the
//! value's borrow (below), so the borrow word is also what makes the shadow
//! single-threaded. An access finds its shadow without a lookup, FastTrack's
//! same-epoch check comes first, and the site is the caller's `Location` plus the
//! return address. The shadow moves with the value (a `RaceCell` moved by `Vec`
//! growth leaves nothing at its old address) and dies with it. `SharedVec<T>` keeps
//! one inline shadow for its length and one per element, beside the elements under
//! the same borrow word (elements move when it grows; their shadows are not keyed by
//! address, so nothing is left behind); reports name them by a private synthetic
//! address range.
//!
//! # Soundness: the borrow rule and the thread rule
//!
//! The three cells hand out `&T`/`&mut T` (or, for `RaceCell`, pointers meant to
//! become them) through `&self`, from any clone and any thread, so each one carries a
//! borrow state (the private `borrow` module: `RefCell`'s counter made atomic) that
//! every access takes for its duration — the whole closure for `with`/`with_mut`,
//! the single read or write for `get`/`set`/`push`/`len`:
//!
//! - **Borrow rule.** Reads (`with`, `get`, `len`, `is_empty`, `SharedVec::with`,
//!   `RaceCell::with`) share; writes (`with_mut`, `set`, `push`,
//!   `RaceCell::with_mut`) are exclusive. A re-entrant access that breaks this — a
//!   `with_mut` or `set` of the same value from inside its `with`, a `push` inside
//!   `SharedVec::with`, any access inside `with_mut`, also through a clone — panics
//!   with `gosan: Shared<T> created at FILE:LINE:COL already borrowed: …` or
//!   `… already mutably borrowed: …`, naming the object's creation site. Inside a
//!   run, that panic is the run's `Report.panic`, like any other.
//! - **Thread rule.** At any moment one OS thread holds a cell's borrows. An access
//!   from a second thread while the first is inside one panics with `… used from two
//!   threads at once: …` instead of racing. A deterministic run executes all its
//!   goroutines on one thread, so within a run this never fires; it catches cells
//!   shared between concurrent runs (parallel libtest threads with one `static`) or
//!   plain threads without synchronization. Accesses that something orders — a
//!   `join`, a channel, a lock, one run ending before the next starts — hand the
//!   value over cleanly: the borrow word is released with `Release` and taken with
//!   `Acquire`, so the previous thread's writes are visible.
//!
//! Access **outside a gosan run** is allowed and sound under the same two rules (it
//! is how a `static` or a value built before `gosan::run` gets initialized and
//! checked afterwards); it is not a scheduling point and the detector does not see
//! it. Forbidding it would gain nothing the borrow word does not already give.
//!
//! That is what justifies `Send + Sync` for `T: Send` (DESIGN: every handle is): the
//! value is used by one thread at a time, with happens-before between consecutive
//! threads, exactly as a `Mutex<T>` moves its value — so `T: Sync` is not needed, and
//! a `T` that is not `Send` (an `Rc`) makes the handle neither `Send` nor `Sync`. The
//! cost is one compare-exchange to take a borrow and one store to release it: about
//! 5 ns per access (`cargo bench --bench runtime -- shared`, a `get`+`set` pair under
//! the detector: 47.6 → 57.0 ns).
//!
//! The parallel scheduler (`procs > 1`, not built yet) runs goroutines on several
//! threads; it will have to wait on the borrow word instead of panicking under the
//! thread rule.

mod borrow;
pub mod tsan;

use borrow::BorrowCell;
use gosan_runtime::__private::race as rt;
use gosan_runtime::__private::sched;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Go's `runtime.Race*` annotations, for code gosan cannot see into.
pub mod race {
    /// `size_of::<T>()` bytes at `p` were read (Go's `runtime.RaceRead`).
    #[track_caller]
    pub fn read<T>(p: *const T) {
        gosan_runtime::__private::race::read(p)
    }
    /// `size_of::<T>()` bytes at `p` were written (Go's `runtime.RaceWrite`).
    #[track_caller]
    pub fn write<T>(p: *const T) {
        gosan_runtime::__private::race::write(p)
    }
    /// `len` bytes from `p` were read (Go's `runtime.RaceReadRange`).
    #[track_caller]
    pub fn read_range(p: *const u8, len: usize) {
        gosan_runtime::__private::race::read_range(p, len)
    }
    /// `len` bytes from `p` were written (Go's `runtime.RaceWriteRange`).
    #[track_caller]
    pub fn write_range(p: *const u8, len: usize) {
        gosan_runtime::__private::race::write_range(p, len)
    }
    /// Acquire the sync clock keyed by `p` (Go's `runtime.RaceAcquire`).
    #[track_caller]
    pub fn acquire<T>(p: *const T) {
        gosan_runtime::__private::race::acquire_annotation(p)
    }
    /// Release into the sync clock keyed by `p`, replacing it (Go's
    /// `runtime.RaceRelease`).
    #[track_caller]
    pub fn release<T>(p: *const T) {
        gosan_runtime::__private::race::release_annotation(p)
    }
    /// Release into the sync clock keyed by `p`, keeping earlier releases (Go's
    /// `runtime.RaceReleaseMerge`).
    #[track_caller]
    pub fn release_merge<T>(p: *const T) {
        gosan_runtime::__private::race::release_merge_annotation(p)
    }
}

fn shadow_size<T>() -> u64 {
    (std::mem::size_of::<T>() as u64).max(1)
}

/// `T`'s name, for borrow-conflict messages.
fn ty<T>() -> &'static str {
    std::any::type_name::<T>()
}

/// Runs `f` with goroutine switches suspended; a blocking call inside panics.
fn pinned<R>(f: impl FnOnce() -> R) -> R {
    let _g = sched::NoSwitch::enter();
    f()
}

// ── Shared<T> ────────────────────────────────────────────────────────────────────

struct SharedInner<T> {
    cell: BorrowCell<T>,
    /// The value's shadow, next to it (see the crate docs' "Shadow").
    shadow: rt::InlineShadow,
}

impl<T> SharedInner<T> {
    fn addr(&self) -> u64 {
        self.cell.as_ptr() as u64
    }

    /// An access of the whole value. The caller holds a borrow of `cell`.
    #[inline]
    #[track_caller]
    fn access(&self, write: bool) {
        // SAFETY: the caller holds a borrow of `cell` on this thread (the borrow
        // word's thread rule), which is `access_inline`'s contract; no hook re-enters.
        unsafe { rt::access_inline(&self.shadow, self.addr(), shadow_size::<T>(), write) };
    }
}

impl<T> Drop for SharedInner<T> {
    fn drop(&mut self) {
        rt::freed(self.addr(), shadow_size::<T>());
    }
}

/// A variable shared between goroutines, watched by the race detector.
///
/// `Send + Sync` when `T: Send` (no `unsafe impl` here: it follows from the borrow
/// cell inside, see the [crate docs](crate#soundness-the-borrow-rule-and-the-thread-rule)).
///
/// # Panics
///
/// Every method borrows the value for its duration: `with` and `get` share, `with_mut`
/// and `set` are exclusive (`update` is a `get`, then a `set`). A borrow that
/// conflicts with one still live — a re-entrant call from inside a `with`/`with_mut`
/// closure on this or any clone — panics with `gosan: Shared<T> created at …
/// already borrowed` (an exclusive borrow inside a shared one) or `… already mutably
/// borrowed` (anything inside an exclusive one), naming where the variable was
/// created. An access from a second OS thread while another thread is inside one
/// panics with `… used from two threads at once`. Closures that block (a channel
/// operation, a lock) panic too.
///
/// ```
/// let r = gosan_runtime::run(|| {
///     let x = gosan_instrument::Shared::new(vec![1, 2]);
///     let y = x.clone();
///     x.with(|v| y.with_mut(|w| w.push(v[0]))); // &Vec and &mut Vec of one value
/// });
/// assert!(r.panic.unwrap().message.contains("already borrowed"));
/// ```
pub struct Shared<T> {
    inner: Arc<SharedInner<T>>,
}

impl<T> Shared<T> {
    /// A new shared variable; creating it counts as a write by the creator. The
    /// caller's location is the creation site that borrow panics name.
    #[track_caller]
    pub fn new(v: T) -> Shared<T> {
        let s = Shared {
            inner: Arc::new(SharedInner {
                cell: BorrowCell::new(v, Location::caller()),
                shadow: rt::InlineShadow::new(),
            }),
        };
        let w = s.inner.cell.write("Shared", ty::<T>());
        s.inner.access(true);
        drop(w);
        s
    }

    /// Its address, as race reports print it.
    pub fn addr(&self) -> u64 {
        self.inner.addr()
    }

    /// Reads through a shared reference (a read). `f` must not block.
    ///
    /// # Panics
    /// If the value is mutably borrowed (called from inside its `with_mut`), or
    /// borrowed on another thread right now; see [`Shared`].
    #[track_caller]
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        sched::sched_point();
        let v = self.inner.cell.read("Shared", ty::<T>());
        self.inner.access(false);
        pinned(|| f(&v))
    }

    /// Writes through an exclusive reference (a write). `f` must not block.
    ///
    /// # Panics
    /// If the value is borrowed at all (called from inside its `with`/`with_mut`), or
    /// on another thread right now; see [`Shared`].
    #[track_caller]
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        sched::sched_point();
        let mut v = self.inner.cell.write("Shared", ty::<T>());
        self.inner.access(true);
        pinned(|| f(&mut v))
    }
}

impl<T: Copy> Shared<T> {
    /// The value (a read).
    ///
    /// # Panics
    /// Inside this value's `with_mut`, or while another thread uses it; see
    /// [`Shared`].
    #[track_caller]
    pub fn get(&self) -> T {
        sched::sched_point_on(self.addr() as usize);
        let v = self.inner.cell.read("Shared", ty::<T>());
        self.inner.access(false);
        *v
    }

    /// Replaces the value (a write).
    ///
    /// # Panics
    /// Inside this value's `with`/`with_mut`, or while another thread uses it; see
    /// [`Shared`].
    #[track_caller]
    pub fn set(&self, v: T) {
        sched::sched_point_on(self.addr() as usize);
        let mut w = self.inner.cell.write("Shared", ty::<T>());
        self.inner.access(true);
        *w = v;
    }

    /// A read, a scheduling point, then a write: Go's `x += 1`, not atomic.
    ///
    /// # Panics
    /// As [`get`](Self::get) and [`set`](Self::set).
    #[track_caller]
    pub fn update(&self, f: impl FnOnce(&mut T)) {
        let mut v = self.get();
        f(&mut v);
        self.set(v);
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared({:#x})", self.addr())
    }
}

impl<T: Default> Default for Shared<T> {
    #[track_caller]
    fn default() -> Self {
        Shared::new(T::default())
    }
}

// ── SharedVec<T> ─────────────────────────────────────────────────────────────────

/// Addresses that name a `SharedVec`'s locations in race reports: each vector gets a
/// private synthetic range (length word first, then one slot per index) above any
/// real heap address. Only names: the shadow itself is inline ([`Items`]).
static NEXT_RANGE: AtomicU64 = AtomicU64::new(0x7e00_0000_0000_0000);
const RANGE: u64 = 1 << 36;

/// A `SharedVec`'s state behind its borrow word: the elements and their inline
/// shadows (one for the length, one per element), so an access holds the borrow that
/// the shadow's access protocol asks for.
struct Items<T> {
    v: Vec<T>,
    len: rt::InlineShadow,
    elems: Vec<rt::InlineShadow>,
}

struct VecInner<T> {
    items: BorrowCell<Items<T>>,
    base: u64,
}

impl<T> VecInner<T> {
    fn len_addr(&self) -> u64 {
        self.base
    }
    fn elem_addr(&self, i: usize) -> u64 {
        self.base + 8 + i as u64 * shadow_size::<T>()
    }
}

impl<T> Items<T> {
    /// An access of the length. The caller holds a borrow of the `Items`.
    #[inline]
    #[track_caller]
    fn access_len(&self, inner: &VecInner<T>, write: bool) {
        // SAFETY: the caller holds a borrow of these `Items` on this thread (the
        // borrow word's thread rule), which is `access_inline`'s contract.
        unsafe { rt::access_inline(&self.len, inner.len_addr(), 8, write) };
    }

    /// An access of element `i` (`i < elems.len()`). The caller holds a borrow.
    #[inline]
    #[track_caller]
    fn access_elem(&self, inner: &VecInner<T>, i: usize, write: bool) {
        let addr = inner.elem_addr(i);
        // SAFETY: as in `access_len`.
        unsafe { rt::access_inline(&self.elems[i], addr, shadow_size::<T>(), write) };
    }
}

/// A growable vector shared between goroutines, with one shadow location per element.
///
/// `Send + Sync` when `T: Send`, like [`Shared`].
///
/// # Panics
///
/// The same borrow and thread rules as [`Shared`]: `get`, `len`, `is_empty` and
/// `with` share the vector, `push` and `set` are exclusive. So a `push` (or `set`)
/// from inside a `with` closure — which could reallocate under the slice the closure
/// holds — panics with `gosan: SharedVec<T> created at … already borrowed`; an
/// access from a second OS thread while another is inside one panics with `… used
/// from two threads at once`. `get`/`set` out of range panic like Go.
pub struct SharedVec<T> {
    inner: Arc<VecInner<T>>,
}

#[cold]
#[track_caller]
fn out_of_range(i: usize, len: usize) -> ! {
    panic!("runtime error: index out of range [{i}] with length {len}")
}

impl<T> SharedVec<T> {
    /// An empty vector; creating it writes its length. The caller's location is the
    /// creation site that borrow panics name.
    #[track_caller]
    pub fn new() -> SharedVec<T> {
        let base = NEXT_RANGE.fetch_add(RANGE, Ordering::Relaxed);
        let v = SharedVec {
            inner: Arc::new(VecInner {
                items: BorrowCell::new(
                    Items {
                        v: Vec::new(),
                        len: rt::InlineShadow::new(),
                        elems: Vec::new(),
                    },
                    Location::caller(),
                ),
                base,
            }),
        };
        let items = v.inner.items.write("SharedVec", ty::<T>());
        items.access_len(&v.inner, true);
        drop(items);
        v
    }

    /// Appends `x`: reads and writes the length, writes the new element (Go's
    /// `s = append(s, x)`).
    ///
    /// # Panics
    /// Inside this vector's `with`, or while another thread uses it; see
    /// [`SharedVec`].
    #[track_caller]
    pub fn push(&self, x: T) {
        sched::sched_point();
        let mut items = self.inner.items.write("SharedVec", ty::<T>());
        items.access_len(&self.inner, false);
        items.access_len(&self.inner, true);
        let i = items.v.len();
        items.elems.push(rt::InlineShadow::new());
        items.access_elem(&self.inner, i, true);
        items.v.push(x);
    }

    /// Number of elements (a read of the length).
    ///
    /// # Panics
    /// While another thread uses the vector; see [`SharedVec`].
    #[track_caller]
    pub fn len(&self) -> usize {
        sched::sched_point();
        let items = self.inner.items.read("SharedVec", ty::<T>());
        items.access_len(&self.inner, false);
        items.v.len()
    }

    /// Whether it is empty (a read of the length).
    ///
    /// # Panics
    /// As [`len`](Self::len).
    #[track_caller]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces element `i` (reads the length, writes the element). The old element
    /// is dropped after the vector is released, so its destructor may use it.
    ///
    /// # Panics
    /// `runtime error: index out of range [i] with length n`, like Go; inside this
    /// vector's `with`, or while another thread uses it (see [`SharedVec`]).
    #[track_caller]
    pub fn set(&self, i: usize, x: T) {
        sched::sched_point();
        let mut items = self.inner.items.write("SharedVec", ty::<T>());
        items.access_len(&self.inner, false);
        if i >= items.v.len() {
            out_of_range(i, items.v.len());
        }
        items.access_elem(&self.inner, i, true);
        let old = std::mem::replace(&mut items.v[i], x);
        drop(items);
        drop(old);
    }

    /// Runs `f` on a borrow of all elements (reads the length and every element).
    /// `f` must not block, and must not `push` or `set` this vector.
    ///
    /// # Panics
    /// If `f` pushes to or sets this vector (`already borrowed`), or while another
    /// thread uses it; see [`SharedVec`].
    #[track_caller]
    pub fn with<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        sched::sched_point();
        let items = self.inner.items.read("SharedVec", ty::<T>());
        items.access_len(&self.inner, false);
        for i in 0..items.v.len() {
            items.access_elem(&self.inner, i, false);
        }
        pinned(|| f(&items.v))
    }
}

impl<T: Copy> SharedVec<T> {
    /// Element `i` (reads the length and the element).
    ///
    /// # Panics
    /// `runtime error: index out of range [i] with length n`, like Go; while another
    /// thread uses the vector (see [`SharedVec`]).
    #[track_caller]
    pub fn get(&self, i: usize) -> T {
        sched::sched_point();
        let items = self.inner.items.read("SharedVec", ty::<T>());
        items.access_len(&self.inner, false);
        if i >= items.v.len() {
            out_of_range(i, items.v.len());
        }
        items.access_elem(&self.inner, i, false);
        items.v[i]
    }
}

impl<T> Clone for SharedVec<T> {
    fn clone(&self) -> Self {
        SharedVec {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for SharedVec<T> {
    #[track_caller]
    fn default() -> Self {
        SharedVec::new()
    }
}

impl<T> fmt::Debug for SharedVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedVec({:#x})", self.inner.base)
    }
}

// ── RaceCell<T> ──────────────────────────────────────────────────────────────────

/// A cell for unsafe code, in loom's style: every use says whether it reads or
/// writes, and the detector checks it.
///
/// Dereferencing the pointers is the caller's `unsafe` duty; what the cell
/// guarantees is its borrow state: while a `with_mut` closure runs, no other
/// `with`/`with_mut` of this cell runs (on any thread), and while a `with` closure
/// runs, no `with_mut` does. So `&mut *p` inside `with_mut` and `&*p` inside `with`
/// alias nothing the cell hands out, as long as they do not outlive the closure (as
/// loom's `UnsafeCell` checks). `Send + Sync` when `T: Send`.
///
/// # Panics
///
/// A `with_mut` inside a `with` or `with_mut` of the same cell panics with
/// `gosan: RaceCell<T> created at … already borrowed` / `… already mutably
/// borrowed`, a `with` inside a `with_mut` with the latter; an access from a second
/// OS thread while another is inside one panics with `… used from two threads at
/// once`. Closures that block panic too.
pub struct RaceCell<T> {
    cell: BorrowCell<T>,
    /// The value's shadow, inside the cell: it moves with it (see the crate docs'
    /// "Shadow").
    shadow: rt::InlineShadow,
}

impl<T> RaceCell<T> {
    /// A new cell. (It may still move, so creation is not an access; accesses are
    /// keyed by the cell's address when used, as with a Go variable.) The caller's
    /// location is the creation site that borrow panics name.
    #[track_caller]
    pub fn new(v: T) -> RaceCell<T> {
        RaceCell {
            cell: BorrowCell::new(v, Location::caller()),
            shadow: rt::InlineShadow::new(),
        }
    }

    /// A read: `f` gets a `*const T`, valid for reads while `f` runs.
    ///
    /// # Panics
    /// Inside this cell's `with_mut`, or while another thread uses it; see
    /// [`RaceCell`].
    #[track_caller]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        sched::sched_point();
        let r = self.cell.read("RaceCell", ty::<T>());
        self.access(false);
        pinned(|| f(r.as_ptr()))
    }

    /// A write: `f` gets a `*mut T`, valid for reads and writes while `f` runs.
    ///
    /// # Panics
    /// Inside this cell's `with`/`with_mut`, or while another thread uses it; see
    /// [`RaceCell`].
    #[track_caller]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        sched::sched_point();
        let w = self.cell.write("RaceCell", ty::<T>());
        self.access(true);
        pinned(|| f(w.as_ptr()))
    }

    /// An access of the whole value. The caller holds a borrow of `cell`.
    #[inline]
    #[track_caller]
    fn access(&self, write: bool) {
        let addr = self.cell.as_ptr() as u64;
        // SAFETY: the caller holds a borrow of `cell` on this thread (the borrow
        // word's thread rule), which is `access_inline`'s contract; no hook re-enters.
        unsafe { rt::access_inline(&self.shadow, addr, shadow_size::<T>(), write) };
    }

    /// The value, consuming the cell.
    pub fn into_inner(self) -> T {
        let addr = self.cell.as_ptr() as u64;
        rt::freed(addr, shadow_size::<T>());
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again, so the cell is moved out once
        // (and its shadow dropped once).
        drop(unsafe { std::ptr::read(&me.shadow) });
        // SAFETY: as above.
        unsafe { std::ptr::read(&me.cell) }.into_inner()
    }
}

impl<T> Drop for RaceCell<T> {
    fn drop(&mut self) {
        rt::freed(self.cell.as_ptr() as u64, shadow_size::<T>());
    }
}

impl<T> fmt::Debug for RaceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RaceCell({:p})", self.cell.as_ptr())
    }
}
