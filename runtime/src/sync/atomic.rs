//! `sync::atomic`: std's atomics, with every operation a scheduling point.
//!
//! Same names, signatures and semantics as `std::sync::atomic` (and Go's
//! `sync/atomic` in spirit); [`Ordering`] is std's. The value lives in the std atomic
//! itself, so the hardware gives each operation its usual atomicity and ordering; the
//! wrapper only adds [`sched::sched_point`] before each operation so that `check`
//! explores interleavings between atomic accesses (DESIGN.md "Schedules": every sync
//! operation is a scheduling point).
//!
//! A failed `compare_exchange`/`compare_exchange_weak` is a yield, like a failed
//! `try_lock`: the CAS retry loop that waits for another goroutine's store demotes
//! its goroutine (PCT) so the other one gets to run, and terminates under every
//! strategy. (`compare_exchange_weak` never fails spuriously in practice on the
//! platforms gosan runs on; correct code tolerates both.) A loop that spins on
//! `load` alone does not yield: put `gosched()` in it, as Go's docs advise.
//!
//! Not scheduling points: `new`, `into_inner`, `get_mut`, `as_ptr`, `Debug`.
//!
//! # Race detector (C11 edges, DESIGN.md "sync"; TSan's `tsan_interface_atomic`)
//! Every operation is an *atomic* access of the atomic's own address (never a race
//! with another atomic access, a race with a plain `race::read`/`write` of that
//! address). Edges go through the sync clock keyed by that address:
//! - a load with `Acquire`/`AcqRel`/`SeqCst` acquires it (after the load);
//! - a store with `Release`/`SeqCst` release-stores into it (before the store);
//! - a read-modify-write (swap, `fetch_*`, a successful CAS or `fetch_update`)
//!   acquires it if its ordering has acquire, and release-*merges* into it if it has
//!   release (an RMW continues the release sequence of the stores before it);
//! - a failed CAS is a load with its failure ordering (an atomic read);
//! - `Relaxed` creates no edge: a `Relaxed` flag publishing plain data is a race on
//!   that data, a Rust bug class Go cannot have.
//!
//! `into_inner`, `get_mut` and `Debug` are not accesses. Dropping an atomic frees
//! its address (its access history is forgotten), so memory reused by a later
//! allocation starts clean.

use crate::race;
use crate::sched;
use std::fmt;
use std::mem::ManuallyDrop;
pub use std::sync::atomic::Ordering;

/// Whether `o` has acquire semantics.
#[inline]
fn has_acquire(o: Ordering) -> bool {
    matches!(o, Ordering::Acquire | Ordering::AcqRel | Ordering::SeqCst)
}

/// Whether `o` has release semantics.
#[inline]
fn has_release(o: Ordering) -> bool {
    matches!(o, Ordering::Release | Ordering::AcqRel | Ordering::SeqCst)
}

/// A load of `size` bytes at `p` with `order` happened: an atomic read, then the
/// acquire.
#[inline]
#[track_caller]
fn loaded<T>(p: *const T, size: usize, order: Ordering) {
    race::atomic_access(p as u64, size as u64, false);
    if has_acquire(order) {
        race::acquire_addr(p);
    }
}

/// A store with `order` is about to happen: an atomic write, then the release
/// (a store: it starts a new release sequence).
#[inline]
#[track_caller]
fn storing<T>(p: *const T, size: usize, order: Ordering) {
    race::atomic_access(p as u64, size as u64, true);
    if has_release(order) {
        race::release_addr(p);
    }
}

/// A read-modify-write with `order`: an atomic write, the acquire, then the
/// release (a merge: it continues the release sequence).
#[inline]
#[track_caller]
fn rmw<T>(p: *const T, size: usize, order: Ordering) {
    race::atomic_access(p as u64, size as u64, true);
    if has_acquire(order) {
        race::acquire_addr(p);
    }
    if has_release(order) {
        race::release_merge_addr(p);
    }
}

/// A compare-exchange returned `r`: an RMW with `success`, or a load with `failure`.
#[inline]
#[track_caller]
fn cas_done<T, V>(
    p: *const T,
    size: usize,
    r: &Result<V, V>,
    success: Ordering,
    failure: Ordering,
) {
    match r {
        Ok(_) => rmw(p, size, success),
        Err(_) => loaded(p, size, failure),
    }
}

macro_rules! common {
    ($name:ident, $std:ident, $t:ty) => {
        impl $name {
            /// A new atomic holding `v`.
            pub const fn new(v: $t) -> $name {
                $name {
                    v: std::sync::atomic::$std::new(v),
                }
            }

            /// The value (we own the atomic: no synchronization needed). Ends the
            /// atomic's life, like dropping it.
            pub fn into_inner(self) -> $t {
                let me = ManuallyDrop::new(self);
                race::freed(me.addr() as u64, Self::SIZE as u64);
                // SAFETY: `me` is never dropped nor used again: `v` is moved out once.
                unsafe { std::ptr::read(&me.v) }.into_inner()
            }

            const SIZE: usize = std::mem::size_of::<$t>();

            /// The race detector's key for this atomic: its address.
            #[inline]
            fn addr(&self) -> *const $t {
                self.v.as_ptr()
            }

            /// The value through `&mut self` (no synchronization needed).
            pub fn get_mut(&mut self) -> &mut $t {
                self.v.get_mut()
            }

            /// A raw pointer to the value (std's `as_ptr`).
            pub const fn as_ptr(&self) -> *mut $t {
                self.v.as_ptr()
            }

            /// Loads the value.
            #[inline]
            #[track_caller]
            pub fn load(&self, order: Ordering) -> $t {
                sched::sched_point();
                let v = self.v.load(order);
                loaded(self.addr(), Self::SIZE, order);
                v
            }

            /// Stores `val`.
            #[inline]
            #[track_caller]
            pub fn store(&self, val: $t, order: Ordering) {
                sched::sched_point();
                storing(self.addr(), Self::SIZE, order);
                self.v.store(val, order)
            }

            /// Stores `val`, returning the previous value.
            #[inline]
            #[track_caller]
            pub fn swap(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                rmw(self.addr(), Self::SIZE, order);
                self.v.swap(val, order)
            }

            /// Stores `new` if the value is `current`; `Err(actual)` (and a yield)
            /// otherwise.
            #[inline]
            #[track_caller]
            pub fn compare_exchange(
                &self,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                sched::sched_point();
                let r = self.v.compare_exchange(current, new, success, failure);
                cas_done(self.addr(), Self::SIZE, &r, success, failure);
                if r.is_err() {
                    sched::yield_now();
                }
                r
            }

            /// As `compare_exchange`, allowed to fail spuriously (std's contract).
            #[inline]
            #[track_caller]
            pub fn compare_exchange_weak(
                &self,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                sched::sched_point();
                let r = self.v.compare_exchange_weak(current, new, success, failure);
                cas_done(self.addr(), Self::SIZE, &r, success, failure);
                if r.is_err() {
                    sched::yield_now();
                }
                r
            }

            /// Applies `f` until it returns `None` or the store succeeds (std's
            /// `fetch_update`); one scheduling point, then atomic with respect to
            /// other goroutines (`f` must not block).
            #[inline]
            #[track_caller]
            pub fn fetch_update<F: FnMut($t) -> Option<$t>>(
                &self,
                set_order: Ordering,
                fetch_order: Ordering,
                f: F,
            ) -> Result<$t, $t> {
                sched::sched_point();
                let r = self.v.fetch_update(set_order, fetch_order, f);
                match r {
                    // Its first load had `fetch_order`, its successful CAS `set_order`.
                    Ok(_) => {
                        rmw(self.addr(), Self::SIZE, set_order);
                        if has_acquire(fetch_order) {
                            race::acquire_addr(self.addr());
                        }
                    }
                    Err(_) => loaded(self.addr(), Self::SIZE, fetch_order),
                }
                r
            }

            /// Bitwise and; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_and(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                rmw(self.addr(), Self::SIZE, order);
                self.v.fetch_and(val, order)
            }

            /// Bitwise nand; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_nand(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                rmw(self.addr(), Self::SIZE, order);
                self.v.fetch_nand(val, order)
            }

            /// Bitwise or; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_or(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                rmw(self.addr(), Self::SIZE, order);
                self.v.fetch_or(val, order)
            }

            /// Bitwise xor; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_xor(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                rmw(self.addr(), Self::SIZE, order);
                self.v.fetch_xor(val, order)
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new(<$t>::default())
            }
        }

        impl From<$t> for $name {
            fn from(v: $t) -> $name {
                $name::new(v)
            }
        }

        impl Drop for $name {
            /// The atomic's address is freed: its race history is forgotten.
            fn drop(&mut self) {
                race::freed(self.addr() as u64, Self::SIZE as u64);
            }
        }

        impl fmt::Debug for $name {
            /// The value, read Relaxed without a scheduling point (as std's `Debug`).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.v, f)
            }
        }
    };
}

macro_rules! atomic_int {
    ($($(#[$doc:meta])* $name:ident($std:ident, $t:ty);)*) => {$(
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $name {
            v: std::sync::atomic::$std,
        }

        common!($name, $std, $t);

        impl $name {
            /// Wrapping add; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_add(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                rmw(self.addr(), Self::SIZE, order);
                self.v.fetch_add(val, order)
            }

            /// Wrapping subtract; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_sub(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                rmw(self.addr(), Self::SIZE, order);
                self.v.fetch_sub(val, order)
            }

            /// Maximum; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_max(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                rmw(self.addr(), Self::SIZE, order);
                self.v.fetch_max(val, order)
            }

            /// Minimum; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_min(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                rmw(self.addr(), Self::SIZE, order);
                self.v.fetch_min(val, order)
            }
        }
    )*};
}

atomic_int! {
    /// `std::sync::atomic::AtomicI32` with scheduling points (Go's `atomic.Int32`).
    AtomicI32(AtomicI32, i32);
    /// `std::sync::atomic::AtomicI64` with scheduling points (Go's `atomic.Int64`).
    AtomicI64(AtomicI64, i64);
    /// `std::sync::atomic::AtomicU32` with scheduling points (Go's `atomic.Uint32`).
    AtomicU32(AtomicU32, u32);
    /// `std::sync::atomic::AtomicU64` with scheduling points (Go's `atomic.Uint64`).
    AtomicU64(AtomicU64, u64);
    /// `std::sync::atomic::AtomicUsize` with scheduling points (Go's `atomic.Uintptr`).
    AtomicUsize(AtomicUsize, usize);
}

/// `std::sync::atomic::AtomicBool` with scheduling points (Go's `atomic.Bool`).
#[repr(transparent)]
pub struct AtomicBool {
    v: std::sync::atomic::AtomicBool,
}

common!(AtomicBool, AtomicBool, bool);

impl AtomicBool {
    /// Logical not; returns the previous value.
    #[inline]
    #[track_caller]
    pub fn fetch_not(&self, order: Ordering) -> bool {
        sched::sched_point();
        rmw(self.addr(), Self::SIZE, order);
        self.v.fetch_not(order)
    }
}
