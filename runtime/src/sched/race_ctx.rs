//! The detector's view of the run: the run's `RaceRun` together with the goroutine
//! an event belongs to, and the run-level consequences of an event (halt on the
//! first race, the clock-memory budget).

use super::park::GRef;
use super::{sched_ptr, Sched, G};
use gosan_detector::hb::Tid;

impl Sched {
    /// Stops the detector (keeping what it found) once its clocks outgrow their
    /// budget; see `race::CLOCK_ENTRY_BUDGET`.
    #[inline]
    pub(super) fn check_race_budget(&mut self) {
        if let Some(why) = self.race.as_deref().and_then(|r| r.over_budget()) {
            let r = self.race.take().expect("checked above");
            self.race_stopped = Some((r.races, why));
        }
    }
}

/// Runs `f` with the run's detector and the running goroutine, if races are being
/// detected and a goroutine is running. Stops the run after a race under
/// `halt_on_error`.
#[inline]
pub(crate) fn with_race<R>(f: impl FnOnce(&mut crate::race::RaceRun, &G) -> R) -> Option<R> {
    let s = sched_ptr();
    if s.is_null() {
        return None;
    }
    // SAFETY: this thread's run; the detector is a separate box, the goroutine record
    // is only read; no switch happens inside.
    unsafe {
        let sr = &mut *s;
        if sr.cur_g.is_null() || sr.tearing_down {
            return None;
        }
        let r = sr.race.as_deref_mut()?;
        let out = f(r, &*sr.cur_g);
        if r.halt_on_error && !r.races.is_empty() {
            sr.end();
        }
        sr.check_race_budget();
        Some(out)
    }
}

/// Like [`with_race`] for a parked goroutine `g` (its slot, not the running one).
#[inline]
pub(crate) fn with_race_for<R>(
    g: GRef,
    f: impl FnOnce(&mut crate::race::RaceRun, Tid) -> R,
) -> Option<R> {
    let s = sched_ptr();
    if s.is_null() {
        return None;
    }
    // SAFETY: as in `with_race`.
    unsafe {
        let sr = &mut *s;
        if sr.tearing_down {
            return None;
        }
        let tid = {
            let gr = &sr.gs[g.slot as usize];
            if gr.id != g.id {
                return None;
            }
            gr.tid
        };
        let r = sr.race.as_deref_mut()?;
        let out = f(r, tid);
        sr.check_race_budget();
        Some(out)
    }
}

/// Like [`with_race`] with both the running goroutine's slot and parked goroutine
/// `g`'s.
#[inline]
pub(crate) fn with_race_pair<R>(
    g: GRef,
    f: impl FnOnce(&mut crate::race::RaceRun, Tid, Tid) -> R,
) -> Option<R> {
    let s = sched_ptr();
    if s.is_null() {
        return None;
    }
    // SAFETY: as in `with_race`.
    unsafe {
        let sr = &mut *s;
        if sr.cur_g.is_null() || sr.tearing_down {
            return None;
        }
        let cur = (*sr.cur_g).tid;
        let other = {
            let gr = &sr.gs[g.slot as usize];
            if gr.id != g.id {
                return None;
            }
            gr.tid
        };
        let r = sr.race.as_deref_mut()?;
        let out = f(r, cur, other);
        sr.check_race_budget();
        Some(out)
    }
}

/// Runs `f` with the run's detector, goroutine or not (timers, frees).
#[inline]
pub(crate) fn with_race_any<R>(f: impl FnOnce(&mut crate::race::RaceRun) -> R) -> Option<R> {
    let s = sched_ptr();
    if s.is_null() {
        return None;
    }
    // SAFETY: as in `with_race`.
    unsafe {
        let sr = &mut *s;
        if sr.tearing_down {
            return None;
        }
        sr.race.as_deref_mut().map(f)
    }
}
