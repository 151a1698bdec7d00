//! Raw stack capture: by frame-pointer walk (a few ns, no allocation beyond the
//! result) on hot paths, by DWARF unwinding ([`unwind`], microseconds) only when a
//! report is built.
//!
//! The workspace builds with `-Cforce-frame-pointers=yes` (`.cargo/config.toml`), so
//! every frame starts with `[saved fp][return address]`. The walk only reads memory
//! inside `[lo, hi)`, the current goroutine's own stack, and stops at the first frame
//! pointer that leaves it or does not grow upward: code built without frame pointers
//! gives a truncated stack, never a crash. Symbolization happens later, in
//! `gosan_detector::report::symbolize`, only when a report is built.
//!
//! In a user's crate built without frame pointers (plain `cargo build`, no
//! `.cargo/config.toml`) the walk finds nothing, or worse, follows `rbp` used as a
//! general register into a chain that looks plausible. So every stack a report
//! prints that can still be unwound when the report is built is unwound with DWARF
//! unwind info ([`unwind`]): a parked goroutine's (its stack is intact until teardown;
//! `park.rs` `unwind_parked`), the running goroutine's at a race or a fatal error,
//! and a panicking one's in the panic hook. Walks taken earlier (a racing access's
//! previous site, a creation site) stay frame-pointer walks, completed by the
//! `#[track_caller]` location.

use smallvec::SmallVec;
use std::sync::atomic::{AtomicU8, Ordering};

/// Raw return addresses, innermost first.
pub(crate) type Pcs = SmallVec<[usize; 16]>;

/// Deepest walk kept.
pub(crate) const MAX_FRAMES: usize = 48;

/// The caller's frame pointer.
#[inline(always)]
pub(crate) fn frame_pointer() -> usize {
    let fp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        fp = 0;
    }
    fp
}

/// Calls `f` with each return address of the frame-pointer chain from `fp` (at most
/// `max`), reading only inside `[lo, hi)`; returns how many there were.
///
/// # Safety
/// `[lo, hi)` must be readable memory for the whole call: a live goroutine stack (or
/// another mapped, initialized range), typically the bounds of the goroutine `fp`
/// was taken on.
#[inline]
pub(crate) unsafe fn frames(
    fp: usize,
    lo: usize,
    hi: usize,
    max: usize,
    f: impl FnMut(usize),
) -> usize {
    if !frame_pointers_work() {
        return 0; // `rbp` is a general register here: its "chain" would be noise
    }
    // SAFETY: the caller's contract.
    unsafe { frames_unchecked(fp, lo, hi, max, f) }
}

/// [`frames`] without the [`frame_pointers_work`] check.
///
/// # Safety
/// As [`frames`].
#[inline]
unsafe fn frames_unchecked(
    mut fp: usize,
    lo: usize,
    hi: usize,
    max: usize,
    mut f: impl FnMut(usize),
) -> usize {
    let word = std::mem::size_of::<usize>();
    let mut n = 0;
    while n < max {
        if fp < lo || fp.checked_add(2 * word).is_none_or(|e| e > hi) || fp % word != 0 {
            break;
        }
        // SAFETY: `fp` and `fp + word` lie inside [lo, hi) (checked just above),
        // which the caller guarantees is readable.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + word) as *const usize)) };
        if ret == 0 {
            break;
        }
        f(ret);
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}

/// The frame-pointer chain from `fp` as raw PCs (see [`frames`]).
///
/// # Safety
/// As [`frames`].
pub(crate) unsafe fn walk(fp: usize, lo: usize, hi: usize, max: usize) -> Pcs {
    let mut out = Pcs::new();
    // SAFETY: the caller's contract is `frames`'.
    unsafe { frames(fp, lo, hi, max, |r| out.push(r)) };
    out
}

/// [`walk`] into a fixed array (at most `N` frames); returns how many were written.
///
/// # Safety
/// As [`frames`].
#[inline]
pub(crate) unsafe fn walk_array<const N: usize>(
    out: &mut [usize; N],
    fp: usize,
    lo: usize,
    hi: usize,
) -> usize {
    let mut n = 0;
    // SAFETY: the caller's contract is `frames`'.
    unsafe {
        frames(fp, lo, hi, N, |r| {
            out[n] = r;
            n += 1;
        })
    }
}

/// The running code's stack by DWARF unwinding (`backtrace::trace`, i.e. the
/// system unwinder reading `.eh_frame`): raw instruction pointers, innermost first,
/// at most `max`, starting with the unwinder's and the caller's own frames (the
/// symbolizer drops internal frames). Stops at the first frame whose stack pointer
/// leaves `[lo, hi)`: beyond a goroutine's root lie the scheduler's frames.
///
/// Cold: microseconds a frame. Works without frame pointers; corosensei's `unwind`
/// feature gives its stack-switch trampolines the CFI the unwinder needs to stop
/// cleanly at a coroutine's root.
#[cold]
#[inline(never)]
pub(crate) fn unwind(lo: usize, hi: usize, max: usize) -> Pcs {
    let mut out = Pcs::new();
    backtrace::trace(|frame| {
        let sp = frame.sp() as usize;
        if sp != 0 && (sp < lo || sp >= hi) {
            return false;
        }
        out.push(frame.ip() as usize);
        out.len() < max
    });
    out
}

/// Frames [`unwind`] may spend on the unwinder, the hook or park machinery and
/// gosan's internals before the user's frames start.
pub(crate) const INTERNAL_FRAMES: usize = 24;

/// The running goroutine's stack for a report: [`unwind`] (complete without frame
/// pointers), or the frame-pointer walk from `fp` should the unwinder find nothing.
///
/// # Safety
/// As [`frames`]: `[lo, hi)` is the running goroutine's live stack, `fp` a frame
/// pointer on it.
#[cold]
pub(crate) unsafe fn running_stack(fp: usize, lo: usize, hi: usize) -> Pcs {
    let pcs = unwind(lo, hi, MAX_FRAMES + INTERNAL_FRAMES);
    if pcs.is_empty() {
        // SAFETY: the caller's contract is `frames`'.
        unsafe { walk(fp, lo, hi, MAX_FRAMES) }
    } else {
        pcs
    }
}

/// Whether this binary keeps frame pointers (0: not probed yet, 1: yes, 2: no).
/// Relaxed: every thread computes the same answer, so a racing probe only repeats
/// the work.
static FRAME_POINTERS: AtomicU8 = AtomicU8::new(0);

/// Whether gosan's code was built with frame pointers (`-Cforce-frame-pointers=yes`,
/// as `.cargo/config.toml` and `cargo gosan` set), probed once per process: in a
/// plain `cargo build` without them `rbp` is a general register and a walk would
/// follow noise, so every walk finds nothing and reports unwind with DWARF instead.
#[inline]
pub(crate) fn frame_pointers_work() -> bool {
    match FRAME_POINTERS.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => probe_frame_pointers(),
    }
}

#[cold]
#[inline(never)]
fn probe_frame_pointers() -> bool {
    let marker = 0u8;
    // `probe_callee`'s saved frame pointer and return address lie between its
    // locals and `marker`, in memory mapped for the whole call.
    let ok = probe_callee(std::hint::black_box(&marker as *const u8 as usize));
    FRAME_POINTERS.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
    std::hint::black_box(ok)
}

/// The frame-pointer walk's first return address must be one the DWARF unwinder
/// sees too (the return into `probe_frame_pointers`).
#[inline(never)]
fn probe_callee(hi: usize) -> bool {
    let fp = frame_pointer();
    let here = 0u8;
    let lo = std::hint::black_box(&here as *const u8 as usize);
    let mut ret = 0;
    // SAFETY: `[lo, hi)` runs from a local of this frame to a local of our caller's:
    // stack memory mapped and initialized for this whole call.
    unsafe { frames_unchecked(fp, lo, hi, 1, |r| ret = r) };
    if ret == 0 {
        return false;
    }
    let mut seen = false;
    let mut n = 0;
    backtrace::trace(|frame| {
        seen |= frame.ip() as usize == ret;
        n += 1;
        !seen && n < 16
    });
    seen
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_probe_agrees_with_the_build() {
        // The workspace builds with frame pointers (`.cargo/config.toml`) unless
        // RUSTFLAGS replaced them; `tests/user_stacks.rs` covers the other case.
        let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
        let ok = super::frame_pointers_work();
        if flags.contains("force-frame-pointers=yes") {
            assert!(ok);
        }
        assert_eq!(ok, super::frame_pointers_work(), "cached");
    }
}
