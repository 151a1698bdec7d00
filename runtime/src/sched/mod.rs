//! The deterministic scheduler (`procs = 1`): one OS thread (the M) running one
//! scheduler context (the P: run queue, timers, strategy) for goroutines (Gs) that
//! are corosensei coroutines, and a strategy deciding at every scheduling point who
//! runs next.
//!
//! # Files (Go's `proc.go`/`runtime2.go` split)
//! - `g.rs`: the goroutine record [`G`], its states and [`WaitReason`]s, raw dumps.
//! - `run_loop.rs`: the loop, `spawn`/`go`, the run's entry point `run_main`.
//! - `park.rs`: `park`/`ready`, [`GRef`], scheduling points, `yield_now`, [`NoSwitch`].
//! - `decide.rs`: who runs next (`decide`) and select's arm choice (`choose`);
//!   `strategy.rs`: the strategies and the replayable decision record;
//!   `explore.rs`: guided choosers (exhaustive exploration, tolerant replay for
//!   shrinking, fuzzer bytes).
//! - `timer.rs`: virtual time.
//! - `end.rs`: the one place that decides how a run ends, and teardown.
//! - `race_ctx.rs`: the detector's view of the run (the race-context accessor).
//! - `blocking.rs`: `gosan::blocking` (helper threads, `[syscall]`).
//! - `watchdog.rs`: the watchdog thread (a goroutine stuck with no scheduling point).
//!
//! # Shape
//! The thread that calls `run` runs `run_loop` on its own stack; each goroutine is a
//! coroutine the loop resumes. A goroutine leaves the CPU only by suspending itself
//! back to the loop with a `Switch`: `To(slot)` when it already picked its successor
//! (scheduling point, park), `Idle` when nobody is runnable. The loop never decides
//! while a goroutine could decide itself, so a scheduling point whose choice is "keep
//! running" costs no context switch at all.
//!
//! # Protocol (who touches what)
//! All of [`Sched`] belongs to the one thread running the loop; goroutines of that
//! run execute on the same thread, so access is single-threaded. The pointer to it is
//! in a thread-local read through [`sched_ptr`] (`#[inline(never)]`: a coroutine
//! resumed elsewhere must never see a cached thread-local address). No `&mut Sched`
//! is held across a context switch: every function derefs the raw pointer for a short
//! scope, and the loop itself works through the raw pointer. Each file's header names
//! the fields it writes.

mod blocking;
mod decide;
mod end;
pub(crate) mod explore;
mod g;
mod park;
pub(crate) mod partial;
mod race_ctx;
mod run_loop;
pub(crate) mod strategy;
pub(crate) mod timer;
mod watchdog;

pub use blocking::blocking;
pub(crate) use decide::{choose, Choice};
pub(crate) use end::{record_fatal, Teardown};
pub(crate) use g::{overflow_info, RawDump, RawPanic, WaitReason, G};
pub(crate) use park::explore_touch;
pub(crate) use park::{current, park, park_forever, ready, yield_now, GRef};
pub use park::{sched_point, sched_point_on, NoSwitch};
pub(crate) use race_ctx::{detecting, instrumented_fast, with_race};
pub use run_loop::go;
pub(crate) use run_loop::{go_from_timer, run_main, Outcome};
pub(crate) use timer::{arm_timer, now_nanos, sleep_nanos};

use crate::config::{Resolved, Strategy};
use std::cell::Cell;
use std::collections::{BinaryHeap, VecDeque};
use strategy::{Chooser, Record, Rng};
use timer::Entry;

const NONE: u32 = u32::MAX;

/// The scheduler of one run (Go's `sched` + the one M and P of deterministic mode).
///
/// Who writes which field (all on the run's one thread, in short borrows):
/// - `gs`, `free_slots`, `next_goid`, `live`, `current`, `cur_g`: `run_loop.rs`
///   (spawn, resume, finish) and teardown in `end.rs`; `G` fields as `g.rs` says.
/// - `runq`: pushed by whoever makes a goroutine runnable (`spawn`, `ready`, a
///   sleeper's timer), popped by `decide`; cleared at teardown.
/// - `rng`, `chooser`, `record`, `decisions`, `fair_at`, `replay_error`: `decide.rs`
///   (and PCT's yield demotion in `park.rs`).
/// - `steps`, `spin_streak`, `no_switch`: `park.rs` (the loop also resets
///   `spin_streak`).
/// - `now`, `timers`, `timer_seq`, `timer_race`, `work_base`: `timer.rs`.
/// - `stop_at`, `main_*`, `tearing_down`, `panic`, `deadlock`, `leaks`: `end.rs`.
/// - `race`, `race_stopped`: `race_ctx.rs` (and `spawn`/`finish` for goroutine
///   creation and exit events).
pub(crate) struct Sched {
    // Boxed: `cur_g` and the loop hold `*const G` while `gs` may grow.
    #[allow(clippy::vec_box)]
    gs: Vec<Box<G>>,
    free_slots: Vec<u32>,
    runq: VecDeque<u32>,
    current: u32,
    /// The running goroutine's record (null in scheduler context).
    cur_g: *mut G,
    /// The run stops at the next switch once `steps >= stop_at`: 0 once it is
    /// ending ([`Sched::end`]), the after-main step bound after main returned with
    /// leak_check, `max_steps` before.
    stop_at: u64,
    next_goid: u64,
    live: usize,
    rng: Rng,
    chooser: Chooser,
    record: Record,
    steps: u64,
    decisions: u64,
    /// The next decision that is a fair pick (`decide.rs`; `u64::MAX`: never, for
    /// strategies that need none).
    fair_at: u64,
    /// `timer_race` as a threshold on a 64-bit draw (`timer.rs`).
    timer_race: u64,
    /// `steps` when virtual time last moved: the work done since then, at
    /// `timer::WORK_QUANTUM_NANOS` per step, makes pending timers due (`timer.rs`).
    work_base: u64,
    now: u64,
    timers: BinaryHeap<Entry>,
    timer_seq: u64,
    main_slot: u32,
    main_done: bool,
    main_done_steps: u64,
    main_done_at: u64,
    tearing_down: bool,
    spin_streak: u32,
    leak_check: bool,
    pct_depth: i64,
    panic: Option<RawPanic>,
    deadlock: Vec<RawDump>,
    leaks: Vec<RawDump>,
    replay_error: Option<String>,
    race: Option<Box<crate::race::RaceRun>>,
    /// Races found before the detector stopped for memory, and why it stopped.
    race_stopped: Option<(Vec<crate::race::RawRace>, String)>,
    /// What the report's reader must know about the run itself (a goroutine
    /// abandoned at teardown, …): `Report.notes`. Written by `end.rs`.
    notes: Vec<String>,
    /// Bounds of the run (`max_steps`, `max_time` in virtual nanoseconds) and, once
    /// one is reached before main returned, why the run was stopped (`end.rs`).
    max_steps: u64,
    max_time: u64,
    livelock: Option<String>,
    livelock_dumps: Vec<RawDump>,
    /// Blocking calls in flight on helper threads, and the channel their
    /// completions arrive on (`blocking.rs`).
    blocking_pending: usize,
    /// What the watchdog thread samples (`watchdog.rs`).
    counters: std::sync::Arc<watchdog::Counters>,
    /// Print each race on stderr when found (`race_ctx.rs`), and how many were.
    stream_races: Option<String>,
    races_printed: usize,
    completions: Option<blocking::Completions>,
    /// Depth of [`NoSwitch`] guards: while > 0 no scheduling point switches and
    /// parking panics.
    no_switch: u32,
    /// Lock bookkeeping: wait-for and lock-order graphs (`partial.rs`).
    lockdep: crate::deadlock::LockDep,
    /// Partial deadlocks found while main ran, with why (`partial.rs`).
    partial: partial::PartialDumps,
    /// Why leaked goroutines can never proceed, when known (`partial.rs`).
    leak_why: Vec<(u64, String)>,
}

thread_local! {
    static SCHED: Cell<*mut Sched> = const { Cell::new(std::ptr::null_mut()) };
}

/// The scheduler of the run on this thread, or null outside a run.
/// `#[inline(never)]`: see the module docs (thread-local caching across switches).
#[inline(never)]
pub(crate) fn sched_ptr() -> *mut Sched {
    SCHED.with(|s| s.get())
}

/// [`sched_ptr`], inlined: for a caller that never switches goroutines between this
/// read and the last use of what it found (a cached thread-local address must not
/// survive a switch; see the module docs). Only the instrumentation shims' fast path
/// (`race_ctx::instrumented_fast`, inside `#[inline(never)]` shims with no scheduling
/// point) uses it, to save the call on every instrumented access.
#[inline(always)]
pub(crate) fn sched_ptr_no_switch() -> *mut Sched {
    SCHED.with(|s| s.get())
}

/// The goroutine running on this thread, or null (scheduler context, no run).
#[inline]
pub(crate) fn current_g_ptr() -> *const G {
    let s = sched_ptr();
    if s.is_null() {
        std::ptr::null()
    } else {
        // SAFETY: this thread's live scheduler; a plain read.
        unsafe { (*s).cur_g }
    }
}

/// Whether this thread is running a gosan goroutine right now.
pub(crate) fn in_goroutine() -> bool {
    !current_g_ptr().is_null()
}

/// The scheduler, or a clear panic when called outside `gosan::run`.
#[inline]
#[track_caller]
pub(super) fn sched_or_panic(what: &str) -> *mut Sched {
    let s = sched_ptr();
    if s.is_null() {
        outside_run(what);
    }
    s
}

#[cold]
#[track_caller]
pub(super) fn outside_run(what: &str) -> ! {
    panic!(
        "gosan: {what} called outside a gosan run (wrap the code in gosan::run, #[gosan::main] or #[gosan::test])"
    )
}

impl Sched {
    pub(super) fn new(cfg: &Resolved, strategy: &Strategy) -> Result<Sched, String> {
        let mut rng = Rng::new(cfg.seed);
        let chooser = Chooser::new(strategy, &mut rng)?;
        let pct_depth = match strategy {
            Strategy::Pct { depth } => *depth as i64,
            _ => 0,
        };
        Ok(Sched {
            gs: Vec::new(),
            free_slots: Vec::new(),
            runq: VecDeque::new(),
            current: NONE,
            cur_g: std::ptr::null_mut(),
            stop_at: cfg.max_steps,
            next_goid: 1,
            live: 0,
            rng,
            chooser,
            record: Record::default(),
            steps: 0,
            decisions: 0,
            fair_at: match strategy {
                Strategy::Random | Strategy::Pct { .. } => strategy::FAIR_EVERY,
                Strategy::RoundRobin | Strategy::Replay(_) | Strategy::Exhaustive { .. } => {
                    u64::MAX
                }
            },
            timer_race: timer::race_threshold(cfg.timer_race),
            work_base: 0,
            now: 0,
            timers: BinaryHeap::new(),
            timer_seq: 0,
            main_slot: NONE,
            main_done: false,
            main_done_steps: 0,
            main_done_at: 0,
            tearing_down: false,
            spin_streak: 0,
            leak_check: cfg.leak_check,
            pct_depth,
            panic: None,
            deadlock: Vec::new(),
            leaks: Vec::new(),
            replay_error: None,
            no_switch: 0,
            lockdep: crate::deadlock::LockDep::new(cfg.detect_lock_order, cfg.partial_stop),
            partial: Vec::new(),
            leak_why: Vec::new(),
            race_stopped: None,
            notes: Vec::new(),
            max_steps: cfg.max_steps,
            max_time: cfg.max_time_nanos,
            livelock: None,
            livelock_dumps: Vec::new(),
            blocking_pending: 0,
            counters: Default::default(),
            stream_races: cfg.stream_races.then(|| cfg.strip_path_prefix.clone()),
            races_printed: 0,
            completions: None,
            race: (cfg.detect_races && crate::race::ENABLED).then(|| {
                Box::new(crate::race::RaceRun::new(
                    cfg.history_size > 0,
                    cfg.halt_on_error,
                ))
            }),
        })
    }
}

impl Sched {
    /// One more scheduling step for the watchdog. Relaxed: a counter with one writer
    /// (this thread); the watchdog only compares samples.
    #[inline(always)]
    pub(super) fn tick(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let p = &self.counters.progress;
        p.store(p.load(Relaxed).wrapping_add(1), Relaxed);
    }
}

/// Live goroutines of the run (main included).
pub fn num_goroutine() -> usize {
    let s = sched_ptr();
    if s.is_null() {
        return 0;
    }
    // SAFETY: this thread's run; read-only.
    unsafe { (*s).live }
}

/// The running goroutine's id (1 = main); 0 outside a goroutine.
pub fn goid() -> u64 {
    let g = current_g_ptr();
    if g.is_null() {
        0
    } else {
        // SAFETY: the running goroutine's record.
        unsafe { (*g).id }
    }
}

/// Whether a run is active on this thread (goroutine or scheduler context).
pub(crate) fn in_run() -> bool {
    !sched_ptr().is_null()
}
