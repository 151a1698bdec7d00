//! The deterministic scheduler (`procs = 1`): one OS thread, goroutines as corosensei
//! coroutines, and a [`Chooser`] deciding at every scheduling point who runs next.
//!
//! # Shape
//! The thread that calls `run` runs `run_loop` on its own stack; each goroutine is a
//! coroutine the loop resumes. A goroutine leaves the CPU only by suspending itself
//! back to the loop with a [`Switch`]: `To(slot)` when it already picked its successor
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
//! scope, and the loop itself works through the raw pointer.
//!
//! # Goroutine states
//! `Runnable` (in `runq`, or chosen and about to be resumed) → `Running` (the loop
//! resumed it) → `Waiting` (parked with a [`WaitReason`]; only [`ready`] or a timer
//! makes it `Runnable` again) → … → `Dead` (its slot and `G` record are reused).
//! Invariant: a slot is in `runq` iff its state is `Runnable` and it is not the slot
//! about to be resumed.
//!
//! # Ending a run
//! Main returns → with `leak_check`, the others run on (bounded: 1,000,000 steps and
//! 10 virtual minutes) until none is runnable and no timer is pending; the blocked
//! ones are leaks. Nobody runnable, no timer, main alive → global deadlock. A panic
//! or fatal error ends the run at the next switch. Then every unfinished goroutine is
//! unwound (`Cmd::Teardown` makes its `park` unwind), so destructors run and stacks go
//! back to the pool: nothing leaks into the next run.

pub mod strategy;
pub mod timer;

use crate::capture::{self, Pcs};
use crate::config::{Resolved, Strategy};
use crate::coro::stack::{self, GoStack};
use corosensei::{Coroutine, CoroutineResult, Yielder};
use gosan_detector::hb::Tid;
use std::cell::Cell;
use std::collections::{BinaryHeap, VecDeque};
use std::panic::{AssertUnwindSafe, Location};
use strategy::{Chooser, Record, Rng};
use timer::{Action, Entry};

/// What the loop tells a goroutine when resuming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Run,
    /// The run is over: unwind and finish.
    Teardown,
}

/// What a goroutine tells the loop when suspending.
pub enum Switch {
    /// Resume this slot next (already removed from the run queue).
    To(u32),
    /// Nobody is runnable: fire timers, detect deadlock or end.
    Idle,
}

type Coro = Coroutine<Cmd, Switch, (), GoStack>;

/// Go's wait reasons, as `goroutine N [reason]:` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    ChanSend,
    ChanRecv,
    ChanSendNil,
    ChanRecvNil,
    Select,
    SelectNoCases,
    MutexLock,
    RwMutexRLock,
    RwMutexLock,
    WaitGroupWait,
    CondWait,
    Sleep,
}

impl WaitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::ChanSend => "chan send",
            WaitReason::ChanRecv => "chan receive",
            WaitReason::ChanSendNil => "chan send (nil chan)",
            WaitReason::ChanRecvNil => "chan receive (nil chan)",
            WaitReason::Select => "select",
            WaitReason::SelectNoCases => "select (no cases)",
            WaitReason::MutexLock => "sync.Mutex.Lock",
            WaitReason::RwMutexRLock => "sync.RWMutex.RLock",
            WaitReason::RwMutexLock => "sync.RWMutex.Lock",
            WaitReason::WaitGroupWait => "sync.WaitGroup.Wait",
            WaitReason::CondWait => "sync.Cond.Wait",
            WaitReason::Sleep => "sleep",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GState {
    Runnable,
    Running,
    Waiting,
    Dead,
}

/// A goroutine record. Boxed so that raw pointers to it stay valid while the slot
/// vector grows; reused when its slot is.
pub struct G {
    pub id: u64,
    /// The goroutine's happens-before slot (meaningless when races are not detected).
    pub(crate) tid: Tid,
    coro: Option<Coro>,
    state: GState,
    reason: WaitReason,
    /// Frame pointer at the park site: the dump walks from here, lazily.
    park_fp: usize,
    pub(crate) lo: usize,
    pub(crate) hi: usize,
    guarded: bool,
    yielder: *const Yielder<Cmd, Switch>,
    created_loc: &'static Location<'static>,
    /// Return addresses of the `go` statement's stack, innermost first: the first
    /// `created_len` entries (a fixed array, walked in place at every spawn).
    created_pcs: [usize; CREATED_FRAMES],
    created_len: u8,
    prio: i64,
    /// Parked where nothing can ever wake it (nil channel, `select {}`).
    forever: bool,
}

/// Frames of a goroutine's creation stack that are kept.
const CREATED_FRAMES: usize = 8;

impl G {
    fn created_pcs(&self) -> Pcs {
        Pcs::from_slice(&self.created_pcs[..self.created_len as usize])
    }
}

/// A goroutine's dump before symbolization.
pub struct RawDump {
    pub id: u64,
    pub reason: &'static str,
    pub pcs: Pcs,
    pub created_loc: Option<&'static Location<'static>>,
    pub created_pcs: Pcs,
}

/// A panic or fatal error before symbolization.
pub struct RawPanic {
    pub message: String,
    pub fatal: bool,
    pub goroutine: RawDump,
}

/// Unwind payload that tears a parked goroutine down at the end of a run.
pub struct Teardown;

const NONE: u32 = u32::MAX;
/// After main returns: steps and virtual nanoseconds the others may still run.
const AFTER_MAIN_STEPS: u64 = 1_000_000;
const AFTER_MAIN_NANOS: u64 = 10 * 60 * 1_000_000_000;

pub struct Sched {
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
    /// leak_check, `u64::MAX` before.
    stop_at: u64,
    next_goid: u64,
    live: usize,
    rng: Rng,
    chooser: Chooser,
    record: Record,
    pub steps: u64,
    decisions: u64,
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
    pub panic: Option<RawPanic>,
    pub deadlock: Vec<RawDump>,
    pub leaks: Vec<RawDump>,
    pub replay_error: Option<String>,
    race: Option<Box<crate::race::RaceRun>>,
    /// Races found before the detector stopped for memory, and why it stopped.
    race_stopped: Option<(Vec<crate::race::RawRace>, String)>,
    /// Depth of [`NoSwitch`] guards: while > 0 no scheduling point switches and
    /// parking panics.
    no_switch: u32,
}

thread_local! {
    static SCHED: Cell<*mut Sched> = const { Cell::new(std::ptr::null_mut()) };
}

/// The scheduler of the run on this thread, or null outside a run.
/// `#[inline(never)]`: see the module docs (thread-local caching across switches).
#[inline(never)]
pub fn sched_ptr() -> *mut Sched {
    SCHED.with(|s| s.get())
}

/// The goroutine running on this thread, or null (scheduler context, no run).
#[inline]
pub fn current_g_ptr() -> *const G {
    let s = sched_ptr();
    if s.is_null() {
        std::ptr::null()
    } else {
        // SAFETY: this thread's live scheduler; a plain read.
        unsafe { (*s).cur_g }
    }
}

/// Whether this thread is running a gosan goroutine right now.
pub fn in_goroutine() -> bool {
    !current_g_ptr().is_null()
}

/// The scheduler, or a clear panic when called outside `gosan::run`.
#[inline]
#[track_caller]
fn sched_or_panic(what: &str) -> *mut Sched {
    let s = sched_ptr();
    if s.is_null() {
        outside_run(what);
    }
    s
}

#[cold]
#[track_caller]
fn outside_run(what: &str) -> ! {
    panic!(
        "gosan: {what} called outside a gosan run (wrap the code in gosan::run, #[gosan::main] or #[gosan::test])"
    )
}

impl Sched {
    fn new(cfg: &Resolved, strategy: &Strategy) -> Result<Sched, String> {
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
            stop_at: u64::MAX,
            next_goid: 1,
            live: 0,
            rng,
            chooser,
            record: Record::default(),
            steps: 0,
            decisions: 0,
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
            race_stopped: None,
            race: (cfg.detect_races && crate::race::ENABLED).then(|| {
                Box::new(crate::race::RaceRun::new(
                    cfg.history_size > 0,
                    cfg.halt_on_error,
                ))
            }),
        })
    }

    /// Creates a goroutine running `f` and queues it. `creator` is the spawning
    /// goroutine's frame pointer and stack bounds, walked into the creation PCs
    /// (in place: a reused `G` keeps its buffers).
    fn spawn<F: FnOnce() + Send + 'static>(
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
                return; // never started: `f` is dropped here
            }
            goroutine_main(y, f)
        });
        let id = self.next_goid;
        self.next_goid += 1;
        let prio = self.chooser.initial_priority(&mut self.rng, self.pct_depth);
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.gs.push(Box::new(G {
                    id: 0,
                    tid: Tid::new(0),
                    coro: None,
                    state: GState::Dead,
                    reason: WaitReason::Sleep,
                    park_fp: 0,
                    lo: 0,
                    hi: 0,
                    guarded: false,
                    yielder: std::ptr::null(),
                    created_loc: loc,
                    created_pcs: [0; CREATED_FRAMES],
                    created_len: 0,
                    prio: 0,
                    forever: false,
                }));
                (self.gs.len() - 1) as u32
            }
        };
        let g = &mut *self.gs[slot as usize];
        g.id = id;
        g.coro = Some(coro);
        g.state = GState::Runnable;
        g.reason = WaitReason::Sleep;
        g.park_fp = 0;
        g.lo = lo;
        g.hi = hi;
        g.guarded = guarded;
        g.yielder = std::ptr::null();
        g.created_loc = loc;
        g.created_len = match creator {
            Some((fp, clo, chi)) => capture::walk_array(&mut g.created_pcs, fp, clo, chi) as u8,
            None => 0,
        };
        g.prio = prio;
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

    /// Picks who runs next among the run queue and `cur` (the current goroutine, when
    /// it is still runnable). Removes the pick from the queue and, when the pick is
    /// not `cur`, queues `cur`. Records the decision when there was a choice.
    ///
    /// Fast path (Random, the default): one draw, and the pick's queue entry is
    /// overwritten with `cur` in place. The order of `runq` means nothing to Random,
    /// PCT or Replay (they choose by draw, priority or id), only to RoundRobin, which
    /// keeps strict FIFO handover (pop the front, queue `cur` at the back).
    #[inline(always)]
    fn decide(&mut self, cur: Option<u32>) -> Option<u32> {
        let len = self.runq.len();
        if len == 0 {
            return cur;
        }
        match cur {
            None if len == 1 => self.runq.pop_front(),
            Some(c) if matches!(self.chooser, Chooser::Random) => {
                self.decisions += 1;
                let idx = self.rng.below(len + 1);
                let pick = match self.runq.get_mut(idx) {
                    Some(q) => std::mem::replace(q, c),
                    None => c,
                };
                self.record.push(self.gs[pick as usize].id);
                Some(pick)
            }
            None if matches!(self.chooser, Chooser::Random) => {
                self.decisions += 1;
                let idx = self.rng.below(len);
                let pick = self.runq.swap_remove_back(idx).expect("index in range");
                self.record.push(self.gs[pick as usize].id);
                Some(pick)
            }
            _ => Some(self.decide_slow(cur)),
        }
    }

    /// `decide` with at least two candidates, for the strategies other than Random.
    #[inline(never)]
    fn decide_slow(&mut self, cur: Option<u32>) -> u32 {
        let len = self.runq.len();
        self.decisions += 1;
        let idx = match self.chooser {
            Chooser::Random => self.rng.below(len + cur.is_some() as usize),
            _ => self.choose_index(cur),
        };
        let pick = if idx == len {
            cur.expect("index runq.len() means cur")
        } else if matches!(self.chooser, Chooser::RoundRobin) {
            let s = self.runq.pop_front().expect("runq is not empty");
            if let Some(c) = cur {
                self.runq.push_back(c);
            }
            s
        } else {
            match cur {
                Some(c) => std::mem::replace(&mut self.runq[idx], c),
                None => self.runq.swap_remove_back(idx).expect("index in range"),
            }
        };
        self.record.push(self.gs[pick as usize].id);
        pick
    }

    /// The index `decide` picks for the strategies other than Random: into `runq`,
    /// or `runq.len()` for `cur`. At least two candidates.
    fn choose_index(&mut self, cur: Option<u32>) -> usize {
        match &mut self.chooser {
            Chooser::Random => self.rng.below(self.runq.len() + cur.is_some() as usize),
            Chooser::RoundRobin => 0,
            Chooser::Pct {
                change_points,
                next_low,
                ..
            } => {
                if let (Some(c), Some(&p)) = (cur, change_points.first()) {
                    if p <= self.decisions {
                        change_points.remove(0);
                        self.gs[c as usize].prio = *next_low;
                        *next_low -= 1;
                    }
                }
                let mut best = self.runq.len();
                let mut best_prio = cur.map_or(i64::MIN, |c| self.gs[c as usize].prio);
                for (i, &s) in self.runq.iter().enumerate() {
                    let p = self.gs[s as usize].prio;
                    if p > best_prio || (cur.is_none() && best == self.runq.len()) {
                        best = i;
                        best_prio = p;
                    }
                }
                best
            }
            Chooser::Replay { values, pos } => {
                let want = values.get(*pos).copied();
                *pos += 1;
                let found = want.and_then(|id| {
                    if cur.is_some_and(|c| self.gs[c as usize].id == id) {
                        Some(self.runq.len())
                    } else {
                        self.runq.iter().position(|&s| self.gs[s as usize].id == id)
                    }
                });
                match found {
                    Some(i) => i,
                    None => {
                        self.replay_diverged(want, cur);
                        if cur.is_some() {
                            self.runq.len()
                        } else {
                            0
                        }
                    }
                }
            }
        }
    }

    #[cold]
    fn replay_diverged(&mut self, want: Option<u64>, cur: Option<u32>) {
        if self.replay_error.is_none() {
            let mut runnable: Vec<u64> =
                self.runq.iter().map(|&s| self.gs[s as usize].id).collect();
            if let Some(c) = cur {
                runnable.push(self.gs[c as usize].id);
            }
            runnable.sort_unstable();
            self.replay_error = Some(match want {
                Some(id) => format!(
                    "strategy=replay: the schedule diverged at decision {}: goroutine {id} is not runnable (runnable: {runnable:?}); the program or its inputs changed since the schedule was recorded",
                    self.decisions
                ),
                None => format!(
                    "strategy=replay: the schedule ended after {} decisions but the run goes on; the program or its inputs changed since the schedule was recorded",
                    self.decisions - 1
                ),
            });
        }
        self.end();
    }

    /// Whether the run must stop at the next switch.
    #[inline]
    fn must_stop(&self) -> bool {
        // One compare: `end` (a panic, a deadlock, main's return without
        // leak_check, the after-main time bound) sets `stop_at` to 0; the after-main
        // step bound lowers it to that step.
        self.steps >= self.stop_at
    }

    /// The run ends at the next switch.
    #[inline]
    fn end(&mut self) {
        self.stop_at = 0;
    }

    fn add_timer(&mut self, when: u64, action: Action) {
        self.timer_seq += 1;
        self.timers.push(Entry {
            when,
            seq: self.timer_seq,
            action,
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

    fn dump(&self, slot: u32) -> RawDump {
        let g = &self.gs[slot as usize];
        RawDump {
            id: g.id,
            reason: g.reason.as_str(),
            pcs: capture::walk(g.park_fp, g.lo, g.hi, capture::MAX_FRAMES),
            created_loc: (g.id != 1).then_some(g.created_loc),
            created_pcs: g.created_pcs(),
        }
    }

    /// When the after-main phase hit its bound, goroutines parked where nothing can
    /// ever wake them are still provably leaked; the others are not judged.
    fn record_bounded_leaks(&mut self) {
        if self.main_done && self.leak_check && self.leaks.is_empty() && self.panic.is_none() {
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

    /// Stops the detector (keeping what it found) once its clocks outgrow their
    /// budget; see `race::CLOCK_ENTRY_BUDGET`.
    #[inline]
    fn check_race_budget(&mut self) {
        if let Some(why) = self.race.as_deref().and_then(|r| r.over_budget()) {
            let r = self.race.take().expect("checked above");
            self.race_stopped = Some((r.races, why));
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

/// Fires the earliest timer, moving virtual time to it. Called only in scheduler
/// context or from a goroutine that is not parking (the action never parks).
///
/// # Safety
/// `s` is this thread's live scheduler and no `&mut Sched` is held by the caller.
unsafe fn fire_next_timer(s: *mut Sched) -> bool {
    // SAFETY: per the contract, short exclusive access on the run's thread.
    let entry = unsafe {
        let sr = &mut *s;
        if !sr.timer_pending() {
            return false;
        }
        let e = sr.timers.pop().expect("timer_pending checked");
        if e.when > sr.now {
            sr.now = e.when;
        }
        if sr.main_done && sr.now - sr.main_done_at > AFTER_MAIN_NANOS {
            sr.end(); // the after-main phase's time bound
        }
        e
    };
    match entry.action {
        Action::Wake(slot, id) => {
            // SAFETY: as above.
            let sr = unsafe { &mut *s };
            let g = &mut sr.gs[slot as usize];
            if g.id == id && g.state == GState::Waiting {
                g.state = GState::Runnable;
                sr.runq.push_back(slot);
            }
        }
        Action::Fire(w, gen) => {
            if let Some(t) = w.upgrade() {
                if t.live(gen) {
                    t.fire(gen); // takes its own short borrows of Sched
                }
            }
        }
    }
    true
}

fn goroutine_main<F: FnOnce()>(y: &Yielder<Cmd, Switch>, f: F) {
    let g = current_g_ptr() as *mut G;
    // SAFETY: the loop set CUR_G to this goroutine's record before resuming it; the
    // record outlives the coroutine.
    unsafe { (*g).yielder = y };
    if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(f)) {
        goroutine_panicked(payload);
    }
}

#[cold]
fn goroutine_panicked(payload: Box<dyn std::any::Any + Send>) {
    if payload.is::<Teardown>() || payload.is::<crate::fatal::FatalError>() {
        return; // teardown is expected; a fatal error was recorded by `throw`
    }
    let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    };
    let s = sched_ptr();
    // SAFETY: we run in a goroutine of this thread's run (goroutine_main), so `s` is
    // live; short exclusive access.
    let sr = unsafe { &mut *s };
    if sr.panic.is_none() {
        let g = current_g_ptr();
        // SAFETY: CUR_G is the running goroutine's record.
        let id = unsafe { (*g).id };
        let pcs = crate::panic_hook::take_panic_pcs();
        // SAFETY: as above.
        let (loc, cpcs) = unsafe { ((*g).created_loc, (*g).created_pcs()) };
        sr.panic = Some(RawPanic {
            message,
            fatal: false,
            goroutine: RawDump {
                id,
                reason: "running",
                pcs,
                created_loc: (id != 1).then_some(loc),
                created_pcs: cpcs,
            },
        });
    }
    sr.end();
}

/// Records Go's `fatal error:` for the running goroutine (first one wins) and marks
/// the run as ending. Outside a run, does nothing (the caller panics anyway).
#[cold]
pub fn record_fatal(msg: &str) {
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
        // SAFETY: CUR_G is the running goroutine's record.
        let (id, lo, hi, loc, cpcs) = unsafe {
            (
                (*g).id,
                (*g).lo,
                (*g).hi,
                (*g).created_loc,
                (*g).created_pcs(),
            )
        };
        sr.panic = Some(RawPanic {
            message: msg.to_string(),
            fatal: true,
            goroutine: RawDump {
                id,
                reason: "running",
                pcs: capture::walk(capture::frame_pointer(), lo, hi, capture::MAX_FRAMES),
                created_loc: (id != 1).then_some(loc),
                created_pcs: cpcs,
            },
        });
    }
    sr.end();
}

/// Suspends the running goroutine `g` back to the loop.
///
/// # Safety
/// Must run on a goroutine of this thread's run, `g` being its record
/// ([`current_g_ptr`]), with no `&mut Sched` alive.
#[inline]
unsafe fn switch_out(g: *const G, sw: Switch) {
    // SAFETY: per the contract, `g` is the running goroutine and its yielder is valid
    // for the coroutine's life.
    let cmd = unsafe { (*(*g).yielder).suspend(sw) };
    if cmd == Cmd::Teardown {
        teardown_unwind();
    }
}

#[cold]
fn teardown_unwind() -> ! {
    std::panic::resume_unwind(Box::new(Teardown))
}

// ── goroutine-side API (used by every primitive) ────────────────────────────────

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
    // SAFETY: this thread's run; short exclusive access.
    unsafe { (*s).spawn(f, loc, creator) };
    sched_point();
}

/// Starts a goroutine from scheduler context (a timer's `after_func`); with the
/// detector on, the new goroutine starts knowing `armed` (arming the timer happens
/// before its function runs, as in Go).
pub fn go_from_timer<F: FnOnce() + Send + 'static>(
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

/// Runs `f` with the run's detector and the running goroutine, if races are being
/// detected and a goroutine is running. Stops the run after a race under
/// `halt_on_error`.
#[inline]
pub fn with_race<R>(f: impl FnOnce(&mut crate::race::RaceRun, &G) -> R) -> Option<R> {
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
pub fn with_race_for<R>(g: GRef, f: impl FnOnce(&mut crate::race::RaceRun, Tid) -> R) -> Option<R> {
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
pub fn with_race_pair<R>(
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
pub fn with_race_any<R>(f: impl FnOnce(&mut crate::race::RaceRun) -> R) -> Option<R> {
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
        if sr.runq.is_empty() && !sr.must_stop() {
            sr.steps += 1;
            return; // nobody else can run: nothing to decide
        }
        sched_point_in(s)
    }
}

/// # Safety
/// `s` is this thread's run and we are on one of its goroutines.
#[inline(never)]
unsafe fn sched_point_in(s: *mut Sched) {
    // SAFETY: per the contract; the borrow ends before any switch.
    let (g, sw) = unsafe {
        let sr = &mut *s;
        sr.steps += 1;
        let g = sr.cur_g;
        if sr.must_stop() {
            (g, Switch::Idle)
        } else {
            let cur = sr.current;
            match sr.decide(Some(cur)) {
                Some(pick) if pick != cur => {
                    // `g` is `cur`'s record (the loop set both before resuming it).
                    (*g).state = GState::Runnable;
                    (g, Switch::To(pick))
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
pub fn yield_now() {
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
            sr.spin_streak as usize > 64 * (sr.runq.len() + 1)
        };
        if fire && fire_next_timer(s) {
            (*s).spin_streak = 0;
        }
        sched_point_in(s);
    }
}

/// Parks the running goroutine until [`ready`] (or its sleep timer) wakes it.
#[inline(never)]
#[track_caller]
pub fn park(reason: WaitReason) {
    park_inner(reason, false)
}

/// Parks the running goroutine where nothing can wake it (a nil channel, `select {}`):
/// after main returns such a goroutine is a leak even when the run is cut short.
#[inline(never)]
#[track_caller]
pub fn park_forever(reason: WaitReason) {
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
        sr.spin_streak = 0;
        let gr = &mut *g;
        gr.state = GState::Waiting;
        gr.reason = reason;
        gr.forever = forever;
        gr.park_fp = capture::frame_pointer();
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

/// A goroutine blocks while the run is being torn down: unwind it, or — when it is
/// already unwinding (a destructor blocked) — leave it suspended for good, since a
/// second unwind would abort the process. Teardown then gives up on its stack.
#[cold]
fn park_during_teardown(g: *mut G) -> ! {
    if !std::thread::panicking() {
        std::panic::resume_unwind(Box::new(Teardown));
    }
    loop {
        // SAFETY: `g` is the running goroutine; its yielder is valid while it lives.
        unsafe { (*(*g).yielder).suspend(Switch::Idle) };
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
            // SAFETY: the same live run that `enter` incremented.
            unsafe { (*self.s).no_switch -= 1 };
        }
    }
}

/// A parked goroutine, as wait queues store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GRef {
    pub slot: u32,
    pub id: u64,
    /// The run the goroutine belongs to (its scheduler's address while it lives).
    pub run: usize,
}

/// The running goroutine.
#[inline]
#[track_caller]
pub fn current() -> GRef {
    let s = sched_ptr();
    // SAFETY: this thread's live scheduler when non-null; a plain read.
    let g = if s.is_null() {
        std::ptr::null()
    } else {
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
pub fn ready(g: GRef) {
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
            sr.runq.push_back(g.slot);
            sr.spin_streak = 0; // progress: somebody woke up
        }
    }
}

/// A channel or primitive shared with another thread's run (or used from a plain
/// thread) would wake a goroutine this thread's scheduler does not own.
#[cold]
#[track_caller]
fn woken_from_another_run() -> ! {
    panic!(
        "gosan: this operation would wake a goroutine of another gosan run (or was called outside any run); channels and sync primitives must not be shared between runs or with threads outside a run"
    )
}

/// A recorded uniform choice in `0..n` (select's arm choice). `n >= 1`.
pub fn choose(n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let s = sched_ptr();
    if s.is_null() {
        return 0;
    }
    // SAFETY: this thread's run; short exclusive access.
    let sr = unsafe { &mut *s };
    let i = match &mut sr.chooser {
        Chooser::Replay { values, pos } => {
            let v = values.get(*pos).copied();
            *pos += 1;
            match v {
                Some(v) if (v as usize) < n => v as usize,
                _ => {
                    if sr.replay_error.is_none() {
                        sr.replay_error = Some(format!(
                            "strategy=replay: the schedule diverged at a select with {n} ready arms (recorded: {v:?}); the program or its inputs changed since the schedule was recorded"
                        ));
                    }
                    sr.end();
                    0
                }
            }
        }
        _ => sr.rng.below(n),
    };
    sr.record.push(i as u64);
    i
}

/// Virtual nanoseconds since the run started.
pub fn now_nanos() -> u64 {
    let s = sched_ptr();
    if s.is_null() {
        return 0;
    }
    // SAFETY: this thread's run; read-only.
    unsafe { (*s).now }
}

/// Parks the running goroutine for `nanos` of virtual time (`sleep`).
pub fn sleep_nanos(nanos: u64) {
    let s = sched_or_panic("gosan::time::sleep");
    let g = current();
    // SAFETY: this thread's run; short exclusive access.
    unsafe {
        let sr = &mut *s;
        let when = sr.now.saturating_add(nanos);
        sr.add_timer(when, Action::Wake(g.slot, g.id));
    }
    park(WaitReason::Sleep);
}

/// Arms a user-visible timer entry firing at virtual time `when`.
pub fn arm_timer(when: u64, target: std::sync::Weak<dyn timer::Fire>, gen: u64) {
    let s = sched_or_panic("a timer");
    // SAFETY: this thread's run; short exclusive access.
    unsafe { (*s).add_timer(when, Action::Fire(target, gen)) };
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
pub fn in_run() -> bool {
    !sched_ptr().is_null()
}

/// The goroutine's stack bounds, id and creation site (SIGSEGV handler, panic hook).
///
/// # Safety
/// `g` must be [`current_g_ptr`]'s non-null value on this thread.
pub unsafe fn overflow_info(g: *const G) -> (usize, usize, u64, &'static Location<'static>) {
    // SAFETY: per the contract, the running goroutine's record.
    unsafe { ((*g).lo, (*g).hi, (*g).id, (*g).created_loc) }
}

// ── the loop ───────────────────────────────────────────────────────────────────

/// What a finished run leaves behind, before symbolization.
pub struct Outcome {
    pub panic: Option<RawPanic>,
    pub deadlock: Vec<RawDump>,
    pub leaks: Vec<RawDump>,
    pub schedule: String,
    pub steps: u64,
    pub replay_error: Option<String>,
    pub races: Vec<crate::race::RawRace>,
    /// Things the reader of the report must know (the detector stopped, …).
    pub notes: Vec<String>,
}

/// Runs `f` as goroutine 1 under a fresh scheduler on this thread until the run ends.
pub fn run_main<F: FnOnce() + Send + 'static>(
    cfg: &Resolved,
    strategy: &Strategy,
    f: F,
) -> Result<Outcome, String> {
    if !sched_ptr().is_null() {
        return Err("gosan::run called inside a gosan run (runs do not nest)".into());
    }
    crate::panic_hook::install();
    crate::overflow::install();
    let mut sched = Box::new(Sched::new(cfg, strategy)?);
    let s: *mut Sched = &mut *sched;
    SCHED.with(|c| c.set(s));
    // SAFETY: `s` points at `sched`, alive until the end of this function; from here
    // on it is only used through the raw pointer.
    let main_slot = unsafe { (*s).spawn(f, Location::caller(), None) };
    // SAFETY: as above.
    unsafe {
        (*s).main_slot = main_slot;
        (*s).runq.clear();
        run_loop(s, main_slot);
        (*s).record_bounded_leaks();
        teardown(s);
    }
    SCHED.with(|c| c.set(std::ptr::null_mut()));
    let sched = *sched;
    Ok(Outcome {
        panic: sched.panic,
        deadlock: sched.deadlock,
        leaks: sched.leaks,
        schedule: sched.record.encode(),
        steps: sched.steps,
        replay_error: sched.replay_error,
        races: match (sched.race, &sched.race_stopped) {
            (Some(r), _) => r.races,
            (None, Some((races, _))) => races.clone(),
            (None, None) => Vec::new(),
        },
        notes: sched
            .race_stopped
            .map(|(_, why)| vec![why])
            .unwrap_or_default(),
    })
}

/// # Safety
/// `s` is this thread's live scheduler; only raw-pointer access to it here.
unsafe fn run_loop(s: *mut Sched, first: u32) {
    let mut next = Some(first);
    loop {
        let slot = match next.take() {
            Some(x) => x,
            // SAFETY: per the contract.
            None => match unsafe { idle(s) } {
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
                g.coro.as_mut().expect("live goroutine has a coroutine") as *mut Coro,
                gptr as *const G,
            )
        };
        // SAFETY: the coroutine belongs to a live G whose Box is not freed while it
        // runs; nothing else borrows it.
        let r = unsafe { (*coro).resume(Cmd::Run) };
        // SAFETY: per the contract.
        unsafe { (*s).cur_g = std::ptr::null_mut() };
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
    let coro = g.coro.take().expect("finished goroutine had a coroutine");
    stack::free(coro.into_stack());
    sr.live -= 1;
    sr.free_slots.push(slot);
    sr.spin_streak = 0;
    if slot == sr.main_slot {
        sr.main_done = true;
        sr.main_done_steps = sr.steps;
        sr.main_done_at = sr.now;
        if sr.leak_check {
            // Past `steps + AFTER_MAIN_STEPS`; never later than an end already set.
            sr.stop_at = sr.stop_at.min(sr.steps + AFTER_MAIN_STEPS + 1);
        } else {
            sr.end(); // main's return ends the run, as in Go
        }
    }
    if sr.must_stop() {
        return None;
    }
    sr.decide(None)
}

/// Nobody is runnable: advance virtual time, or decide how the run ends.
///
/// # Safety
/// As [`run_loop`].
unsafe fn idle(s: *mut Sched) -> Option<u32> {
    loop {
        // SAFETY: per the contract; short borrows.
        unsafe {
            if (*s).must_stop() {
                return None;
            }
            if !(*s).runq.is_empty() {
                return (*s).decide(None);
            }
            if fire_next_timer(s) {
                continue;
            }
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

/// Unwinds every unfinished goroutine so its destructors run and its stack returns
/// to the pool.
///
/// # Safety
/// As [`run_loop`].
unsafe fn teardown(s: *mut Sched) {
    // SAFETY: per the contract.
    unsafe {
        (*s).tearing_down = true;
        (*s).timers.clear();
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
                Some(c) => (c, &mut **g as *mut G),
                None => continue,
            }
        };
        let mut coro = coro;
        if coro.started() {
            let mut tries = 0;
            while !coro.done() && tries < 16 {
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
                // A goroutine that swallows its own teardown cannot be unwound; its
                // stack is leaked rather than freed under live frames.
                std::mem::forget(coro);
            }
        } else {
            drop(coro); // drops the unstarted closure
        }
        // SAFETY: per the contract.
        unsafe {
            let g = &mut (&mut *s).gs[slot];
            g.state = GState::Dead;
            (*s).live -= 1;
        }
    }
}
