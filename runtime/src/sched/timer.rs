//! Virtual time: the scheduler's timer heap, ordered by (virtual deadline, arming
//! sequence), and the operations on it (`sleep`, arming, firing).
//!
//! Deterministic mode never reads a real clock: `now` moves only when the scheduler
//! fires a timer, so a test with a 10-minute timeout ends at once and identically
//! every run. A timer fires when every goroutine is blocked (`idle`), when every
//! runnable one spins (`yield_now`), and — time competing with work — at scheduling
//! points of a running goroutine ([`timer_point`]): when the steps taken since `now`
//! last moved, at [`WORK_QUANTUM_NANOS`] each, cover its deadline (Go's starvation
//! guarantee: a due timer fires although goroutines are always runnable), or when it
//! is a racing timer (`timer_race`, recorded choices; see [`arm_timer`]). Firing always moves `now` to
//! the timer's deadline, never past it: time stays monotonic and deterministic. Entries of a
//! stopped or reset timer stay in the heap and are skipped when popped (their
//! generation no longer matches), like Go's lazily deleted timers.
//!
//! # Protocol
//! `Sched::now`, `timers` and `timer_seq` are written only here. Entries are added by
//! the running goroutine (`sleep_nanos`, `arm_timer`) and fired by
//! [`fire_next_timer`], from scheduler context (`end.rs` `idle`: nobody runnable) or
//! from a running goroutine at a scheduling point (`park.rs`: `yield_now`,
//! `sched_point` through [`timer_point`]) — never from a goroutine that is parking.
//! `work_base` is reset whenever a timer fires. A firing either readies a sleeper directly or calls [`Fire::fire`], which
//! may ready goroutines, send on or close channels and spawn goroutines, but never
//! parks. Each time `now` moves, `end.rs` checks the after-main time bound.

use super::g::{GState, WaitReason};
use super::park::{current, park};
use super::{sched_or_panic, sched_ptr, Sched};
use std::cmp::Ordering;
use std::sync::Weak;

/// Something a timer does when it fires. Runs in scheduler context: it may make
/// goroutines runnable, close channels or spawn goroutines, but never park.
pub(crate) trait Fire: Send + Sync {
    /// Whether the entry armed with `gen` is still wanted.
    fn live(&self, gen: u64) -> bool;
    /// Fires the entry armed with `gen` (only called when `live(gen)`).
    fn fire(&self, gen: u64);
    /// The run ended with this entry pending: let go of whatever keeps the target
    /// alive for the heap's sake (a pending `after_func` keeps itself), so nothing of
    /// a finished run stays allocated.
    fn abandon(&self) {}
}

pub(super) enum Action {
    /// Wake a sleeping goroutine (slot, goroutine id).
    Wake(u32, u64),
    /// A user-visible timer (Timer, Ticker, after, after_func, context deadline).
    Fire(Weak<dyn Fire>, u64),
}

/// Teardown: empties the heap, abandoning every pending timer ([`Fire::abandon`]).
/// A panic in a destructor this runs (an `after_func` closure's captures) is caught
/// and reported like the other teardown drop panics.
///
/// # Safety
/// `s` is this thread's live scheduler, tearing down; short borrows.
pub(super) unsafe fn abandon_all(s: *mut Sched) {
    // SAFETY: per the contract.
    let entries = std::mem::take(unsafe { &mut (*s).timers });
    for e in entries.into_vec() {
        if let Action::Fire(w, _) = e.action {
            if let Some(t) = w.upgrade() {
                super::end::call_caught(move || {
                    t.abandon();
                    drop(t);
                });
            }
        }
    }
}

pub(super) struct Entry {
    pub(super) when: u64,
    pub(super) seq: u64,
    pub(super) action: Action,
    /// A racing timer (`timer_race`): while it is the earliest pending timer, a
    /// running goroutine's scheduling point may fire it ([`timer_point`]).
    pub(super) race: bool,
}

impl Entry {
    /// Whether firing this entry still does anything.
    pub(super) fn live(&self) -> bool {
        match &self.action {
            Action::Wake(..) => true,
            Action::Fire(w, gen) => w.upgrade().is_some_and(|t| t.live(*gen)),
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.when, self.seq) == (o.when, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest entry.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.when, o.seq).cmp(&(self.when, self.seq))
    }
}

impl Sched {
    fn add_timer(&mut self, when: u64, action: Action, race: bool) {
        self.timer_seq += 1;
        self.timers.push(Entry {
            when,
            seq: self.timer_seq,
            action,
            race,
        });
    }

    /// Drops dead timer entries from the top of the heap; whether one is pending.
    fn timer_pending(&mut self) -> bool {
        while let Some(top) = self.timers.peek() {
            if top.live() {
                return true;
            }
            self.timers.pop();
        }
        false
    }
}

/// Fires the earliest timer, moving virtual time to it. Called only in scheduler
/// context or from a goroutine that is not parking (the action never parks).
///
/// # Safety
/// `s` is this thread's live scheduler and no `&mut Sched` is held by the caller.
pub(super) unsafe fn fire_next_timer(s: *mut Sched) -> bool {
    // SAFETY: per the contract, short exclusive access on the run's thread.
    let entry = unsafe {
        let sr = &mut *s;
        if !sr.timer_pending() {
            return false;
        }
        let e = sr
            .timers
            .pop()
            .unwrap_or_else(|| fatal!("fire_next_timer", "timer_pending checked"));
        if e.when > sr.now {
            sr.now = e.when;
        }
        sr.work_base = sr.steps;
        sr.time_advanced();
        e
    };
    match entry.action {
        Action::Wake(slot, id) => {
            // SAFETY: as above.
            let sr = unsafe { &mut *s };
            let g = &mut sr.gs[slot as usize];
            if g.id == id && g.state == GState::Waiting {
                g.state = GState::Runnable;
                g.since = sr.decisions;
                sr.runq.push_back(slot);
            }
        }
        Action::Fire(w, gen) => {
            if let Some(t) = w.upgrade() {
                if t.live(gen) {
                    // A firing is scheduler context even when a running goroutine's
                    // scheduling point fires it: no goroutine is its actor (an
                    // `after_func` goroutine is not created by the one running, and
                    // the race detector must see no edge from it).
                    // SAFETY: as above; plain field writes.
                    let cur = unsafe { std::mem::replace(&mut (*s).cur_g, std::ptr::null_mut()) };
                    t.fire(gen); // takes its own short borrows of Sched
                                 // SAFETY: as above.
                    unsafe { (*s).cur_g = cur };
                }
            }
        }
    }
    true
}

/// Virtual time one scheduling step of work stands for, to make pending timers due
/// while goroutines keep running (see [`timer_point`]): roughly a channel operation.
pub(crate) const WORK_QUANTUM_NANOS: u64 = 100;

/// `timer_race` (a probability) as a threshold on a uniform 64-bit draw.
pub(super) fn race_threshold(p: f64) -> u64 {
    // `as` saturates: 1.0 gives u64::MAX.
    (p.clamp(0.0, 1.0) * 18_446_744_073_709_551_616.0) as u64
}

/// A scheduling point of the running goroutine (not parking) while the heap is not
/// empty: the earliest live timer fires now when the work done since virtual time
/// last moved (`WORK_QUANTUM_NANOS` per step) covers its deadline — so every timer
/// fires within `(deadline - now) / WORK_QUANTUM_NANOS` steps even while goroutines
/// are always runnable, under every strategy — or else, when it is a racing timer
/// (`arm_timer`), with probability 1/2 (`Choice::TimerRace`, recorded): the work it
/// guards ran late. Whether it fired.
///
/// # Safety
/// As [`fire_next_timer`], from a goroutine that is not parking.
pub(super) unsafe fn timer_point(s: *mut Sched) -> bool {
    // SAFETY: per the contract; the borrow ends before firing.
    let fire = unsafe {
        let sr = &mut *s;
        if !sr.timer_pending() {
            return false;
        }
        let (when, race) = sr
            .timers
            .peek()
            .map_or((u64::MAX, false), |e| (e.when, e.race));
        let work = (sr.steps - sr.work_base).saturating_mul(WORK_QUANTUM_NANOS);
        // Only a racing timer races (never a `sleep`: it ends once the others are
        // blocked or their work covers it; programs use it to let others get ahead).
        when <= sr.now.saturating_add(work)
            || (race && sr.choice(super::decide::Choice::TimerRace, 2) == 1)
    };
    // SAFETY: per the contract.
    fire && unsafe { fire_next_timer(s) }
}

/// Virtual nanoseconds since the run started.
pub(crate) fn now_nanos() -> u64 {
    let s = sched_ptr();
    if s.is_null() {
        return 0;
    }
    // SAFETY: this thread's run; read-only.
    unsafe { (*s).now }
}

/// Parks the running goroutine for `nanos` of virtual time (`sleep`).
pub(crate) fn sleep_nanos(nanos: u64) {
    let s = sched_or_panic("gosan::time::sleep");
    let g = current();
    // SAFETY: this thread's run; short exclusive access.
    unsafe {
        let sr = &mut *s;
        let when = sr.now.saturating_add(nanos);
        sr.add_timer(when, Action::Wake(g.slot, g.id), false);
    }
    park(WaitReason::Sleep);
}

/// Arms a user-visible timer entry firing at virtual time `when`. Armed by a running
/// goroutine (`by_goroutine`: not a ticker re-arming itself, not a deadline moving
/// onto its channel), it is a racing timer with probability `timer_race`
/// (`Choice::TimerArm`, recorded).
pub(crate) fn arm_timer(when: u64, target: Weak<dyn Fire>, gen: u64, by_goroutine: bool) {
    let s = sched_or_panic("a timer");
    // SAFETY: this thread's run; short exclusive access.
    unsafe {
        let sr = &mut *s;
        let race = by_goroutine
            && !sr.cur_g.is_null()
            && !sr.tearing_down
            && sr.choice(super::decide::Choice::TimerArm, 2) == 1;
        sr.add_timer(when, Action::Fire(target, gen), race)
    };
}
