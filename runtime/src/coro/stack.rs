//! Goroutine stacks: pooled, guarded while the process can afford guard pages, and
//! carved from shared slabs beyond that.
//!
//! # Why two kinds
//! A guarded stack is one `mmap` plus an `mprotect`ed guard page: two kernel memory
//! mappings (VMAs). Linux's default `vm.max_map_count` is 65530, which would cap a
//! process near 32k live goroutines. So:
//! - **Guarded** stacks are used while the process-wide count of guarded stacks stays
//!   under a budget computed from `max_map_count` ([`guard_budget`]). Overflow hits the
//!   guard page and the SIGSEGV handler in `super::overflow` reports it.
//! - **Slab** stacks (beyond the budget) are carved 64 at a time from one mapping (one
//!   VMA for 64 stacks). Each has a red zone at its low end whose top words must stay
//!   zero (fresh anonymous memory is zero and only an overflow writes there; reading
//!   it maps the shared zero page, so the check costs no resident memory). The
//!   scheduler checks them at every switch and the SIGSEGV handler checks the stack
//!   pointer, so an overflow is reported at the next switch or fault.
//!   A frame can jump past the red zone and write only zeros there (a large zeroed
//!   array): so the top [`TOP_RESERVE`] bytes of every slab stack are never used by
//!   its goroutine and hold a non-zero canary, and a slab mapping starts with a
//!   header page whose last bytes hold one too. Every slab stack thus has a canary
//!   directly below its red zone (its lower neighbour's, or the header's), and the
//!   switch check compares it too: an overflow that ran through the red zone into
//!   the neighbour is reported at the next switch, before the neighbour runs again.
//!   Invariant: no hardware guard separates slab stacks (a guard page per stack
//!   would cost the two mappings per stack the slabs exist to avoid), so what is
//!   caught is an overflow that leaves a trace in the red zone, in the canary below
//!   it, or in the stack pointer at a fault; a frame that skips the red zone *and*
//!   the 64 canary bytes and writes only below them in the neighbour, then returns
//!   before any switch, is not. Documented in ARCHITECTURE.md.
//!
//! # Pooling
//! A fresh stack costs ~8.5 µs (mmap + mprotect); reuse costs a `Vec::pop`. Stacks of
//! finished goroutines go to a per-thread pool (no lock), capped at `POOL_CAP`; slab
//! stacks beyond the cap return to a global free list (slabs are never unmapped).

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Usable bytes of every goroutine stack (virtual; pages are committed on first touch).
pub(crate) const STACK_SIZE: usize = 256 * 1024;
/// Guard region under a guarded stack; red zone at the low end of a slab stack.
pub(crate) const GUARD_SIZE: usize = 16 * 1024;
/// Stacks kept per thread for reuse.
const POOL_CAP: usize = 16 * 1024;
/// Stacks carved from one slab mapping.
const SLAB_STACKS: usize = 64;
/// Canary words written at the bottom of a slab stack's red zone.
/// Words at the top of a slab stack's red zone that must stay zero.
const CANARY_WORDS: usize = 8;
/// Bytes at the top of a slab stack its goroutine never uses: they hold [`CANARY`].
pub(crate) const TOP_RESERVE: usize = 64;
/// The word pattern of a slab canary (any non-zero pattern a zero fill or a typical
/// pointer cannot produce).
const CANARY: u64 = 0x90_5a_4e_ca_4a_12_7b_3d;
/// The header page at the start of each slab mapping (its last bytes hold a canary
/// for the slab's lowest stack).
const SLAB_HEADER: usize = 4096;

/// Guarded stacks live in the process right now (pooled ones included).
static GUARDED_LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many guarded stacks the process may hold: half of what `vm.max_map_count`
/// leaves after a reserve of 16k mappings for everything else (heap arenas, libraries,
/// other threads' stacks).
pub(crate) fn guard_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(65530);
        max.saturating_sub(16 * 1024) / 2
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Owns `[map_base, map_base + map_len)`; the lowest GUARD_SIZE bytes are PROT_NONE.
    Guarded { map_base: usize, map_len: usize },
    /// A slice of a slab; the lowest GUARD_SIZE bytes are a red zone that must stay zero.
    Slab,
}

/// One goroutine stack: `[lo, hi)` with the guard/red zone at `[lo, lo + GUARD_SIZE)`.
#[derive(Debug)]
pub(crate) struct GoStack {
    lo: usize,
    hi: usize,
    kind: Kind,
}

// SAFETY: `base()`/`limit()` describe memory owned by this GoStack for its whole
// lifetime, mapped read-write between `limit` and `base`, aligned to the page size
// (hence to corosensei's STACK_ALIGNMENT).
unsafe impl corosensei::stack::Stack for GoStack {
    fn base(&self) -> NonZeroUsize {
        let top = match self.kind {
            Kind::Guarded { .. } => self.hi,
            Kind::Slab => self.hi - TOP_RESERVE,
        };
        NonZeroUsize::new(top).unwrap_or_else(|| fatal!("GoStack::base", "stack: null base"))
    }
    fn limit(&self) -> NonZeroUsize {
        NonZeroUsize::new(self.lo + GUARD_SIZE)
            .unwrap_or_else(|| fatal!("GoStack::limit", "stack: null limit"))
    }
}

impl GoStack {
    /// Lowest and highest address of the stack memory, guard region included.
    pub(crate) fn bounds(&self) -> (usize, usize) {
        (self.lo, self.hi)
    }

    pub(crate) fn is_guarded(&self) -> bool {
        matches!(self.kind, Kind::Guarded { .. })
    }

    /// For slab stacks: has the red zone been written to or is `sp`
    /// inside it? Guarded stacks never need this (the guard page faults). The loop
    /// checks the red zone through [`slab_overflowed`]; this is the stack's own view,
    /// for its tests.
    #[cfg(test)]
    pub fn overflowed(&self, sp: usize) -> bool {
        !self.is_guarded() && slab_overflowed(self.lo, sp)
    }

    #[cold]
    fn new_guarded() -> Option<GoStack> {
        let len = STACK_SIZE + GUARD_SIZE;
        // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: the guard range is the start of the mapping made just above.
        if unsafe { libc::mprotect(base, GUARD_SIZE, libc::PROT_NONE) } != 0 {
            // SAFETY: unmapping the mapping made above, which nothing else uses.
            unsafe { libc::munmap(base, len) };
            return None;
        }
        GUARDED_LIVE.fetch_add(1, Ordering::Relaxed);
        let lo = base as usize;
        Some(GoStack {
            lo,
            hi: lo + len,
            kind: Kind::Guarded {
                map_base: lo,
                map_len: len,
            },
        })
    }

    #[cold]
    fn new_slab() -> GoStack {
        let mut free = SLAB_FREE.lock().unwrap_or_else(|e| e.into_inner());
        if free.is_empty() {
            let one = STACK_SIZE + GUARD_SIZE;
            let len = SLAB_HEADER + one * SLAB_STACKS;
            // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                fatal!(
                    "stack::alloc",
                    "out of memory for goroutine stacks (mmap failed)"
                );
            }
            let first = base as usize + SLAB_HEADER;
            // The canary under each stack's red zone: the header's top, then each
            // stack's own top for the stack above it.
            for i in 0..=SLAB_STACKS {
                // SAFETY: `first + i * one` lies in the mapping made above
                // (`SLAB_HEADER <= first - base`, `first + SLAB_STACKS * one` is its end),
                // and the TOP_RESERVE bytes below it are the header's or stack `i-1`'s
                // reserved top, which no goroutine uses.
                unsafe { write_canary(first + i * one) };
            }
            free.extend((0..SLAB_STACKS).rev().map(|i| first + i * one));
        }
        let lo = free
            .pop()
            .unwrap_or_else(|| fatal!("stack::alloc", "stack: slab free list refilled above"));
        GoStack {
            lo,
            hi: lo + STACK_SIZE + GUARD_SIZE,
            kind: Kind::Slab,
        }
    }

    fn release(self) {
        match self.kind {
            Kind::Guarded { map_base, map_len } => {
                // SAFETY: this GoStack owns the mapping and is consumed here.
                unsafe { libc::munmap(map_base as *mut libc::c_void, map_len) };
                GUARDED_LIVE.fetch_sub(1, Ordering::Relaxed);
            }
            Kind::Slab => {
                // Slabs are never unmapped; the slice goes back to the free list.
                SLAB_FREE
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(self.lo);
            }
        }
    }
}

/// Writes the canary into the `TOP_RESERVE` bytes below `at`.
///
/// # Safety
/// `[at - TOP_RESERVE, at)` is mapped, writable and used by nothing else.
unsafe fn write_canary(at: usize) {
    for i in 0..TOP_RESERVE / 8 {
        // SAFETY: per the contract.
        unsafe { std::ptr::write_volatile((at - TOP_RESERVE + 8 * i) as *mut u64, CANARY) };
    }
}

/// Whether the slab stack starting at `lo` overflowed: `sp` (if known, else 0) is in
/// its red zone, a word at the top of the red zone is no longer zero, or the canary
/// directly below the red zone (module docs) was overwritten.
#[inline]
pub(crate) fn slab_overflowed(lo: usize, sp: usize) -> bool {
    if sp != 0 && sp < lo + GUARD_SIZE {
        return true;
    }
    let red = (0..CANARY_WORDS).any(|i| {
        // SAFETY: the words lie at the top of the red zone of the slab stack at `lo`,
        // which stays mapped for the life of the process.
        unsafe {
            std::ptr::read_volatile((lo + GUARD_SIZE - 8 * CANARY_WORDS + 8 * i) as *const u64) != 0
        }
    });
    red || (0..TOP_RESERVE / 8).any(|i| {
        // SAFETY: below a slab stack's `lo` lies its slab's header or the stack under
        // it, in the same mapping (`new_slab`), mapped for the life of the process.
        unsafe { std::ptr::read_volatile((lo - TOP_RESERVE + 8 * i) as *const u64) != CANARY }
    })
}

/// Slab stack slices not in use (process-wide; slabs are never unmapped).
static SLAB_FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

thread_local! {
    /// Per-thread stack pool: reuse costs a pop, no lock.
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { stacks: Vec::new() }) };
}

struct Pool {
    stacks: Vec<GoStack>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        for s in self.stacks.drain(..) {
            s.release();
        }
    }
}

/// A stack for a new goroutine: pooled if possible, else guarded within budget, else
/// from a slab.
#[inline]
pub(crate) fn alloc() -> GoStack {
    if let Some(s) = POOL.with(|p| p.borrow_mut().stacks.pop()) {
        return s;
    }
    alloc_slow()
}

#[cold]
fn alloc_slow() -> GoStack {
    if GUARDED_LIVE.load(Ordering::Relaxed) < guard_budget() {
        if let Some(s) = GoStack::new_guarded() {
            return s;
        }
    }
    GoStack::new_slab()
}

/// Returns a finished goroutine's stack for reuse.
#[inline]
pub(crate) fn free(s: GoStack) {
    let rest = POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.stacks.len() < POOL_CAP {
            p.stacks.push(s);
            None
        } else {
            Some(s)
        }
    });
    if let Some(s) = rest {
        s.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corosensei::stack::Stack;

    #[test]
    fn pooled_stack_is_reused() {
        let a = alloc();
        let lo = a.bounds().0;
        free(a);
        let b = alloc();
        assert_eq!(b.bounds().0, lo);
        assert!(b.limit().get() < b.base().get());
        free(b);
    }

    #[test]
    fn slab_red_zone_write_is_detected() {
        let s = GoStack::new_slab();
        assert!(!s.overflowed(0));
        assert!(!s.overflowed(s.hi - 64));
        assert!(s.overflowed(s.lo + 100), "sp inside the red zone");
        let top = s.lo + GUARD_SIZE - 8;
        // SAFETY: writing inside the slab stack's own red zone.
        unsafe { std::ptr::write_volatile(top as *mut u64, 0x5a5a) };
        assert!(s.overflowed(0));
        // SAFETY: as above (restore the zero before the slice is reused).
        unsafe { std::ptr::write_volatile(top as *mut u64, 0) };
        assert!(!s.overflowed(0));
        s.release();
    }

    #[test]
    fn slab_overflow_past_the_red_zone_with_zeros_is_detected() {
        let s = GoStack::new_slab();
        assert!(!s.overflowed(0));
        // The goroutine's usable top stops short of the canary it carries for the
        // stack above it.
        assert_eq!(s.base().get(), s.hi - TOP_RESERVE);
        // A frame that ran through the red zone writing zeros into the memory below
        // it (the lower neighbour's reserved top, or the slab header).
        let below = s.lo - 8;
        // SAFETY: the word is the reserved canary under this slab stack (same mapping).
        let old = unsafe { std::ptr::read_volatile(below as *const u64) };
        assert_eq!(old, CANARY);
        // SAFETY: as above; restored below before anything else can look.
        unsafe { std::ptr::write_volatile(below as *mut u64, 0) };
        assert!(s.overflowed(0), "zeroed canary below the red zone");
        // SAFETY: as above.
        unsafe { std::ptr::write_volatile(below as *mut u64, old) };
        assert!(!s.overflowed(0));
        s.release();
    }
}
