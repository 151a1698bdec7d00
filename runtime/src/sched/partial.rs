//! The scheduler side of partial deadlocks and lock order (`crate::deadlock` holds the
//! graphs): reaching the run's [`LockDep`], capturing acquisition stacks, and
//! recording a partial deadlock into the run's report while the run goes on
//! (DESIGN.md: "A partial deadlock is recorded and the run goes on; later ones are
//! added to the same report"), or ending it under `partial_deadlock=stop`.
//!
//! Writes `Sched::lockdep` and `Sched::partial` only; ends the run through
//! [`Sched::end`].

use super::g::GState;
use super::{current_g_ptr, sched_ptr, RawDump, WaitReason};
use crate::capture::{self, Pcs};
use crate::deadlock::{LockDep, Wait};

/// Runs `f` on the run's lock bookkeeping with the running goroutine's id; `None`
/// outside a goroutine and during teardown.
pub(crate) fn lockdep<R>(f: impl FnOnce(&mut LockDep, u64) -> R) -> Option<R> {
    let s = sched_ptr();
    let g = current_g_ptr();
    if s.is_null() || g.is_null() {
        return None;
    }
    // SAFETY: both belong to this thread's run; a short exclusive borrow that does
    // not switch.
    unsafe {
        if (*s).tearing_down {
            return None;
        }
        Some(f(&mut (*s).lockdep, (*g).id))
    }
}

/// Runs `f` on the run's lock bookkeeping from any context of the run (a goroutine
/// or the scheduler); `None` outside a run and during teardown.
pub(crate) fn lockdep_any<R>(f: impl FnOnce(&mut LockDep) -> R) -> Option<R> {
    let s = sched_ptr();
    if s.is_null() {
        return None;
    }
    // SAFETY: this thread's run; a short exclusive borrow that does not switch.
    unsafe {
        if (*s).tearing_down {
            return None;
        }
        Some(f(&mut (*s).lockdep))
    }
}

/// The running goroutine's stack, innermost first (empty when lock order is off or
/// outside a goroutine).
#[inline(never)]
pub(crate) fn acquisition_pcs() -> Pcs {
    let s = sched_ptr();
    let g = current_g_ptr();
    if s.is_null() || g.is_null() {
        return Pcs::new();
    }
    // SAFETY: this thread's run; read-only.
    if unsafe { !(*s).lockdep.wants_stacks() } {
        return Pcs::new();
    }
    // SAFETY: our own frame pointer lies on the running goroutine's stack `[lo, hi)`.
    unsafe {
        capture::walk(
            capture::frame_pointer(),
            (*g).lo,
            (*g).hi,
            capture::MAX_FRAMES,
        )
    }
}

/// The running goroutine (`cur`, about to park with `reason`) closed a wait-for
/// cycle: dump every member not reported yet, with why it is stuck.
#[cold]
#[inline(never)]
pub(crate) fn record_partial(set: Vec<(u64, Wait)>, cur: u64) {
    let s = sched_ptr();
    let g = current_g_ptr();
    if s.is_null() || g.is_null() {
        return;
    }
    // SAFETY: this thread's run; a short exclusive borrow without switch.
    let sr = unsafe { &mut *s };
    if sr.tearing_down {
        return;
    }
    if sr.main_done {
        // After main returned these are leaks (DESIGN.md fine print); keep why.
        for (id, _) in set {
            if sr.lockdep.deadlocked.insert(id) {
                let why = sr.lockdep.describe_wait(id).unwrap_or_default();
                sr.leak_why.push((id, why));
            }
        }
        return;
    }
    let mut new = Vec::new();
    for (id, w) in set {
        if !sr.lockdep.deadlocked.insert(id) {
            continue;
        }
        let why = sr.lockdep.describe_wait(id).unwrap_or_default();
        let dump = if id == cur {
            // SAFETY: our own frame pointer lies on the running goroutine's stack.
            let pcs = unsafe {
                capture::walk(
                    capture::frame_pointer(),
                    (*g).lo,
                    (*g).hi,
                    capture::MAX_FRAMES,
                )
            };
            // SAFETY: the running goroutine's record.
            let mut d = unsafe { (*g).running_dump(pcs) };
            d.reason = w.reason.as_str();
            d
        } else {
            debug_check!(
                sr.gs[w.slot as usize].state == GState::Waiting,
                "record_partial",
                "wait-for cycle member is parked"
            );
            sr.dump(w.slot)
        };
        new.push((dump, why));
    }
    new.sort_by_key(|(d, _)| d.id);
    sr.partial.extend(new);
    if sr.lockdep.stop {
        sr.end();
    }
}

/// Partial deadlock dumps recorded so far, with the reason of each.
pub(crate) type PartialDumps = Vec<(RawDump, String)>;

/// The wait record of the running goroutine, about to park with `reason`.
pub(crate) fn wait_of_current(reason: WaitReason) -> Wait {
    Wait::new(super::current().slot, reason)
}

/// The running goroutine's id, if a goroutine runs on this thread.
pub(crate) fn running_goid() -> Option<u64> {
    let g = current_g_ptr();
    // SAFETY: the running goroutine's record; a plain read.
    (!g.is_null()).then(|| unsafe { (*g).id })
}

/// Whether `addr` lies on the stack of the goroutine in `slot` (the running one when
/// `slot` is `None`), which must be parked or running. `false` outside a run.
pub(crate) fn on_goroutine_stack(slot: Option<u32>, addr: usize) -> bool {
    let s = sched_ptr();
    if s.is_null() {
        return false;
    }
    // SAFETY: this thread's run; read-only, short.
    unsafe {
        let g: *const super::G = match slot {
            None => current_g_ptr(),
            Some(i) => match <[Box<super::G>]>::get(&(*s).gs, i as usize) {
                Some(g) if g.state != GState::Dead => &**g,
                _ => return false,
            },
        };
        !g.is_null() && (*g).lo <= addr && addr < (*g).hi
    }
}

/// A goroutine blocked on a channel that no live goroutine can ever complete: the
/// running one (`slot == None`, about to park with `reason`) or the parked one in
/// `slot`. Recorded as a partial deadlock while main runs, as the reason of a leak
/// after main returned.
#[cold]
#[inline(never)]
pub(crate) fn record_orphan(slot: Option<u32>, reason: WaitReason, why: &str) {
    let s = sched_ptr();
    let cur = current_g_ptr();
    if s.is_null() {
        return;
    }
    // SAFETY: this thread's run; a short exclusive borrow without switch.
    let sr = unsafe { &mut *s };
    if sr.tearing_down {
        return;
    }
    let (id, dump) = match slot {
        None => {
            if cur.is_null() {
                return;
            }
            // SAFETY: the running goroutine's record; our frame pointer is on its
            // stack.
            unsafe {
                let pcs = capture::walk(
                    capture::frame_pointer(),
                    (*cur).lo,
                    (*cur).hi,
                    capture::MAX_FRAMES,
                );
                let mut d = (*cur).running_dump(pcs);
                d.reason = reason.as_str();
                ((*cur).id, d)
            }
        }
        Some(i) => {
            let g = &sr.gs[i as usize];
            if g.state != GState::Waiting {
                return;
            }
            (g.id, sr.dump(i))
        }
    };
    if !sr.lockdep.deadlocked.insert(id) {
        return;
    }
    if sr.main_done {
        sr.leak_why.push((id, why.to_string()));
        return;
    }
    sr.partial.push((dump, why.to_string()));
    if sr.lockdep.stop {
        sr.end();
    }
}
