//! The scheduler loop (Go's `schedule`/`execute` in `proc.go`, one M and one P):
//! creating goroutines, resuming them, and taking back the ones that finished.
//!
//! # Shape
//! The thread that calls `run` runs [`run_main`] → `run_loop` on its own stack; each
//! goroutine is a corosensei coroutine the loop resumes with a [`Cmd`]. A goroutine
//! leaves the CPU only by suspending itself back to the loop with a [`Switch`]:
//! `To(slot)` when it already picked its successor (scheduling point, park; see
//! `park.rs`), `Idle` when nobody is runnable (then `end.rs` `idle` fires timers or
//! decides how the run ends).
//!
//! # Protocol
//! - Before resuming slot `n` the loop sets `Sched::current = n`, `Sched::cur_g` to
//!   its record and its state to `Running`; after the coroutine suspended or
//!   returned it clears `cur_g`. So `cur_g` is non-null exactly while a goroutine of
//!   this run executes (`current_g_ptr`).
//! - The coroutine (`G::coro`) is touched only here and by teardown (`end.rs`).
//! - After every resume the loop checks the slab red zone of an unguarded stack
//!   (`overflow.rs` reports and exits on overflow) and `Sched::must_stop`.
//! - No `&mut Sched` is held across `resume`: the loop works through the raw pointer.

use super::end::goroutine_panicked;
use super::g::{GState, G};
use super::park::sched_point;
use super::{current_g_ptr, sched_or_panic, sched_ptr, Sched, SCHED};
use crate::capture;
use crate::config::{Resolved, Strategy};
use crate::coro::stack::{self, GoStack};
use corosensei::{Coroutine, CoroutineResult, Yielder};
use std::panic::{AssertUnwindSafe, Location};

/// What the loop tells a goroutine when resuming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmd {
    Run,
    /// The run is over: unwind and finish.
    Teardown,
    /// Still parked: unwind your stack into `G::unwound` and suspend again
    /// (`park.rs`, "Dump protocol").
    Dump,
}

/// What a goroutine tells the loop when suspending.
pub(crate) enum Switch {
    /// Resume this slot next (already removed from the run queue).
    To(u32),
    /// Nobody is runnable: fire timers, detect deadlock or end.
    Idle,
}

pub(super) type Coro = Coroutine<Cmd, Switch, (), GoStack>;

impl Sched {
    /// Creates a goroutine running `f` and queues it. `creator` is the spawning
    /// goroutine's frame pointer and stack bounds, walked into the creation PCs
    /// (in place: a reused `G` keeps its buffers).
    ///
    /// `creator`, when given, must be a frame pointer of the running goroutine taken
    /// on its own stack, and that stack's bounds (see `go`).
    pub(super) fn spawn<F: FnOnce() + Send + 'static>(
        &mut self,
        f: F,
        loc: &'static Location<'static>,
        creator: Option<(usize, usize, usize)>,
    ) -> u32 {
        let st = stack::alloc();
        let (lo, hi) = st.bounds();
        let guarded = st.is_guarded();
        let coro = Coro::with_stack(st, move |y: &Yielder<Cmd, Switch>, cmd: Cmd| {
            if cmd == Cmd::Teardown {
                // Never started: `f` is dropped here, on the goroutine's stack, and
                // a panic in its captures' `Drop` is caught and reported.
                super::end::drop_caught(f);
                return;
            }
            goroutine_main(y, f)
        });
        let id = self.next_goid;
        self.next_goid += 1;
        let prio = self.chooser.initial_priority(&mut self.rng, self.pct_depth);
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.gs.push(Box::new(G::blank(loc)));
                (self.gs.len() - 1) as u32
            }
        };
        let g = &mut *self.gs[slot as usize];
        g.id = id;
        g.coro = Some(coro);
        g.state = GState::Runnable;
        g.reason = super::WaitReason::Sleep;
        g.park_fp = 0;
        g.lo = lo;
        g.hi = hi;
        g.guarded = guarded;
        g.yielder = std::ptr::null();
        g.created_loc = loc;
        g.created_len = match creator {
            // SAFETY: per this function's contract, `fp` is a frame pointer of the
            // running goroutine inside its own live stack `[clo, chi)`.
            Some((fp, clo, chi)) => unsafe {
                capture::walk_array(&mut g.created_pcs, fp, clo, chi) as u8
            },
            None => 0,
        };
        g.prio = prio;
        g.since = self.decisions;
        g.forever = false;
        if let Some(r) = self.race.as_deref_mut() {
            let pcs = g.created_pcs();
            let parent = (!self.cur_g.is_null()).then(|| {
                // SAFETY: the running goroutine's record (not `g`: a new goroutine is
                // never the running one).
                unsafe { (*self.cur_g).tid }
            });
            let site = r.creation_site(loc, &pcs);
            g.tid = r.goroutine_created(parent, id, site);
            self.check_race_budget();
        }
        self.live += 1;
        self.runq.push_back(slot);
        slot
    }
}

/// The root of every goroutine's coroutine: runs `f`, turning an escaped panic into
/// the run's panic finding (`end.rs`).
fn goroutine_main<F: FnOnce()>(y: &Yielder<Cmd, Switch>, f: F) {
    let g = current_g_ptr() as *mut G;
    // SAFETY: the loop set CUR_G to this goroutine's record before resuming it; the
    // record outlives the coroutine.
    unsafe { (*g).yielder = y };
    if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(f)) {
        goroutine_panicked(payload);
    }
}

/// Restores this thread's scheduler pointer when a run ends, on every exit path
/// (an unwind out of `run_main` included), so a later run on the thread starts
/// clean instead of seeing a dangling pointer ("runs do not nest").
struct SchedGuard;

impl Drop for SchedGuard {
    fn drop(&mut self) {
        SCHED.with(|c| c.set(std::ptr::null_mut()));
    }
}

/// Starts a goroutine running `f`. See `gosan::go`.
#[track_caller]
#[inline(never)]
pub fn go<F: FnOnce() + Send + 'static>(f: F) {
    let loc = Location::caller();
    let s = sched_or_panic("gosan::go");
    let g = current_g_ptr();
    let creator = if g.is_null() {
        None
    } else {
        // SAFETY: the running goroutine's record; bounds are its own stack.
        let (lo, hi) = unsafe { ((*g).lo, (*g).hi) };
        Some((capture::frame_pointer(), lo, hi))
    };
    // SAFETY: this thread's run; short exclusive access. `creator` is our own frame
    // pointer on the running goroutine's stack (spawn's contract).
    unsafe { (*s).spawn(f, loc, creator) };
    sched_point();
}

/// Starts a goroutine from scheduler context (a timer's `after_func`); with the
/// detector on, the new goroutine starts knowing `armed` (arming the timer happens
/// before its function runs, as in Go).
pub(crate) fn go_from_timer<F: FnOnce() + Send + 'static>(
    f: F,
    loc: &'static Location<'static>,
    armed: Option<&mut crate::race::RaceClock>,
) {
    let s = sched_ptr();
    if s.is_null() {
        return;
    }
    // SAFETY: this thread's run; short exclusive access.
    unsafe {
        let slot = (*s).spawn(f, loc, None);
        if let (Some(r), Some(c)) = ((*s).race.as_deref_mut(), armed) {
            let tid = (&(*s).gs)[slot as usize].tid;
            r.acquire(tid, c);
        }
    }
}

/// What a finished run leaves behind, before symbolization.
pub(crate) struct Outcome {
    pub(crate) panic: Option<super::RawPanic>,
    pub(crate) deadlock: Vec<super::RawDump>,
    pub(crate) leaks: Vec<super::RawDump>,
    pub(crate) schedule: String,
    pub(crate) steps: u64,
    pub(crate) replay_error: Option<String>,
    pub(crate) races: Vec<crate::race::RawRace>,
    /// Things the reader of the report must know (the detector stopped, …).
    pub(crate) notes: Vec<String>,
    /// Why the run was stopped at a bound, and its live goroutines then.
    pub(crate) livelock: Option<(String, Vec<super::RawDump>)>,
    pub(crate) virtual_nanos: u64,
    /// Partial deadlocks found while main ran, each dump with why.
    pub(crate) partial: super::partial::PartialDumps,
    /// Why leaked goroutines can never proceed, when known.
    pub(crate) leak_why: Vec<(u64, String)>,
    /// Lock-order inversions.
    pub(crate) lock_order: Vec<crate::deadlock::RawInversion>,
    /// A guided chooser's state after the run (exploration path, preemptions).
    pub(crate) guided: Option<Box<super::explore::Guided>>,
}

/// Runs `f` as goroutine 1 under a fresh scheduler on this thread until the run ends,
/// with `guided` (a prepared guided chooser) in place of `strategy`'s when given.
pub(crate) fn run_main<F: FnOnce() + Send + 'static>(
    cfg: &Resolved,
    strategy: &Strategy,
    guided: Option<Box<super::explore::Guided>>,
    f: F,
) -> Result<Outcome, String> {
    if !sched_ptr().is_null() {
        return Err("gosan::run called inside a gosan run (runs do not nest)".into());
    }
    crate::panic_hook::install();
    crate::overflow::install();
    let mut sched = Box::new(Sched::new(cfg, strategy)?);
    if let Some(g) = guided {
        sched.chooser = super::strategy::Chooser::Guided(g);
    }
    let footprints = match &sched.chooser {
        super::strategy::Chooser::Guided(g) if g.tracks_footprints() => {
            Some(super::explore::FootprintGuard::new())
        }
        _ => None,
    };
    let s: *mut Sched = &mut *sched;
    SCHED.with(|c| c.set(s));
    let guard = SchedGuard;
    // Dropped before `sched` (declared after it): unregisters the run's counters.
    let watch = super::watchdog::watch(&sched, cfg.watchdog);
    // SAFETY: `s` points at `sched`, alive until the end of this function; from here
    // on it is only used through the raw pointer.
    let main_slot = unsafe { (*s).spawn(f, Location::caller(), None) };
    // SAFETY: as above.
    unsafe {
        (*s).main_slot = main_slot;
        (*s).runq.clear();
        run_loop(s, main_slot);
        super::end::record_end(s);
    }
    // The findings are taken before teardown: a destructor that panics while teardown
    // unwinds a goroutine aborts the process (Rust cannot unwind twice), and the
    // panic hook then prints the report from these (`run::AbortReport`).
    // SAFETY: as above; no other reference to `sched` is alive here.
    let mut out = take_outcome(unsafe { &mut *s });
    {
        let _abort = crate::run::AbortReport::arm(&out, cfg, strategy);
        // SAFETY: as above.
        unsafe { super::end::teardown(s) };
    }
    drop(watch);
    drop(guard);
    drop(footprints);
    // What teardown added: a panic in a destructor it ran (when nothing panicked
    // first: `sched.panic` keeps the first), notes (abandoned goroutines, later
    // panics); the explorer's state.
    let sched = *sched;
    out.panic = sched.panic;
    out.notes.extend(sched.notes);
    out.guided = match sched.chooser {
        super::strategy::Chooser::Guided(g) => Some(g),
        _ => None,
    };
    Ok(out)
}

/// Moves the run's findings out of `sched` (its state after `record_end`).
fn take_outcome(sched: &mut Sched) -> Outcome {
    let race_stopped = sched.race_stopped.take();
    Outcome {
        livelock: sched
            .livelock
            .take()
            .map(|r| (r, std::mem::take(&mut sched.livelock_dumps))),
        virtual_nanos: sched.now,
        panic: sched.panic.clone(),
        deadlock: std::mem::take(&mut sched.deadlock),
        leaks: std::mem::take(&mut sched.leaks),
        schedule: sched.record.encode(),
        steps: sched.steps,
        replay_error: sched.replay_error.take(),
        races: match (sched.race.as_mut(), race_stopped.as_ref()) {
            (Some(r), _) => std::mem::take(&mut r.races),
            (None, Some((races, _))) => races.clone(),
            (None, None) => Vec::new(),
        },
        partial: std::mem::take(&mut sched.partial),
        leak_why: std::mem::take(&mut sched.leak_why),
        lock_order: std::mem::take(&mut sched.lockdep.inversions),
        guided: None,
        notes: race_stopped
            .map(|(_, why)| why)
            .into_iter()
            .chain(std::mem::take(&mut sched.notes))
            .collect(),
    }
}

/// # Safety
/// `s` is this thread's live scheduler; only raw-pointer access to it here.
unsafe fn run_loop(s: *mut Sched, first: u32) {
    let mut next = Some(first);
    loop {
        let slot = match next.take() {
            Some(x) => x,
            // SAFETY: per the contract.
            None => match unsafe { super::end::idle(s) } {
                Some(x) => x,
                None => break,
            },
        };
        // SAFETY: per the contract; the borrow ends before `resume`.
        let (coro, gptr) = unsafe {
            let sr = &mut *s;
            sr.current = slot;
            let g: &mut G = &mut sr.gs[slot as usize];
            g.state = GState::Running;
            let gptr: *mut G = g;
            sr.cur_g = gptr;
            (
                g.coro
                    .as_mut()
                    .unwrap_or_else(|| fatal!("run_loop", "live goroutine has a coroutine"))
                    as *mut Coro,
                gptr as *const G,
            )
        };
        // SAFETY: the coroutine belongs to a live G whose Box is not freed while it
        // runs; nothing else borrows it.
        let r = unsafe { (*coro).resume(Cmd::Run) };
        // SAFETY: per the contract.
        unsafe {
            (*s).cur_g = std::ptr::null_mut();
            (*s).tick();
        }
        // SAFETY: per the contract.
        unsafe {
            let g = &*gptr;
            if !g.guarded && stack_overflowed(g) {
                crate::overflow::report_and_exit(g.id, g.created_loc, stack::STACK_SIZE);
            }
        }
        match r {
            CoroutineResult::Yield(Switch::To(n)) => next = Some(n),
            CoroutineResult::Yield(Switch::Idle) => next = None,
            // SAFETY: per the contract.
            CoroutineResult::Return(()) => next = unsafe { finished(s, slot) },
        }
        // SAFETY: per the contract; short borrows.
        unsafe {
            if (*s).record.full {
                (*s).record_full();
            }
        }
        // SAFETY: per the contract; read-only.
        if unsafe { (*s).must_stop() } {
            if let Some(n) = next {
                // SAFETY: per the contract. Keep the invariant: runnable ⇒ queued.
                unsafe { (*s).runq.push_back(n) };
            }
            break;
        }
    }
}

fn stack_overflowed(g: &G) -> bool {
    stack::slab_overflowed(g.lo, 0)
}

/// A goroutine returned: free it, pick the next one.
///
/// # Safety
/// As [`run_loop`].
unsafe fn finished(s: *mut Sched, slot: u32) -> Option<u32> {
    // SAFETY: per the contract.
    let sr = unsafe { &mut *s };
    let g = &mut sr.gs[slot as usize];
    g.state = GState::Dead;
    if let Some(r) = sr.race.as_deref_mut() {
        r.goroutine_finished(g.tid, g.id);
    }
    sr.lockdep.goroutine_exited(g.id);
    let coro = g
        .coro
        .take()
        .unwrap_or_else(|| fatal!("finished", "finished goroutine had a coroutine"));
    stack::free(coro.into_stack());
    sr.live -= 1;
    sr.free_slots.push(slot);
    sr.spin_streak = 0;
    if slot == sr.main_slot {
        sr.main_returned();
    }
    if sr.must_stop() {
        return None;
    }
    sr.decide(None)
}
