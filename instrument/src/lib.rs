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
//! Deterministic mode runs one goroutine at a time, so these cells never see two
//! accesses at once; the parallel scheduler will add a lock per cell.

use gosan_runtime::__private::race as rt;
use gosan_runtime::__private::sched;
use std::cell::UnsafeCell;
use std::fmt;
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

/// Runs `f` with goroutine switches suspended; a blocking call inside panics.
fn pinned<R>(f: impl FnOnce() -> R) -> R {
    let _g = sched::NoSwitch::enter();
    f()
}

// ── Shared<T> ────────────────────────────────────────────────────────────────────

struct SharedInner<T> {
    value: UnsafeCell<T>,
}

impl<T> SharedInner<T> {
    fn addr(&self) -> u64 {
        self.value.get() as u64
    }
}

impl<T> Drop for SharedInner<T> {
    fn drop(&mut self) {
        rt::freed(self.addr(), shadow_size::<T>());
    }
}

/// A variable shared between goroutines, watched by the race detector.
pub struct Shared<T> {
    inner: Arc<SharedInner<T>>,
}

// SAFETY: goroutines of a deterministic run execute one at a time on one thread and
// every access goes through a method that completes without switching (closures run
// pinned), so no two accesses overlap; values move between goroutines, hence T: Send.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// A new shared variable; creating it counts as a write by the creator.
    #[track_caller]
    pub fn new(v: T) -> Shared<T> {
        let s = Shared {
            inner: Arc::new(SharedInner {
                value: UnsafeCell::new(v),
            }),
        };
        rt::access(s.inner.addr(), shadow_size::<T>(), true, false);
        s
    }

    /// Its address, as race reports print it.
    pub fn addr(&self) -> u64 {
        self.inner.addr()
    }

    /// Reads through a shared reference (a read). `f` must not block.
    #[track_caller]
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        sched::sched_point();
        rt::access(self.addr(), shadow_size::<T>(), false, false);
        // SAFETY: see the Send/Sync impls: no other access overlaps this one.
        pinned(|| f(unsafe { &*self.inner.value.get() }))
    }

    /// Writes through an exclusive reference (a write). `f` must not block.
    #[track_caller]
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        sched::sched_point();
        rt::access(self.addr(), shadow_size::<T>(), true, false);
        // SAFETY: see the Send/Sync impls: no other access overlaps this one.
        pinned(|| f(unsafe { &mut *self.inner.value.get() }))
    }
}

impl<T: Copy> Shared<T> {
    /// The value (a read).
    #[track_caller]
    pub fn get(&self) -> T {
        sched::sched_point();
        rt::access(self.addr(), shadow_size::<T>(), false, false);
        // SAFETY: see the Send/Sync impls.
        unsafe { *self.inner.value.get() }
    }

    /// Replaces the value (a write).
    #[track_caller]
    pub fn set(&self, v: T) {
        sched::sched_point();
        rt::access(self.addr(), shadow_size::<T>(), true, false);
        // SAFETY: see the Send/Sync impls.
        unsafe { *self.inner.value.get() = v };
    }

    /// A read, a scheduling point, then a write: Go's `x += 1`, not atomic.
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

/// Shadow addresses of `SharedVec`s: elements move when the vector grows, so each
/// vector gets a private synthetic range (length word first, then one slot per
/// index) above any real heap address.
static NEXT_RANGE: AtomicU64 = AtomicU64::new(0x7e00_0000_0000_0000);
const RANGE: u64 = 1 << 36;

struct VecInner<T> {
    items: UnsafeCell<Vec<T>>,
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

impl<T> Drop for VecInner<T> {
    fn drop(&mut self) {
        let n = self.items.get_mut().len();
        rt::freed(self.base, 8 + n as u64 * shadow_size::<T>());
    }
}

/// A growable vector shared between goroutines, with one shadow location per element.
pub struct SharedVec<T> {
    inner: Arc<VecInner<T>>,
}

// SAFETY: as for `Shared<T>`: accesses never overlap in a deterministic run.
unsafe impl<T: Send> Send for SharedVec<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SharedVec<T> {}

#[cold]
#[track_caller]
fn out_of_range(i: usize, len: usize) -> ! {
    panic!("runtime error: index out of range [{i}] with length {len}")
}

impl<T> SharedVec<T> {
    /// An empty vector; creating it writes its length.
    #[track_caller]
    pub fn new() -> SharedVec<T> {
        let base = NEXT_RANGE.fetch_add(RANGE, Ordering::Relaxed);
        let v = SharedVec {
            inner: Arc::new(VecInner {
                items: UnsafeCell::new(Vec::new()),
                base,
            }),
        };
        rt::access(v.inner.len_addr(), 8, true, false);
        v
    }

    /// Appends `x`: reads and writes the length, writes the new element (Go's
    /// `s = append(s, x)`).
    #[track_caller]
    pub fn push(&self, x: T) {
        sched::sched_point();
        // SAFETY: see the Send/Sync impls.
        let items = unsafe { &mut *self.inner.items.get() };
        rt::access(self.inner.len_addr(), 8, false, false);
        rt::access(self.inner.len_addr(), 8, true, false);
        rt::access(
            self.inner.elem_addr(items.len()),
            shadow_size::<T>(),
            true,
            false,
        );
        items.push(x);
    }

    /// Number of elements (a read of the length).
    #[track_caller]
    pub fn len(&self) -> usize {
        sched::sched_point();
        rt::access(self.inner.len_addr(), 8, false, false);
        // SAFETY: see the Send/Sync impls.
        unsafe { (*self.inner.items.get()).len() }
    }

    /// Whether it is empty (a read of the length).
    #[track_caller]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces element `i` (reads the length, writes the element).
    ///
    /// # Panics
    /// `runtime error: index out of range [i] with length n`, like Go.
    #[track_caller]
    pub fn set(&self, i: usize, x: T) {
        sched::sched_point();
        rt::access(self.inner.len_addr(), 8, false, false);
        // SAFETY: see the Send/Sync impls.
        let items = unsafe { &mut *self.inner.items.get() };
        if i >= items.len() {
            out_of_range(i, items.len());
        }
        rt::access(self.inner.elem_addr(i), shadow_size::<T>(), true, false);
        items[i] = x;
    }

    /// Runs `f` on a snapshot borrow of all elements (reads the length and every
    /// element). `f` must not block.
    #[track_caller]
    pub fn with<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        sched::sched_point();
        rt::access(self.inner.len_addr(), 8, false, false);
        // SAFETY: see the Send/Sync impls.
        let items = unsafe { &*self.inner.items.get() };
        for i in 0..items.len() {
            rt::access(self.inner.elem_addr(i), shadow_size::<T>(), false, false);
        }
        pinned(|| f(items))
    }
}

impl<T: Copy> SharedVec<T> {
    /// Element `i` (reads the length and the element).
    ///
    /// # Panics
    /// `runtime error: index out of range [i] with length n`, like Go.
    #[track_caller]
    pub fn get(&self, i: usize) -> T {
        sched::sched_point();
        rt::access(self.inner.len_addr(), 8, false, false);
        // SAFETY: see the Send/Sync impls.
        let items = unsafe { &*self.inner.items.get() };
        if i >= items.len() {
            out_of_range(i, items.len());
        }
        rt::access(self.inner.elem_addr(i), shadow_size::<T>(), false, false);
        items[i]
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
pub struct RaceCell<T> {
    value: UnsafeCell<T>,
}

// SAFETY: the cell only hands out raw pointers; dereferencing them is the caller's
// `unsafe` responsibility, which the detector checks for races.
unsafe impl<T: Send> Sync for RaceCell<T> {}

impl<T> RaceCell<T> {
    /// A new cell. (It may still move, so creation is not an access; accesses are
    /// keyed by the cell's address when used, as with a Go variable.)
    pub fn new(v: T) -> RaceCell<T> {
        RaceCell {
            value: UnsafeCell::new(v),
        }
    }

    /// A read: `f` gets a `*const T`.
    #[track_caller]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        sched::sched_point();
        rt::access(self.value.get() as u64, shadow_size::<T>(), false, false);
        pinned(|| f(self.value.get()))
    }

    /// A write: `f` gets a `*mut T`.
    #[track_caller]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        sched::sched_point();
        rt::access(self.value.get() as u64, shadow_size::<T>(), true, false);
        pinned(|| f(self.value.get()))
    }

    /// The value, consuming the cell.
    pub fn into_inner(self) -> T {
        let addr = self.value.get() as u64;
        rt::freed(addr, shadow_size::<T>());
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again.
        unsafe { std::ptr::read(me.value.get()) }
    }
}

impl<T> Drop for RaceCell<T> {
    fn drop(&mut self) {
        rt::freed(self.value.get() as u64, shadow_size::<T>());
    }
}

impl<T> fmt::Debug for RaceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RaceCell({:p})", self.value.get())
    }
}
