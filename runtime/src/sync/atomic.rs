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
//! The race detector's C11 edges (DESIGN.md "sync") are added by its hooks, not here.

use crate::sched;
use std::fmt;
pub use std::sync::atomic::Ordering;

macro_rules! common {
    ($name:ident, $std:ident, $t:ty) => {
        impl $name {
            /// A new atomic holding `v`.
            pub const fn new(v: $t) -> $name {
                $name {
                    v: std::sync::atomic::$std::new(v),
                }
            }

            /// The value (we own the atomic: no synchronization needed).
            pub fn into_inner(self) -> $t {
                self.v.into_inner()
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
                self.v.load(order)
            }

            /// Stores `val`.
            #[inline]
            #[track_caller]
            pub fn store(&self, val: $t, order: Ordering) {
                sched::sched_point();
                self.v.store(val, order)
            }

            /// Stores `val`, returning the previous value.
            #[inline]
            pub fn swap(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
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
                self.v.fetch_update(set_order, fetch_order, f)
            }

            /// Bitwise and; returns the previous value.
            #[inline]
            pub fn fetch_and(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                self.v.fetch_and(val, order)
            }

            /// Bitwise nand; returns the previous value.
            #[inline]
            pub fn fetch_nand(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                self.v.fetch_nand(val, order)
            }

            /// Bitwise or; returns the previous value.
            #[inline]
            pub fn fetch_or(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                self.v.fetch_or(val, order)
            }

            /// Bitwise xor; returns the previous value.
            #[inline]
            pub fn fetch_xor(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
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
            pub fn fetch_add(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                self.v.fetch_add(val, order)
            }

            /// Wrapping subtract; returns the previous value.
            #[inline]
            pub fn fetch_sub(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                self.v.fetch_sub(val, order)
            }

            /// Maximum; returns the previous value.
            #[inline]
            pub fn fetch_max(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
                self.v.fetch_max(val, order)
            }

            /// Minimum; returns the previous value.
            #[inline]
            pub fn fetch_min(&self, val: $t, order: Ordering) -> $t {
                sched::sched_point();
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
    pub fn fetch_not(&self, order: Ordering) -> bool {
        sched::sched_point();
        self.v.fetch_not(order)
    }
}
