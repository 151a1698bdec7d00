//! The race-context accessor: the one way the detector's hooks (`race.rs`) reach
//! the run's [`RaceRun`] and the goroutines an event belongs to (Go's `racectx`).
//!
//! # Protocol
//! - [`with_race`] fetches the run's detector once and hands `f` a [`RaceCtx`]: the
//!   detector, the running goroutine (`None` in scheduler context: a timer firing, a
//!   destructor run by the loop) and a lookup of parked goroutines' happens-before
//!   slots by [`GRef`]. It returns `None` — and does not call `f` — outside a run,
//!   during teardown, when the run does not detect races (or the detector stopped),
//!   and when the `race` feature is off (then it compiles to nothing).
//! - `f` must not switch goroutines or re-enter `with_race` (hooks never do).
//! - After `f`, the run-level consequences of the event are applied here and only
//!   here: under `halt_on_error` the first race ends the run (`Sched::end`), and a
//!   detector whose clocks outgrew `race::CLOCK_ENTRY_BUDGET` is stopped, keeping the
//!   races it found (`Sched::race_stopped`).
//! - [`detecting`] answers "would `with_race` run an event now?" without one (so
//!   without consequences to apply): the channel fast paths ask it once per
//!   operation to skip their slot-clock bookkeeping.
//! - Fields read: `race`, `cur_g`, `gs` (id and tid of a slot), `tearing_down`;
//!   written: `race`/`race_stopped` (budget), `stop_at` (halt, via `end`).

use super::park::GRef;
use super::{sched_ptr, Sched, G};
use crate::race::RaceRun;
use gosan_detector::hb::Tid;

/// What a detector event sees (see the module docs).
pub(crate) struct RaceCtx<'a> {
    /// The run's detector.
    pub(crate) run: &'a mut RaceRun,
    /// The running goroutine; `None` in scheduler context.
    pub(crate) cur: Option<&'a G>,
    gs: &'a [Box<G>],
    /// This run's identity (its scheduler's address, as `GRef::run`).
    sched: usize,
}

impl RaceCtx<'_> {
    /// The happens-before slot of goroutine `g` of this run, if it is still the
    /// goroutine in its slot.
    ///
    /// A goroutine of another run (a channel or primitive shared between runs) is the
    /// documented misuse panic, as `ready` gives it, never a detector event.
    #[inline]
    pub(crate) fn tid_of(&self, g: GRef) -> Option<Tid> {
        if g.run != self.sched {
            super::park::woken_from_another_run();
        }
        let gr = self.gs.get(g.slot as usize)?;
        (gr.id == g.id).then_some(gr.tid)
    }
}

/// Runs `f` with the run's race context; see the module docs for when it does not.
#[inline]
pub(crate) fn with_race<R>(f: impl FnOnce(&mut RaceCtx<'_>) -> Option<R>) -> Option<R> {
    if !crate::race::ENABLED {
        return None;
    }
    let s = sched_ptr();
    if s.is_null() {
        return None;
    }
    // SAFETY: this thread's live run, accessed for a short scope with no switch inside
    // (`f` never switches, per the protocol). The detector is a separate box and the
    // goroutine records are only read, so the borrows below are disjoint.
    let sr = unsafe { &mut *s };
    if sr.tearing_down {
        return None;
    }
    let cur = if sr.cur_g.is_null() {
        None
    } else {
        // SAFETY: `cur_g` is the running goroutine's boxed record (set by the loop),
        // alive for the whole run.
        Some(unsafe { &*sr.cur_g })
    };
    let run = sr.race.as_deref_mut()?;
    let out = f(&mut RaceCtx {
        run,
        cur,
        gs: &sr.gs,
        sched: s as usize,
    });
    sr.race_event_done();
    out
}

/// The fast path of an instrumented access (`instrumented::filter`): the running
/// goroutine's stack bounds and id, or `None` when the access needs no detector work
/// — no goroutine runs on this thread (one thread-local read and a branch), the
/// address is on the goroutine's own stack, or (`check_epoch`) FastTrack's same-epoch
/// rule says the access is already recorded ([`RaceRun::same_epoch`]: the access would
/// change nothing and find no race, whoever's code made it, so skipping it is exact).
/// Reads `cur_g`, `race`; writes nothing, and no consequence of
/// [`with_race`] applies (nothing changed).
///
/// # Safety
/// The caller never switches goroutines between this call and its return: the
/// scheduler pointer is read with an inlined thread-local access
/// ([`sched_ptr_no_switch`](super::sched_ptr_no_switch)). The instrumentation shims
/// are `#[inline(never)]` functions with no scheduling point, which is the intended
/// caller.
#[inline(always)]
pub(crate) unsafe fn instrumented_fast(
    addr: usize,
    size: u64,
    kind: gosan_detector::AccessKind,
    check_epoch: bool,
) -> Option<&'static G> {
    let s = super::sched_ptr_no_switch();
    if s.is_null() {
        return None;
    }
    // SAFETY: this thread's live run; plain reads for the duration of this call, with
    // no switch (the caller's contract) and no other reference to it alive.
    let sr = unsafe { &*s };
    if sr.cur_g.is_null() {
        return None;
    }
    // SAFETY: `cur_g` is the running goroutine's boxed record, alive while it runs
    // (the caller keeps the reference only until it returns, without a switch).
    let g: &'static G = unsafe { &*sr.cur_g };
    if addr >= g.lo && addr < g.hi {
        return None;
    }
    // (`tearing_down` is not checked: `with_race` would do nothing then, and
    // skipping the access does nothing either.)
    if check_epoch && crate::race::ENABLED {
        if let Some(r) = sr.race.as_deref() {
            if r.same_epoch(g.tid, addr as u64, size, kind) {
                return None;
            }
        }
    }
    Some(g)
}

/// Go prints a race the moment it is found; so do `#[gosan::main]` and
/// `#[gosan::test]` (the summary stays at the end of the report).
#[cold]
fn print_races(races: &[crate::race::RawRace], strip: &str) {
    use std::io::Write;
    let mut text = String::new();
    for r in races {
        text.push_str(&crate::run::to_race(r, strip).to_string());
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Whether [`with_race`] would run an event now (a query, not an event: no
/// consequences to apply). The channel fast paths ask it once per operation.
#[inline]
pub(crate) fn detecting() -> bool {
    if !crate::race::ENABLED {
        return false;
    }
    let s = sched_ptr();
    // SAFETY: this thread's live run when non-null; plain reads.
    !s.is_null() && unsafe { !(*s).tearing_down && (*s).race.is_some() }
}

impl Sched {
    /// The run-level consequences of a detector event: halt on the first race, stop
    /// the detector past its memory budget.
    #[inline]
    fn race_event_done(&mut self) {
        if let (Some(strip), Some(r)) = (&self.stream_races, self.race.as_deref()) {
            if r.races.len() > self.races_printed {
                print_races(&r.races[self.races_printed..], strip);
                self.races_printed = r.races.len();
            }
        }
        if let Some(r) = self.race.as_deref() {
            if r.halt_on_error && !r.races.is_empty() {
                self.end();
            }
        }
        self.check_race_budget();
    }

    /// Stops the detector (keeping what it found) once its clocks outgrow their
    /// budget; see `race::CLOCK_ENTRY_BUDGET`.
    #[inline]
    pub(super) fn check_race_budget(&mut self) {
        if let Some(why) = self.race.as_deref().and_then(|r| r.over_budget()) {
            if let Some(r) = self.race.take() {
                self.race_stopped = Some((r.races, why));
            }
        }
    }
}
