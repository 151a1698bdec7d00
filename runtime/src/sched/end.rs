//! How a run ends — the one place that decides it (Go's `checkdead`, `exit` and the
//! `main` return in `proc.go`, plus gosan's after-main leak phase and teardown).
//!
//! # The ways a run ends
//! - **Global deadlock**: nobody runnable, no live timer, main alive → every
//!   `Waiting` goroutine is dumped into `Sched::deadlock` ([`idle`]).
//! - **Main returned**: without `leak_check` the run ends at once, as in Go. With it,
//!   the others run on until nobody is runnable and no timer is pending; the ones
//!   still `Waiting` then are leaks ([`idle`]). The phase is bounded by
//!   [`AFTER_MAIN_STEPS`] scheduling steps and [`AFTER_MAIN_NANOS`] of virtual time
//!   ([`Sched::main_returned`], [`Sched::time_advanced`]); at the bound only the
//!   goroutines parked where nothing can wake them (`forever`) are leaks
//!   (`record_bounded_leaks`).
//! - **Panic or fatal error** in a goroutine ([`goroutine_panicked`],
//!   [`record_fatal`]): recorded (the first one wins) and the run ends.
//! - **Replay divergence**, **detector halt** (`halt_on_error`): the strategy or the
//!   race context call [`Sched::end`].
//!
//! # Protocol
//! Ending is a request: [`Sched::end`] sets `stop_at = 0`, and every switch (the
//! loop after each resume, `sched_point`, `park`) checks [`Sched::must_stop`], a
//! single compare of `steps` with `stop_at`. Nothing but this file writes `stop_at`.
//! Once the loop returned, [`finish`] records bounded leaks and tears down: every
//! unfinished goroutine is resumed with `Cmd::Teardown`, which makes its `park`
//! unwind with the [`Teardown`] payload, so its destructors run (its waiters leave
//! their queues, see `waitq.rs`) and its stack goes back to the pool. While
//! `tearing_down` is set, `ready` and the race hooks are no-ops and a goroutine that
//! blocks again is unwound again (or, already unwinding, left suspended).

use super::g::{GState, RawDump, RawPanic};
use super::run_loop::Cmd;
use super::timer::fire_next_timer;
use super::{current_g_ptr, sched_ptr, Sched};
use crate::capture;
use crate::coro::stack;
use std::panic::AssertUnwindSafe;

/// Unwind payload that tears a parked goroutine down at the end of a run.
pub(crate) struct Teardown;

/// Times teardown resumes a goroutine that blocks again after being unwound (it
/// recovers the unwind) before abandoning it.
pub(super) const TEARDOWN_TRIES: u32 = 16;

/// After main returns: steps and virtual nanoseconds the others may still run.
pub(super) const AFTER_MAIN_STEPS: u64 = 1_000_000;
pub(super) const AFTER_MAIN_NANOS: u64 = 10 * 60 * 1_000_000_000;

impl Sched {
    /// Whether the run must stop at the next switch.
    #[inline]
    pub(super) fn must_stop(&self) -> bool {
        // One compare: `end` (a panic, a deadlock, main's return without
        // leak_check, the after-main time bound) sets `stop_at` to 0; the after-main
        // step bound lowers it to that step.
        self.steps >= self.stop_at
    }

    /// The run ends at the next switch.
    #[inline]
    pub(super) fn end(&mut self) {
        self.stop_at = 0;
    }

    /// Main returned (its slot was just freed): end the run, or start the bounded
    /// after-main phase under `leak_check`.
    pub(super) fn main_returned(&mut self) {
        self.main_done = true;
        self.main_done_steps = self.steps;
        self.main_done_at = self.now;
        if self.leak_check {
            // Past `steps + AFTER_MAIN_STEPS`; never later than an end already set.
            self.stop_at = self.stop_at.min(self.steps + AFTER_MAIN_STEPS + 1);
        } else {
            self.end(); // main's return ends the run, as in Go
        }
    }

    /// Virtual time moved (a timer fired): the after-main phase's time bound, and
    /// the run's own (`max_time`: a livelock before main returned).
    #[inline]
    pub(super) fn time_advanced(&mut self) {
        if self.main_done && self.now - self.main_done_at > AFTER_MAIN_NANOS {
            self.end();
        } else if !self.main_done && self.now > self.max_time {
            self.livelocked(format!(
                "the run reached max_time={}s of virtual time",
                self.max_time / 1_000_000_000
            ));
        }
    }

    /// The run reached one of its bounds before main returned: a livelock finding,
    /// and the run ends.
    #[cold]
    pub(super) fn livelocked(&mut self, reason: String) {
        if self.livelock.is_none() && self.panic.is_none() && !self.main_done {
            self.livelock = Some(reason);
        }
        self.end();
    }

    /// The decision record is full (`Record::full`): its memory is bounded, so the
    /// run stops with a livelock finding.
    #[cold]
    pub(super) fn record_full(&mut self) {
        self.livelocked(format!(
            "the schedule record reached {} entries",
            super::strategy::MAX_RECORD_RUNS
        ));
    }

    /// The loop stopped: when the step bound stopped it before main returned, that
    /// is a livelock.
    fn check_step_bound(&mut self) {
        if self.stop_at != 0 && self.steps >= self.max_steps && !self.main_done {
            let reason = format!(
                "the run reached max_steps={} scheduling steps",
                self.max_steps
            );
            self.livelocked(reason);
        }
    }

    /// With a livelock, dump every live goroutine (the ones that kept running first)
    /// while their stacks still exist.
    fn record_livelock(&mut self) {
        if self.livelock.is_none() {
            return;
        }
        let mut v: Vec<(u8, RawDump)> = (0..self.gs.len() as u32)
            .filter_map(|s| {
                let g = &self.gs[s as usize];
                let rank = match g.state {
                    GState::Running => 0,
                    GState::Runnable => 1,
                    GState::Waiting => 2,
                    _ => return None,
                };
                let mut d = self.dump(s);
                match g.state {
                    GState::Running => d.reason = "running",
                    GState::Runnable => d.reason = "runnable",
                    _ => {}
                }
                Some((rank, d))
            })
            .collect();
        v.sort_by_key(|(rank, d)| (*rank, d.id));
        self.livelock_dumps = v.into_iter().map(|(_, d)| d).collect();
    }

    /// Whether `record_bounded_leaks` will dump (so `finish` unwinds stacks first).
    fn bounded_leaks_due(&self) -> bool {
        self.main_done && self.leak_check && self.leaks.is_empty() && self.panic.is_none()
    }

    /// When the after-main phase hit its bound, goroutines parked where nothing can
    /// ever wake them are still provably leaked; the others are not judged.
    fn record_bounded_leaks(&mut self) {
        if self.bounded_leaks_due() {
            let mut v: Vec<RawDump> = (0..self.gs.len() as u32)
                .filter(|&s| {
                    let g = &self.gs[s as usize];
                    g.state == GState::Waiting && g.forever
                })
                .map(|s| self.dump(s))
                .collect();
            v.sort_by_key(|d| d.id);
            self.leaks = v;
        }
    }

    fn blocked_dumps(&self) -> Vec<RawDump> {
        let mut v: Vec<RawDump> = (0..self.gs.len() as u32)
            .filter(|&s| self.gs[s as usize].state == GState::Waiting)
            .map(|s| self.dump(s))
            .collect();
        v.sort_by_key(|d| d.id);
        v
    }
}

/// Nobody is runnable: advance virtual time, or decide how the run ends (global
/// deadlock before main returned, leaks after).
///
/// # Safety
/// `s` is this thread's live scheduler, used in scheduler context through the raw
/// pointer only (as `run_loop`).
pub(super) unsafe fn idle(s: *mut Sched) -> Option<u32> {
    loop {
        // SAFETY: per the contract; short borrows.
        unsafe {
            if (*s).must_stop() {
                return None;
            }
            if !(*s).runq.is_empty() {
                return (*s).decide(None);
            }
            // A goroutine in `blocking` is running on a helper thread: wait for it
            // before moving virtual time or judging anyone blocked forever.
            if super::blocking::drain(s, true) {
                continue;
            }
            if fire_next_timer(s) {
                continue;
            }
            super::park::unwind_parked(s); // stacks for the dumps (cold)
            let sr = &mut *s;
            let dumps = sr.blocked_dumps();
            if sr.main_done {
                sr.leaks = dumps;
            } else {
                sr.deadlock = dumps;
            }
            sr.end();
            return None;
        }
    }
}

/// A goroutine's function escaped with a panic: record Go's `panic:` finding (the
/// first one wins) and end the run.
#[cold]
pub(super) fn goroutine_panicked(payload: Box<dyn std::any::Any + Send>) {
    if payload.is::<Teardown>() || payload.is::<crate::fatal::FatalError>() {
        // teardown is expected; a fatal error was recorded by `throw`
        drop_caught(payload);
        return;
    }
    let message = payload_message(&*payload);
    // The payload's own `Drop` may panic (a hostile payload): dropped here, caught,
    // before anything is recorded, so the original panic stays the finding.
    drop_caught(payload);
    record_panic(message);
}

fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// Drops `v`, catching a panic in its `Drop` (and in the `Drop` of that panic's
/// payload, and so on: bounded, past the bound the payload is leaked). A panic
/// caught here while the run is being torn down is reported like a goroutine's
/// panic (the first finding wins; later ones become notes); outside teardown it is
/// ignored (the caller reports the panic it was handling).
pub(super) fn drop_caught<T>(v: T) {
    call_caught(move || drop(v))
}

/// Runs `f`, catching and handling its panic as [`drop_caught`] does.
pub(super) fn call_caught(f: impl FnOnce()) {
    let mut r = std::panic::catch_unwind(AssertUnwindSafe(f));
    let mut first: Option<String> = None;
    for _ in 0..DROP_PANIC_DEPTH {
        match r {
            Ok(()) => break,
            Err(p) => {
                if first.is_none() && !p.is::<Teardown>() {
                    first = Some(payload_message(&*p));
                }
                r = std::panic::catch_unwind(AssertUnwindSafe(move || drop(p)));
            }
        }
    }
    if let Err(p) = r {
        std::mem::forget(p); // a payload whose drops keep panicking: leaked
    }
    let Some(message) = first else { return };
    let s = sched_ptr();
    // SAFETY: this thread's run when non-null; a plain read.
    if s.is_null() || !unsafe { (*s).tearing_down } {
        return;
    }
    record_panic(message);
}

/// Nested `Drop` panics [`drop_caught`] follows before leaking the payload.
const DROP_PANIC_DEPTH: usize = 8;

/// Records the running goroutine's panic `message` (Go's `panic:`; the first one
/// wins, a later one during teardown becomes a note) and ends the run.
fn record_panic(message: String) {
    let s = sched_ptr();
    // SAFETY: we run in a goroutine of this thread's run (goroutine_main), so `s` is
    // live; short exclusive access.
    let sr = unsafe { &mut *s };
    let g = current_g_ptr();
    if sr.panic.is_none() && !g.is_null() {
        let pcs = crate::panic_hook::take_panic_pcs();
        // SAFETY: CUR_G is the running goroutine's record.
        let goroutine = unsafe { (*g).running_dump(pcs) };
        sr.panic = Some(RawPanic {
            message,
            fatal: false,
            goroutine,
        });
    } else if sr.tearing_down {
        let who = if g.is_null() {
            "a destructor of a pending timer".to_string()
        } else {
            // SAFETY: CUR_G is the running goroutine's record.
            format!("goroutine {}", unsafe { (*g).id })
        };
        sr.notes
            .push(format!("{who} panicked during teardown: {message}"));
    }
    sr.end();
}

/// Records Go's `fatal error:` for the running goroutine (first one wins) and marks
/// the run as ending. Outside a run, does nothing (the caller panics anyway).
#[cold]
pub(crate) fn record_fatal(msg: &str) {
    let s = sched_ptr();
    let g = current_g_ptr();
    if s.is_null() || g.is_null() {
        return;
    }
    // SAFETY: both belong to this thread's run; short exclusive access.
    let sr = unsafe { &mut *s };
    if sr.tearing_down {
        return;
    }
    if sr.panic.is_none() {
        // SAFETY: CUR_G is the running goroutine's record; our own frame pointer is
        // on its stack `[lo, hi)`, which is live (we run on it).
        let goroutine = unsafe {
            let pcs = capture::running_stack(capture::frame_pointer(), (*g).lo, (*g).hi);
            (*g).running_dump(pcs)
        };
        sr.panic = Some(RawPanic {
            message: msg.to_string(),
            fatal: true,
            goroutine,
        });
    }
    sr.end();
}

/// The loop returned: record the livelock dumps and the leaks the after-main bound
/// still proves (`run_loop.rs` then takes the findings and calls [`teardown`]).
///
/// # Safety
/// As [`idle`]; called once, after `run_loop` returned.
pub(super) unsafe fn record_end(s: *mut Sched) {
    // SAFETY: per the contract; short borrows.
    unsafe {
        (*s).check_step_bound();
        if (*s).livelock.is_some() || (*s).bounded_leaks_due() {
            super::park::unwind_parked(s); // stacks for the dumps (cold)
        }
        (*s).record_livelock();
        (*s).record_bounded_leaks();
    }
}

/// Unwinds every unfinished goroutine so its destructors run and its stack returns
/// to the pool.
///
/// # Safety
/// As [`idle`].
pub(super) unsafe fn teardown(s: *mut Sched) {
    // SAFETY: per the contract.
    unsafe {
        (*s).tearing_down = true;
        super::timer::abandon_all(s);
        (*s).runq.clear();
    }
    // SAFETY: per the contract.
    let n = unsafe { (*s).gs.len() };
    for slot in 0..n {
        // SAFETY: per the contract; the borrow ends before resuming.
        let (coro, gptr) = unsafe {
            let g = &mut (&mut *s).gs[slot];
            if g.state == GState::Dead {
                continue;
            }
            match g.coro.take() {
                Some(c) => (c, &mut **g as *mut _),
                None => continue,
            }
        };
        let mut coro = coro;
        // A never-started goroutine is resumed too: its closure drops its captures
        // on its own stack and catches a panic there (`spawn`); dropping the
        // coroutine instead would turn such a panic into an abort.
        let mut tries = 0;
        while !coro.done() && tries < TEARDOWN_TRIES {
            // SAFETY: per the contract.
            unsafe {
                (*s).current = slot as u32;
                (*s).cur_g = gptr;
            }
            let _ = coro.resume(Cmd::Teardown);
            // SAFETY: per the contract.
            unsafe { (*s).cur_g = std::ptr::null_mut() };
            tries += 1;
        }
        if coro.done() {
            stack::free(coro.into_stack());
        } else {
            // A goroutine that keeps recovering its own teardown (it blocks again
            // after each unwind) cannot be unwound; its stack is leaked, never
            // reused under live frames, and the report says so.
            // SAFETY: per the contract; short borrows.
            unsafe {
                let id = (&(*s).gs)[slot].id;
                (*s).notes.push(format!(
                    "goroutine {id} kept recovering from teardown; abandoned after {TEARDOWN_TRIES} attempts (its stack is leaked)"
                ));
            }
            std::mem::forget(coro);
        }
        // SAFETY: per the contract.
        unsafe {
            let g = &mut (&mut *s).gs[slot];
            g.state = GState::Dead;
            (*s).live -= 1;
        }
    }
}
