//! The runtime side of compiler instrumentation: what the TSan ABI shims of
//! `gosan_instrument::tsan` (`__tsan_read8` & co., linked into binaries that
//! `cargo gosan` builds) call into.
//!
//! It differs from [`race::access`](crate::race::access) in two ways: an instrumented
//! load or store has no `#[track_caller]` location (the site is the return address
//! the shim was called from, symbolized from debug info like any stack frame), and
//! the stack walk starts at a frame pointer the shim passes (its own, so the first
//! frame is the instrumented function). Like the runtime's other hooks these are not
//! scheduling points: an instrumented access never switches goroutines.
//!
//! # Fast path
//! [`filter`] is the shims' first and usually only step: one inlined thread-local
//! read finds the run and the running goroutine (outside any goroutine: one branch),
//! an address on the goroutine's own stack is skipped, and FastTrack's same-epoch
//! check — three dependent loads into the direct-mapped shadow
//! (`gosan_detector::hb::table`) and one compare — drops every access that the
//! detector already recorded since the goroutine's last synchronization. Only an
//! access that changes the shadow goes on to the shim's classification of the code
//! ([`access`]), where its site is interned from return addresses alone
//! (`RaceRun::site_pc`: no stack walk unless the site is new or `history_size > 0`)
//! and the full FastTrack rules run.

use crate::sched;

/// The caller's frame pointer (where the shims start the stack walk).
#[inline(always)]
pub fn frame_pointer() -> usize {
    crate::capture::frame_pointer()
}

/// The goroutine running on this thread, as the shims need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    /// Its stack `[lo, hi)`: accesses inside it are the goroutine's own locals.
    pub lo: usize,
    pub hi: usize,
    /// Its goroutine id (unique within its run, see [`run_id`]).
    pub goid: u64,
}

/// The running goroutine, or `None` when no goroutine runs on this thread (no run,
/// or scheduler context). The shims' first check: one thread-local read and two
/// compares.
#[inline]
pub fn current() -> Option<Running> {
    let g = sched::current_g_ptr();
    if g.is_null() {
        return None;
    }
    // SAFETY: `current_g_ptr` is the running goroutine's record on this thread, alive
    // while it runs; plain reads.
    unsafe {
        Some(Running {
            lo: (*g).lo,
            hi: (*g).hi,
            goid: (*g).id,
        })
    }
}

/// The fast path (see the module docs): whether an access of `size` bytes at `addr`
/// (a write if `write`) needs nothing from the detector — no goroutine runs on this
/// thread, `addr` is on its own stack, or (only when `check_epoch`) the access is
/// already recorded at the goroutine's current epoch. `false`: the caller goes on to
/// its slow path. A caller with frees still to apply passes `check_epoch: false`,
/// since the shadow it would check may be stale.
///
/// # Safety
/// The caller does not switch goroutines before it returns (it is an instrumentation
/// shim: `#[inline(never)]`, no scheduling point): the thread-local read is inlined.
#[inline(always)]
pub unsafe fn filter(addr: usize, size: u64, write: bool, check_epoch: bool) -> bool {
    let kind = gosan_detector::AccessKind::new(write, false);
    // SAFETY: per this function's contract (no switch before we return).
    unsafe { sched::instrumented_fast(addr, size, kind, check_epoch) }.is_none()
}

/// The run on this thread (its scheduler's address while it lives), or 0.
#[inline]
pub fn run_id() -> usize {
    sched::sched_ptr() as usize
}

/// Whether a run is active on this thread (goroutine or scheduler context).
#[inline]
pub fn in_run() -> bool {
    sched::in_run()
}

/// The running goroutine acquires the sync clock keyed by `addr` (an atomic load
/// with acquire semantics; Go's `RaceAcquire`). No scheduling point.
#[inline]
pub fn acquire(addr: usize) {
    crate::race::acquire_addr(addr as *const u8);
}

/// Release-store into the sync clock keyed by `addr` (an atomic store with release
/// semantics). No scheduling point.
#[inline]
pub fn release(addr: usize) {
    crate::race::release_addr(addr as *const u8);
}

/// Release-merge into the sync clock keyed by `addr` (a read-modify-write with
/// release semantics continues the release sequence). No scheduling point.
#[inline]
pub fn release_merge(addr: usize) {
    crate::race::release_merge_addr(addr as *const u8);
}

/// `addr..addr + len` was freed: its history is forgotten (see
/// [`race::freed`](crate::race::freed)).
#[inline]
pub fn freed(addr: u64, len: u64) {
    crate::race::freed(addr, len);
}

/// A plain (or, with `atomic`, atomic) access of `size` bytes at `addr` by the
/// running goroutine, made by the instrumented code at return address `pc` (the
/// shim's, read from frame `fp`) whose innermost user frame returns to `user_pc`; the
/// site is interned from those two (`RaceRun::site_pc`), the stack walked from frame
/// pointer `fp` only for a new site, with history, or for a report.
/// `#[inline(never)]`: the detector's work stays out of the shims' fast path.
#[inline(never)]
pub fn access(
    fp: usize,
    pc: usize,
    user_pc: usize,
    addr: u64,
    size: u64,
    write: bool,
    atomic: bool,
) {
    if !crate::race::ENABLED {
        return;
    }
    crate::race::on_cur(|r, g| {
        let kind = gosan_detector::AccessKind::new(write, atomic);
        if r.same_epoch(g.tid, addr, size, kind) {
            return; // [Read Same Epoch], [Write Same Epoch]: no site needed
        }
        // SAFETY: `site_pc` reads only inside `[g.lo, g.hi)`, the running goroutine's
        // stack, which is mapped and live while it runs (whatever `fp` is: a frame
        // pointer outside the range ends the walk).
        let site = unsafe { r.site_pc(pc, user_pc, fp, g.lo, g.hi) };
        r.note_stack(g, addr, size);
        let res = if write {
            r.engine().write(g.tid, addr, size, site, atomic)
        } else {
            r.engine().read(g.tid, addr, size, site, atomic)
        };
        if let Err(race) = res {
            // SAFETY: as for `site` above.
            unsafe { r.race_found(race, size, g.tid, g.id, site, fp, g.lo, g.hi) };
        }
    });
}

/// A plain access of the byte range `addr..addr + len` (`memcpy`, `memset`, an
/// unusual size); the site as in [`access`].
#[inline(never)]
pub fn range(fp: usize, pc: usize, user_pc: usize, addr: u64, len: u64, write: bool) {
    if !crate::race::ENABLED || len == 0 {
        return;
    }
    crate::race::on_cur(|r, g| {
        // SAFETY: `site_pc` reads only inside `[g.lo, g.hi)`, the running goroutine's
        // stack, which is mapped and live while it runs (whatever `fp` is: a frame
        // pointer outside the range ends the walk).
        let site = unsafe { r.site_pc(pc, user_pc, fp, g.lo, g.hi) };
        r.note_stack(g, addr, len);
        let res = if write {
            r.engine().write_range(g.tid, addr, len, site)
        } else {
            r.engine().read_range(g.tid, addr, len, site)
        };
        if let Err(race) = res {
            // SAFETY: as for `site` above.
            unsafe { r.race_found(race, len, g.tid, g.id, site, fp, g.lo, g.hi) };
        }
    });
}
