//! Go's `time` package (`src/time/sleep.go`, `src/time/tick.go`, `src/runtime/time.go`,
//! Go 1.23 semantics) on the scheduler's virtual clock.
//!
//! # Clock
//! [`Instant`] is virtual nanoseconds since the run started (`sched::now_nanos`). Time
//! moves only when the scheduler fires a timer, so a 10-minute timeout ends at once
//! and identically every run. A timer fires when every goroutine is blocked, when
//! only spinners run, when the work done since time last moved covers its deadline
//! (100 ns of virtual time per scheduling step: a due timer fires even while
//! goroutines are always runnable, as Go guarantees), or, for a racing timer, while
//! goroutines are still runnable (`timer_race`: recorded scheduling choices; see
//! `sched/timer.rs`).
//! [`sleep`] parks with wait reason `sleep`; it creates no happens-before edge.
//!
//! # Timers
//! A [`Timer`] or [`Ticker`] owns a `Core` (generation, deadline, period) and a
//! channel of capacity 1. The scheduler's heap holds only `Weak` references: an entry
//! is `(when, Weak<Core>, gen)`, dead once the generation moved on (stop/reset: lazy
//! deletion, like Go's timer heap) or the core is gone. So a timer nobody holds any more
//! is stopped, and a dropped `after(d)` channel keeps nothing alive nor hides a deadlock.
//! - `stop`/`reset` bump the generation, then drain the channel: after they return no
//!   value prepared before them is received (Go 1.23's synchronous timer channels). As
//!   in Go 1.23 they return `true` when the timer was pending *or* a fired value was
//!   still unreceived (the program never saw it fire).
//! - [`after`] is a timer nobody can stop: its core keeps itself alive while pending
//!   (`Armed::keep`) and its entry lives exactly as long as someone holds the channel
//!   (`live` cuts the cycle once the channel is gone). A `Timer` dropped while its
//!   channel is still held elsewhere turns into the same thing, so
//!   `let c = Timer::new(d).c;` works like `after(d)`.
//! - A ticker re-arms itself on the period grid at every tick; a tick finding the
//!   channel full is dropped (Go). After `FUTILE_TICKS` dropped ticks in a row it backs
//!   off exponentially along the grid, so a ticker nobody reads cannot spin the
//!   scheduler forever; past the end of the clock it goes dormant. A `Ticker` dropped
//!   while its channel is still held elsewhere keeps ticking (Go 1.23: the ticker is
//!   collected only once neither it nor its channel is reachable), which is what
//!   [`tick`] returns; it stops once the channel is gone too (`live` cuts the cycle).
//! - [`after_func`] starts `f` on a new goroutine (created at the `after_func` call). The
//!   heap is weak, so while pending its core keeps itself alive (`Armed::keep`); the
//!   cycle is cut when it fires or stops.
//!
//! # Race detector
//! Arming (`after`, `Timer::new`, `Timer::reset`, `after_func`, `Ticker::new`,
//! `Ticker::reset`) release-merges the arming goroutine's clock into the core's
//! `Armed::clock`; a firing hands that clock on — the value offered on the channel
//! carries it (`Chan::offer_with_clock`: its receiver acquires it), `after_func`'s
//! goroutine starts knowing it. So arming happens-before the firing's observers, as
//! in Go. [`sleep`] creates no edge, nor do `stop` and `now`.
//!
//! # Protocol (who touches what)
//! `Core::st` is a `SpinLock` held for a few instructions only, never across a
//! scheduling point; `fire` runs in scheduler context and never parks. Lock order:
//! a core's lock, then (inside `offer`/`arm_timer`) the channel's lock or the scheduler.
//! Every user-facing operation except [`now`] starts with a scheduling point.

use crate::chan::{chan, Chan, Inner, RecvChan};
use crate::lock::SpinLock;
use crate::race::{self, RaceClock};
use crate::sched::{self, timer::Fire};
use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::panic::Location;
use std::sync::{Arc, Weak};

pub use std::time::Duration;

/// Dropped ticks in a row after which a ticker backs off (see the module docs).
pub(crate) const FUTILE_TICKS: u32 = 1_000_000;

/// A point on the run's clock: virtual nanoseconds since the run started in
/// deterministic mode. Ordered, hashable, `Copy`, like `std::time::Instant`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    nanos: u64,
}

/// `d` in nanoseconds, saturating (u64 nanoseconds cover 584 years).
pub(crate) fn nanos_of(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Instant {
    /// The current virtual time (Go's `time.Now()`).
    pub fn now() -> Instant {
        Instant {
            nanos: sched::now_nanos(),
        }
    }

    pub(crate) fn from_nanos(nanos: u64) -> Instant {
        Instant { nanos }
    }

    pub(crate) fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Time from `earlier` to `self`; zero when `earlier` is later (std's saturation).
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// Time from `earlier` to `self`, or `None` when `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.nanos
            .checked_sub(earlier.nanos)
            .map(Duration::from_nanos)
    }

    /// Time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// Virtual time passed since `self` (Go's `time.Since`).
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// `self + d`, or `None` past the end of the clock.
    pub fn checked_add(&self, d: Duration) -> Option<Instant> {
        let n = u64::try_from(d.as_nanos()).ok()?;
        self.nanos.checked_add(n).map(Instant::from_nanos)
    }

    /// `self - d`, or `None` before the start of the run.
    pub fn checked_sub(&self, d: Duration) -> Option<Instant> {
        let n = u64::try_from(d.as_nanos()).ok()?;
        self.nanos.checked_sub(n).map(Instant::from_nanos)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant(+{:?})", Duration::from_nanos(self.nanos))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// # Panics
    /// Past the end of the clock, like `std::time::Instant`.
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d)
            .expect("overflow when adding duration to instant")
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// # Panics
    /// Before the start of the run, like `std::time::Instant`.
    fn sub(self, d: Duration) -> Instant {
        self.checked_sub(d)
            .expect("overflow when subtracting duration from instant")
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating, like `std::time::Instant` since Rust 1.60.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// The current virtual time (Go's `time.Now()`). Not a scheduling point: a busy-wait
/// on `now()` must call `gosched()` for time to move.
pub fn now() -> Instant {
    Instant::now()
}

#[cold]
#[track_caller]
pub(crate) fn outside_run(what: &str) -> ! {
    panic!(
        "gosan: {what} called outside a gosan run (wrap the code in gosan::run, #[gosan::main] or #[gosan::test])"
    )
}

#[inline]
#[track_caller]
pub(crate) fn require_run(what: &str) {
    if !sched::in_run() {
        outside_run(what);
    }
}

/// Pauses the calling goroutine for `d` of virtual time (Go's `time.Sleep`; wait
/// reason `sleep`). `sleep(Duration::ZERO)` returns at once, after a scheduling point.
#[track_caller]
pub fn sleep(d: Duration) {
    if !sched::in_goroutine() {
        outside_run("gosan::time::sleep");
    }
    sched::sched_point();
    if d.is_zero() {
        return;
    }
    sched::sleep_nanos(nanos_of(d));
}

/// A channel that receives the virtual time once `d` has passed (Go's `time.After`).
/// If the channel is dropped first, the timer is gone with it.
#[track_caller]
pub fn after(d: Duration) -> RecvChan<Instant> {
    require_run("gosan::time::after");
    sched::sched_point();
    let c = chan::<Instant>(1);
    let core =
        Core::new(Kind::Chan(c.downgrade().unwrap_or_else(|| {
            fatal!("time::after", "a made channel is not nil")
        })));
    {
        let mut st = core.st.lock();
        let keep = core.arm_by_goroutine(&mut st, deadline_after(d));
        debug_check!(
            keep.is_none(),
            "time::after",
            "a fresh timer core holds no keep-alive"
        );
        st.keep = Some(core.clone()); // nobody can stop it: pending, it keeps itself
    }
    c.receiver()
}

/// `now + d` on the virtual clock, saturating.
fn deadline_after(d: Duration) -> u64 {
    sched::now_nanos().saturating_add(nanos_of(d))
}

/// What a core does when it fires.
enum Kind {
    /// `Timer`/`Ticker`: send the fire time on the cap-1 channel (weak: a channel nobody
    /// holds stops the timer).
    Chan(Weak<Inner<Instant>>),
    /// `after_func`: start `f` on a new goroutine created at `loc`.
    Func {
        f: Arc<dyn Fn() + Send + Sync>,
        loc: &'static Location<'static>,
    },
}

/// A core's mutable state, under `Core::st`.
struct Armed {
    /// Bumped by every arm, stop and reset; only the heap entry carrying the current
    /// value is live.
    gen: u64,
    /// The pending firing's virtual time; `None` when stopped, fired (one-shot) or
    /// dormant.
    when: Option<u64>,
    /// 0 for a one-shot timer, else the ticker's period in nanoseconds.
    period: u64,
    /// Ticks dropped in a row because the channel was full.
    futile: u32,
    /// The core itself while pending, when no handle can stop it any more
    /// (`after_func`, `after`, a dropped `Timer`): the heap holds it weakly.
    keep: Option<Arc<Core>>,
    /// What arming goroutines released; handed to whoever observes a firing.
    clock: RaceClock,
}

/// The state shared by a timer handle and its heap entries (Go's `runtime.timer`).
struct Core {
    me: Weak<Core>,
    kind: Kind,
    st: SpinLock<Armed>,
}

impl Core {
    fn new(kind: Kind) -> Arc<Core> {
        Arc::new_cyclic(|me| Core {
            me: me.clone(),
            kind,
            st: SpinLock::new(Armed {
                gen: 0,
                when: None,
                period: 0,
                futile: 0,
                keep: None,
                clock: RaceClock::new(),
            }),
        })
    }

    /// Arms a firing at `when` (a new generation). Returns what the caller must drop
    /// after releasing the lock.
    fn arm(&self, st: &mut Armed, when: u64, by_goroutine: bool) -> Option<Arc<Core>> {
        st.gen += 1;
        st.when = Some(when);
        let target: Weak<dyn Fire> = self.me.clone();
        sched::arm_timer(when, target, st.gen, by_goroutine);
        match self.kind {
            Kind::Func { .. } => st.keep.replace(
                self.me
                    .upgrade()
                    .unwrap_or_else(|| fatal!("Core::arm", "armed core is alive")),
            ),
            Kind::Chan(_) => None,
        }
    }

    /// [`arm`](Self::arm) by the running goroutine (not a ticker re-arming itself):
    /// arming happens-before the firing.
    fn arm_by_goroutine(&self, st: &mut Armed, when: u64) -> Option<Arc<Core>> {
        race::release_merge(&mut st.clock);
        self.arm(st, when, true)
    }

    /// Cancels the pending firing; whether there was one, and what to drop unlocked.
    fn disarm(st: &mut Armed) -> (bool, Option<Arc<Core>>) {
        st.gen += 1;
        st.futile = 0;
        (st.when.take().is_some(), st.keep.take())
    }

    /// Drops a fired but unreceived value; whether there was one.
    fn drain(&self) -> bool {
        let Kind::Chan(w) = &self.kind else {
            return false;
        };
        let Some(inner) = w.upgrade() else {
            return false;
        };
        let c = Chan { inner: Some(inner) };
        let had = !c.is_empty();
        c.drain();
        had
    }

    /// `stop` for every kind: whether the call stopped a pending firing (Go 1.23).
    fn stop(&self) -> bool {
        let (pending, keep) = Core::disarm(&mut self.st.lock());
        drop(keep);
        let drained = self.drain();
        pending || drained
    }

    /// `reset` for every kind: rearms at `now + d` with `period` (0 = one-shot).
    fn reset(&self, d: Duration, period: u64) -> bool {
        let mut st = self.st.lock();
        let (pending, old) = Core::disarm(&mut st);
        st.period = period;
        let keep = self.arm_by_goroutine(&mut st, deadline_after(d));
        drop(st);
        drop((old, keep));
        let drained = self.drain();
        pending || drained
    }

    /// The ticker's next firing after the tick due at `when`, on the period grid;
    /// `None` past the end of the clock.
    fn next_tick(st: &Armed, when: u64, now: u64) -> Option<u64> {
        let p = st.period;
        // Skip ticks missed while late (Go's `when += period * (1 + -delta/period)`).
        let mut periods = 1 + now.saturating_sub(when) / p;
        if st.futile > FUTILE_TICKS {
            periods = periods.checked_mul(1u64 << (st.futile - FUTILE_TICKS).min(63))?;
        }
        when.checked_add(p.checked_mul(periods)?)
    }
}

impl Fire for Core {
    fn live(&self, gen: u64) -> bool {
        let mut st = self.st.lock();
        let live = st.gen == gen
            && st.when.is_some()
            && match &self.kind {
                Kind::Chan(w) => w.strong_count() > 0,
                Kind::Func { .. } => true,
            };
        // A self-kept timer whose channel is gone: cut the cycle (nobody else will).
        let cut = match &self.kind {
            Kind::Chan(_) if !live && st.gen == gen => st.keep.take(),
            _ => None,
        };
        drop(st);
        drop(cut);
        live
    }
    fn abandon(&self) {
        let keep = {
            let mut st = self.st.lock();
            st.when = None;
            st.keep.take()
        };
        drop(keep); // may free this core (and an `after_func`'s closure) right here
    }

    fn fire(&self, gen: u64) {
        let now = sched::now_nanos();
        let mut st = self.st.lock();
        let Some(when) = st.when.filter(|_| st.gen == gen) else {
            return;
        };
        match &self.kind {
            Kind::Chan(w) => {
                let delivered = w.upgrade().is_some_and(|c| {
                    Chan::offer_with_clock(&c, Instant::from_nanos(now), &mut st.clock)
                });
                if st.period == 0 {
                    st.when = None;
                    let keep = st.keep.take();
                    drop(st);
                    drop(keep);
                    return;
                }
                st.futile = if delivered {
                    0
                } else {
                    st.futile.saturating_add(1)
                };
                match Core::next_tick(&st, when, now) {
                    Some(next) => {
                        self.arm(&mut st, next, false);
                    }
                    None => st.when = None, // dormant past the end of the clock
                }
            }
            Kind::Func { f, loc } => {
                st.when = None;
                let keep = st.keep.take();
                let mut armed = RaceClock::new();
                race::clock_into(&mut st.clock, &mut armed);
                drop(st);
                let f = f.clone();
                sched::go_from_timer(move || f(), loc, Some(&mut armed));
                drop(keep);
            }
        }
    }
}

/// Go's `*time.Timer`: one value on `c` after the duration, unless stopped first.
pub struct Timer {
    /// Receives the fire time (capacity 1); the nil channel for [`after_func`] timers.
    /// Declared before `core` so that it is dropped first (see `TimerHandle`).
    pub c: RecvChan<Instant>,
    core: TimerHandle,
}

/// A `Timer`'s or `Ticker`'s core. On drop, a pending firing whose channel is still held elsewhere
/// keeps its core alive until it fires (as `after` does): nobody can stop it any
/// more, and whoever holds the channel still gets the value, as in Go.
struct TimerHandle(Arc<Core>);

impl Drop for TimerHandle {
    fn drop(&mut self) {
        let Kind::Chan(w) = &self.0.kind else {
            return; // after_func: pending ones keep themselves alive
        };
        let mut st = self.0.st.lock();
        if st.when.is_some() && w.strong_count() > 0 && sched::in_run() {
            st.keep = Some(self.0.clone());
        }
    }
}

impl Timer {
    /// A timer that sends the virtual time on `c` once `d` has passed (Go's
    /// `time.NewTimer`).
    #[track_caller]
    pub fn new(d: Duration) -> Timer {
        require_run("gosan::time::Timer::new");
        sched::sched_point();
        let c = chan::<Instant>(1);
        let core =
            Core::new(Kind::Chan(c.downgrade().unwrap_or_else(|| {
                fatal!("Timer::new", "a made channel is not nil")
            })));
        let keep = core.arm_by_goroutine(&mut core.st.lock(), deadline_after(d));
        debug_check!(
            keep.is_none(),
            "Timer::new",
            "a fresh timer core holds no keep-alive"
        );
        Timer {
            c: c.receiver(),
            core: TimerHandle(core),
        }
    }

    /// Prevents the timer from firing. `true` if the call stopped it: it was pending,
    /// or (Go 1.23) its value was sent but not yet received — that value is discarded.
    /// For an [`after_func`] timer, `true` means `f` will not be started.
    pub fn stop(&self) -> bool {
        sched::sched_point();
        self.core.0.stop()
    }

    /// Rearms the timer to fire `d` from now; returns what [`stop`](Self::stop) would
    /// have. No value from before the reset is received after it. An `after_func`
    /// timer runs `f` again, even if it already ran.
    pub fn reset(&self, d: Duration) -> bool {
        sched::sched_point();
        self.core.0.reset(d, 0)
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = self.core.0.st.lock().when.map(Instant::from_nanos);
        f.debug_struct("Timer").field("when", &when).finish()
    }
}

/// Go's `time.AfterFunc`: after `d`, starts `f` on its own goroutine (whose creation
/// site is this call). The returned timer's `c` is the nil channel; `stop` before the
/// firing prevents `f` from starting, `reset` runs it again.
#[track_caller]
pub fn after_func<F: Fn() + Send + Sync + 'static>(d: Duration, f: F) -> Timer {
    let loc = Location::caller();
    require_run("gosan::time::after_func");
    sched::sched_point();
    let core = Core::new(Kind::Func {
        f: Arc::new(f),
        loc,
    });
    let keep = core.arm_by_goroutine(&mut core.st.lock(), deadline_after(d));
    drop(keep); // None: nothing was armed before
    Timer {
        c: RecvChan::nil(),
        core: TimerHandle(core),
    }
}

/// Go's `*time.Ticker`: the virtual time on `c` every period; ticks are dropped while
/// the reader is slow (capacity 1). Dropping the ticker while a clone of `c` is still
/// held elsewhere keeps it ticking (Go 1.23); once neither is held it stops.
pub struct Ticker {
    /// Receives the tick times. Declared before `core` so that it is dropped first
    /// (see `TimerHandle`).
    pub c: RecvChan<Instant>,
    core: TimerHandle,
}

/// Go's `time.Tick`: the channel of a ticker with period `d` that nobody can stop; it
/// ticks while the channel is held (Go 1.23) and stops once it is dropped. A zero `d`
/// gives the nil channel, as Go's `Tick` returns nil for `d <= 0`.
#[track_caller]
pub fn tick(d: Duration) -> RecvChan<Instant> {
    require_run("gosan::time::tick");
    if d.is_zero() {
        sched::sched_point();
        return RecvChan::nil();
    }
    let t = Ticker::new(d);
    t.c.clone()
}

impl Ticker {
    /// A ticker with period `d`; the first tick comes `d` from now (Go's
    /// `time.NewTicker`).
    ///
    /// # Panics
    /// `non-positive interval for NewTicker` when `d` is zero.
    #[track_caller]
    pub fn new(d: Duration) -> Ticker {
        if d.is_zero() {
            panic!("non-positive interval for NewTicker");
        }
        require_run("gosan::time::Ticker::new");
        sched::sched_point();
        let c = chan::<Instant>(1);
        let core =
            Core::new(Kind::Chan(c.downgrade().unwrap_or_else(|| {
                fatal!("Ticker::new", "a made channel is not nil")
            })));
        {
            let mut st = core.st.lock();
            st.period = nanos_of(d);
            core.arm_by_goroutine(&mut st, deadline_after(d));
        }
        Ticker {
            c: c.receiver(),
            core: TimerHandle(core),
        }
    }

    /// Turns the ticker off; no tick from before the call is received after it.
    pub fn stop(&self) {
        sched::sched_point();
        self.core.0.stop();
    }

    /// Stops the ticker and restarts it with period `d`; the next tick comes `d` from
    /// now. Works on a stopped ticker too.
    ///
    /// # Panics
    /// `non-positive interval for Ticker.Reset` when `d` is zero.
    #[track_caller]
    pub fn reset(&self, d: Duration) {
        if d.is_zero() {
            panic!("non-positive interval for Ticker.Reset");
        }
        sched::sched_point();
        self.core.0.reset(d, nanos_of(d));
    }
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.core.0.st.lock();
        f.debug_struct("Ticker")
            .field("period", &Duration::from_nanos(st.period))
            .field("next", &st.when.map(Instant::from_nanos))
            .finish()
    }
}
