//! Parking and readying goroutines, and scheduling points (Go's `gopark`/`goready`,
//! `Gosched` in `proc.go`): the goroutine side of the scheduler, used by every
//! primitive.
//!
//! # Protocol
//! - A goroutine leaves the CPU only through [`switch_out`]: at a scheduling point
//!   whose decision picked another goroutine ([`sched_point`], [`yield_now`]) it stays
//!   `Runnable` (queued by `decide`); in [`park`] it becomes `Waiting` with its
//!   [`WaitReason`] and frame pointer (for the dump) and hands the CPU to its pick, or
//!   to the loop (`Switch::Idle`) when nobody is runnable or the run must stop.
//! - A parked goroutine becomes `Runnable` again only through [`ready`] (a waker that
//!   dequeued its waiter, see `waitq.rs`) or its sleep timer (`timer.rs`). `ready` of
//!   a goroutine that is not `Waiting` (already readied, or a reused slot: `GRef`
//!   carries the goroutine id) does nothing; `ready` from another run's thread or
//!   outside a run is a clear panic.
//! - On resume with `Cmd::Teardown` `switch_out` unwinds the goroutine (payload
//!   `end::Teardown`); a goroutine that blocks during teardown is unwound again, or,
//!   when it already unwinds, left suspended (`park_during_teardown`).
//! - **Dump protocol**: when a report needs the stacks of parked goroutines (global
//!   deadlock, leaks), `end.rs` calls [`unwind_parked`], which resumes each
//!   `Waiting` goroutine with `Cmd::Dump`. Its [`switch_out`] then unwinds its own
//!   stack with DWARF into `G::unwound` ([`capture::unwind`]) and suspends again at
//!   once: still `Waiting`, no field but `unwound` written, no decision recorded, no
//!   user code run. The cost is paid only when a report is built, never on the park
//!   path (which only empties `unwound`). `Sched::dump` (`g.rs`) prefers `unwound`.
//! - At a scheduling point with timers pending, `timer.rs`'s `timer_point` may fire
//!   the earliest one first (work covered its deadline, or a racing timer): the
//!   goroutine is not parking, so the firing may ready anyone.
//! - [`NoSwitch`] (a depth counter) suspends scheduling points and makes parking a
//!   clear panic: `Shared::with` closures hold references into shared memory.
//! - Every function here derefs the scheduler pointer for a short scope; no borrow of
//!   `Sched` is alive across `switch_out`.

use super::end::Teardown;
use super::g::{GState, WaitReason, G};
use super::run_loop::{Cmd, Coro, Switch};
use super::strategy::Chooser;
use super::timer::{fire_next_timer, timer_point};
use super::{current_g_ptr, outside_run, sched_or_panic, sched_ptr, Sched};
use crate::capture;

/// Suspends the running goroutine `g` back to the loop.
///
/// # Safety
/// Must run on a goroutine of this thread's run, `g` being its record
/// ([`current_g_ptr`]), with no `&mut Sched` alive.
#[inline]
unsafe fn switch_out(g: *mut G, sw: Switch) {
    // SAFETY: per the contract, `g` is the running goroutine and its yielder is valid
    // for the coroutine's life.
    let mut cmd = unsafe { (*(*g).yielder).suspend(sw) };
    while cmd == Cmd::Dump {
        // SAFETY: per the contract (the loop resumed us for a dump; see
        // `unwind_parked`).
        cmd = unsafe { dump_self(g) };
    }
    if cmd == Cmd::Teardown {
        teardown_unwind();
    }
}

/// The goroutine's side of the dump protocol: unwind our own parked stack into
/// `unwound`, then suspend again, changing nothing else.
///
/// # Safety
/// As [`switch_out`]; `g` is parked (`Waiting`) and `unwind_parked` resumed it.
#[cold]
#[inline(never)]
unsafe fn dump_self(g: *mut G) -> Cmd {
    // SAFETY: per the contract; the loop holds no borrow of `g` while it runs us.
    unsafe {
        let pcs = capture::unwind(
            (*g).lo,
            (*g).hi,
            capture::MAX_FRAMES + capture::INTERNAL_FRAMES,
        );
        (*g).unwound = pcs;
        (*(*g).yielder).suspend(Switch::Idle)
    }
}

/// The loop's side of the dump protocol (see the module header): every parked
/// goroutine unwinds its stack into `G::unwound`, for `Sched::dump`. `current` and
/// `cur_g` are set around each resume as for any resume, then restored.
///
/// # Safety
/// `s` is this thread's live scheduler, used from scheduler context (no goroutine
/// running) through the raw pointer only, with no borrow of it alive; not during
/// teardown.
pub(super) unsafe fn unwind_parked(s: *mut Sched) {
    // SAFETY: per the contract; short borrows, none alive across `resume`.
    unsafe {
        let (cur, cur_g) = ((*s).current, (*s).cur_g);
        for slot in 0..(*s).gs.len() {
            let (coro, gptr) = {
                let g = &mut (&mut *s).gs[slot];
                if g.state != GState::Waiting {
                    continue;
                }
                match g.coro.as_mut() {
                    Some(c) if c.started() && !c.done() => (c as *mut Coro, &mut **g as *mut G),
                    _ => continue,
                }
            };
            (*s).current = slot as u32;
            (*s).cur_g = gptr;
            // The coroutine suspends again at once (`dump_self`); its `Switch` means
            // nothing here.
            let _ = (*coro).resume(Cmd::Dump);
            (*s).cur_g = std::ptr::null_mut();
        }
        (*s).current = cur;
        (*s).cur_g = cur_g;
    }
}

#[cold]
fn teardown_unwind() -> ! {
    std::panic::resume_unwind(Box::new(Teardown))
}

/// A scheduling point: the strategy may hand the CPU to another runnable goroutine.
/// Called at the start of every channel, select, sync, atomic and time operation.
#[inline]
pub fn sched_point() {
    let s = sched_ptr();
    if s.is_null() {
        return;
    }
    // SAFETY: this thread's run; the borrow ends before any switch.
    unsafe {
        let sr = &mut *s;
        if sr.cur_g.is_null() || sr.tearing_down || sr.no_switch > 0 {
            // scheduler context, a destructor running during teardown, or inside a
            // pinned closure: no switch
            return;
        }
        if sr.runq.is_empty() && sr.timers.is_empty() && !sr.must_stop() {
            sr.steps += 1;
            sr.tick();
            return; // nobody else can run and no timer is pending: nothing to decide
        }
        sched_point_in(s)
    }
}

/// A scheduling point before an operation whose effects are confined to the object
/// `key` (its address) and runtime state behind `SpinLock`s: exhaustive exploration
/// may then treat it as independent of operations on other objects (`explore.rs`).
/// Otherwise exactly [`sched_point`].
#[inline]
pub fn sched_point_on(key: usize) {
    let s = sched_ptr();
    if s.is_null() {
        return;
    }
    // SAFETY: this thread's run; a short exclusive access that ends before the
    // scheduling point.
    unsafe {
        if let Chooser::Guided(g) = &mut (*s).chooser {
            g.set_pending_key(key);
        }
    }
    sched_point();
    // SAFETY: as above (the key is consumed by the decision, if there was one).
    unsafe {
        if let Chooser::Guided(g) = &mut (*s).chooser {
            g.set_pending_key(0);
        }
    }
}

/// The running goroutine took the runtime state lock at `addr` (`lock.rs`): part of
/// its transition's footprint under exhaustive exploration. One relaxed load when no
/// run tracks footprints.
#[inline]
pub(crate) fn explore_touch(addr: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    if super::explore::FOOTPRINT_RUNS.load(Relaxed) == 0 {
        return;
    }
    let s = sched_ptr();
    // SAFETY: this thread's run; a short access to the chooser only, on the run's
    // thread (the lock is taken by code of this run, which holds no borrow of the
    // chooser).
    unsafe {
        if !s.is_null() && !(*s).cur_g.is_null() {
            (*s).guided_touch(addr);
        }
    }
}

/// # Safety
/// `s` is this thread's run and we are on one of its goroutines.
#[inline(never)]
unsafe fn sched_point_in(s: *mut Sched) {
    // SAFETY: per the contract; the borrow ends before firing a timer.
    let g = unsafe {
        let sr = &mut *s;
        sr.steps += 1;
        sr.tick();
        let g = sr.cur_g;
        // Where it stands, for a livelock dump if the run stops while it is
        // runnable.
        (*g).park_fp = capture::frame_pointer();
        g
    };
    // A pending timer competes with the work (`timer.rs`): it may fire here. We
    // are not parking, so its action may ready anyone.
    // SAFETY: per the contract; no borrow of Sched is alive.
    unsafe {
        if !(*s).timers.is_empty() && !(*s).must_stop() {
            timer_point(s);
        }
    }
    // SAFETY: per the contract; the borrow ends before any switch.
    let sw = unsafe {
        let sr = &mut *s;
        if sr.must_stop() {
            Switch::Idle
        } else {
            let cur = sr.current;
            match sr.decide(Some(cur)) {
                Some(pick) if pick != cur => {
                    // `g` is `cur`'s record (the loop set both before resuming it).
                    (*g).state = GState::Runnable;
                    Switch::To(pick)
                }
                _ => return,
            }
        }
    };
    // SAFETY: no borrow of Sched is alive here; `g` is the running goroutine.
    unsafe { switch_out(g, sw) }
}

/// `gosched`, a `select!` whose default ran, a failed `try_*`: a scheduling point
/// that demotes the caller (PCT) and, when only spinners run, lets time advance.
pub(crate) fn yield_now() {
    let s = sched_ptr();
    if s.is_null() || current_g_ptr().is_null() {
        return;
    }
    // SAFETY: this thread's run; a plain read.
    if unsafe { (*s).tearing_down || (*s).no_switch > 0 } {
        return;
    }
    // SAFETY: this thread's run, on one of its goroutines; short borrows only.
    unsafe {
        let fire = {
            let sr = &mut *s;
            sr.spin_streak += 1;
            if let Chooser::Pct { next_yield, .. } = &mut sr.chooser {
                sr.gs[sr.current as usize].prio = *next_yield;
                *next_yield -= 1;
            }
            if let Chooser::Guided(g) = &mut sr.chooser {
                g.set_yielding(true);
            }
            sr.spin_streak as usize > 64 * (sr.runq.len() + 1)
        };
        if fire && fire_next_timer(s) {
            (*s).spin_streak = 0;
        }
        // A spinner may wait for a goroutine in `gosan::blocking`.
        super::blocking::drain(s, false);
        sched_point_in(s);
        if let Chooser::Guided(g) = &mut (*s).chooser {
            g.set_yielding(false);
        }
    }
}

/// Parks the running goroutine until [`ready`] (or its sleep timer) wakes it.
#[inline(never)]
#[track_caller]
pub(crate) fn park(reason: WaitReason) {
    park_inner(reason, false)
}

/// Parks the running goroutine where nothing can wake it (a nil channel, `select {}`):
/// after main returns such a goroutine is a leak even when the run is cut short.
#[inline(never)]
#[track_caller]
pub(crate) fn park_forever(reason: WaitReason) {
    park_inner(reason, true)
}

#[inline(always)]
#[track_caller]
fn park_inner(reason: WaitReason, forever: bool) {
    let s = sched_or_panic("a blocking operation");
    // SAFETY: this thread's live scheduler; a plain read.
    let g = unsafe { (*s).cur_g };
    if g.is_null() {
        outside_run("a blocking operation");
    }
    // SAFETY: as below.
    if unsafe { (*s).tearing_down } {
        park_during_teardown(g);
    }
    // SAFETY: this thread's run; a plain read.
    if unsafe { (*s).no_switch } > 0 {
        blocked_while_pinned();
    }
    // SAFETY: this thread's run, on one of its goroutines (`g`); the borrow ends
    // before the switch.
    let next = unsafe {
        let sr = &mut *s;
        sr.steps += 1;
        sr.tick();
        sr.spin_streak = 0;
        let gr = &mut *g;
        gr.state = GState::Waiting;
        gr.reason = reason;
        gr.forever = forever;
        gr.park_fp = capture::frame_pointer();
        gr.unwound.clear(); // a length store: the dump protocol fills it later
        if sr.must_stop() {
            None
        } else {
            sr.decide(None)
        }
    };
    // SAFETY: no borrow of Sched is alive; `g` is the running goroutine.
    unsafe {
        switch_out(
            g,
            match next {
                Some(n) => Switch::To(n),
                None => Switch::Idle,
            },
        )
    }
}

/// A goroutine blocks while the run is being torn down. It suspends back to
/// teardown first, so each block counts as one teardown attempt (a goroutine that
/// recovers every unwind in a loop is abandoned after `end::TEARDOWN_TRIES`); when
/// resumed with `Cmd::Teardown` it is unwound again — unless it already unwinds (a
/// destructor blocked): a second unwind would abort the process, so it stays
/// suspended for good and teardown gives up on its stack.
#[cold]
fn park_during_teardown(g: *mut G) -> ! {
    loop {
        // SAFETY: `g` is the running goroutine; its yielder is valid while it lives.
        let cmd = unsafe { (*(*g).yielder).suspend(Switch::Idle) };
        if cmd == Cmd::Teardown && !std::thread::panicking() {
            std::panic::resume_unwind(Box::new(Teardown));
        }
    }
}

#[cold]
#[track_caller]
fn blocked_while_pinned() -> ! {
    panic!(
        "gosan: a closure given to Shared::with/with_mut, SharedVec::with or RaceCell::with/with_mut blocked; those closures must not block (they hold a reference into the shared value)"
    )
}

/// While alive, the running goroutine cannot be switched out and must not block
/// (closures that hold a reference into a `Shared` value).
pub struct NoSwitch {
    s: *mut Sched,
}

impl NoSwitch {
    pub fn enter() -> NoSwitch {
        let s = sched_ptr();
        if !s.is_null() {
            // SAFETY: this thread's run; short exclusive access.
            unsafe { (*s).no_switch += 1 };
        }
        NoSwitch { s }
    }
}

impl Drop for NoSwitch {
    fn drop(&mut self) {
        if !self.s.is_null() && self.s == sched_ptr() {
            // SAFETY: the same live run that `enter` incremented. Saturating: a guard
            // leaked out of an earlier run whose scheduler had the same address must
            // not wrap the counter.
            unsafe { (*self.s).no_switch = (*self.s).no_switch.saturating_sub(1) };
        }
    }
}

/// A parked goroutine, as wait queues store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GRef {
    pub(crate) slot: u32,
    pub(crate) id: u64,
    /// The run the goroutine belongs to (its scheduler's address while it lives).
    pub(crate) run: usize,
}

/// The running goroutine.
#[inline]
#[track_caller]
pub(crate) fn current() -> GRef {
    let s = sched_ptr();
    let g = if s.is_null() {
        std::ptr::null()
    } else {
        // SAFETY: this thread's live scheduler (non-null); a plain read.
        unsafe { (*s).cur_g }
    };
    if g.is_null() {
        outside_run("a blocking operation");
    }
    // SAFETY: this thread's run; read-only access to plain fields.
    unsafe {
        GRef {
            slot: (*s).current,
            id: (*g).id,
            run: s as usize,
        }
    }
}

/// Makes a parked goroutine runnable. Callable from goroutines and timers.
#[inline]
pub(crate) fn ready(g: GRef) {
    let s = sched_ptr();
    if s as usize != g.run {
        woken_from_another_run();
    }
    // SAFETY: this thread's run; short exclusive access.
    unsafe {
        let sr = &mut *s;
        if sr.tearing_down {
            return;
        }
        let gr = &mut sr.gs[g.slot as usize];
        if gr.id == g.id && gr.state == GState::Waiting {
            gr.state = GState::Runnable;
            gr.since = sr.decisions;
            sr.runq.push_back(g.slot);
            sr.spin_streak = 0; // progress: somebody woke up
        }
    }
}

/// A channel or primitive shared with another thread's run (or used from a plain
/// thread) would wake a goroutine this thread's scheduler does not own.
#[cold]
#[track_caller]
pub(super) fn woken_from_another_run() -> ! {
    panic!(
        "gosan: this operation would wake a goroutine of another gosan run (or was called outside any run); channels and sync primitives must not be shared between runs or with threads outside a run"
    )
}
