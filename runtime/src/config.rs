//! `Config`, `Strategy` and `GOSAN_OPTIONS` / `GOSAN_DEBUG` parsing.
//!
//! Precedence (DESIGN.md): an explicit `Config` call wins over the environment, the
//! environment wins over the defaults. Every field is an `Option` so that "set by the
//! user" and "default" stay distinguishable until [`Config::resolve`]. An unknown key
//! or a bad value is an [`OptionError`] naming it; the runtime refuses to start with
//! it (a panic with the error's text), never a silent default.
//!
//! # Options that are not built yet
//! DESIGN.md lists options whose machinery does not exist yet: `procs > 1` (the
//! parallel G/M/P scheduler), `trace=` (trace export), `format=sarif`, and
//! `GOSAN_DEBUG=schedtrace` / `scheddetail`. Each is rejected *where it is parsed*
//! ([`parse_options`], [`parse_debug`], [`Config::resolve`] for the builder methods,
//! and the `#[gosan::main]` / `#[gosan::test]` attribute at compile time) with an
//! [`OptionError`] naming the option and saying "not supported yet" — never accepted
//! and then ignored or refused later. `race=1` / `detect_races(true)` is rejected the
//! same way when the `race` cargo feature is off (the detector is not compiled in).
//!
//! `detect_lock_order` (default `true`) turns the lock-order detector
//! (`runtime/src/deadlock.rs`) on or off; `partial_deadlock=continue|stop` says
//! whether a partial deadlock found while main runs ends the run.

use crate::sched::strategy::{Record, MAX_PCT_DEPTH};
use std::fmt;
use std::path::PathBuf;

/// How the deterministic scheduler picks the next goroutine at a scheduling point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// Uniform choice among the runnable goroutines, from the seed.
    Random,
    /// Probabilistic Concurrency Testing (Burckhardt et al., ASPLOS 2010) with
    /// `depth - 1` priority change points.
    Pct { depth: u32 },
    /// Each scheduling point hands over to the longest-waiting runnable goroutine.
    RoundRobin,
    /// Repeats a recorded `Report::schedule` choice for choice.
    Replay(String),
    /// Bounded-exhaustive exploration under `check`: every schedule with at most
    /// `preemption_bound` preemptions (switching away from a goroutine that could go
    /// on), depth-first (Musuvathi & Qadeer, PLDI 2007); `u32::MAX` (spelled
    /// `exhaustive:inf`) is unbounded and then prunes with sleep sets (Godefroid).
    /// `check` ends when the tree is exhausted or after `iterations` schedules,
    /// whichever comes first; `run`/`run_with` run the tree's first schedule.
    Exhaustive { preemption_bound: u32 },
}

impl Strategy {
    /// The spelling `GOSAN_OPTIONS="strategy=…"` accepts.
    pub fn spelling(&self) -> String {
        match self {
            Strategy::Random => "random".into(),
            Strategy::Pct { depth } => format!("pct:{depth}"),
            Strategy::RoundRobin => "roundrobin".into(),
            Strategy::Replay(s) => format!("replay:{s}"),
            Strategy::Exhaustive {
                preemption_bound: u32::MAX,
            } => "exhaustive:inf".into(),
            Strategy::Exhaustive { preemption_bound } => format!("exhaustive:{preemption_bound}"),
        }
    }

    fn parse_spelling(v: &str) -> Result<Strategy, String> {
        let lower = v.to_ascii_lowercase();
        if lower == "random" {
            return Ok(Strategy::Random);
        }
        if lower == "roundrobin" || lower == "rr" {
            return Ok(Strategy::RoundRobin);
        }
        if let Some(d) = lower.strip_prefix("pct:") {
            return match d.parse::<u32>() {
                Ok(depth) if (1..=MAX_PCT_DEPTH).contains(&depth) => Ok(Strategy::Pct { depth }),
                _ => Err(format!("expected pct:N with 1 <= N <= {MAX_PCT_DEPTH}")),
            };
        }
        if lower == "pct" {
            return Ok(Strategy::Pct { depth: 3 });
        }
        if lower == "exhaustive" {
            return Err("expected exhaustive:K (K = most preemptions per schedule, e.g. exhaustive:2) or exhaustive:inf".into());
        }
        if let Some(k) = lower.strip_prefix("exhaustive:") {
            if k == "inf" || k == "unbounded" {
                return Ok(Strategy::Exhaustive {
                    preemption_bound: u32::MAX,
                });
            }
            return match k.parse::<u32>() {
                Ok(b) if b < u32::MAX => Ok(Strategy::Exhaustive { preemption_bound: b }),
                _ => Err(format!(
                    "expected exhaustive:K with K a number of preemptions below {} (or exhaustive:inf), not `{k}`",
                    u32::MAX
                )),
            };
        }
        if let Some(s) = v.strip_prefix("replay:") {
            // Checked here (syntax, length) so a bad schedule is an option error.
            Record::decode_runs(s).map_err(|e| format!("bad replay schedule: {e}"))?;
            return Ok(Strategy::Replay(s.to_string()));
        }
        Err("expected random, roundrobin, pct:N, exhaustive:K or replay:SCHEDULE".into())
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    /// `random`, `roundrobin`, `pct` / `pct:N`, `exhaustive:K` / `exhaustive:inf`,
    /// `replay:SCHEDULE`.
    fn from_str(s: &str) -> Result<Strategy, String> {
        Strategy::parse_spelling(s)
    }
}

/// Report output format (`format=`) of `#[gosan::main]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Go's text (the default).
    Text,
    /// The [`Report`](gosan_detector::report::Report) as JSON.
    Json,
    /// SARIF: not supported yet; `format=sarif` / `Config::format(Format::Sarif)` is
    /// an [`OptionError`] naming `format`.
    Sarif,
}

/// An unknown option or a bad value in `GOSAN_OPTIONS`, `GOSAN_DEBUG` or a `Config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// Where it came from: `GOSAN_OPTIONS`, `GOSAN_DEBUG`, `Config` or an attribute.
    pub source: &'static str,
    pub key: String,
    pub value: Option<String>,
    pub reason: String,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(
                f,
                "{}: invalid value `{}` for `{}`: {}",
                self.source, v, self.key, self.reason
            ),
            None => write!(f, "{}: `{}`: {}", self.source, self.key, self.reason),
        }
    }
}

impl std::error::Error for OptionError {}

/// Options of one run. Builder methods take and return `self`; unset fields fall back
/// to `GOSAN_OPTIONS`, then to the defaults.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub(crate) seed: Option<u64>,
    pub(crate) strategy: Option<Strategy>,
    pub(crate) procs: Option<usize>,
    pub(crate) detect_races: Option<bool>,
    pub(crate) leak_check: Option<bool>,
    pub(crate) shrink: Option<bool>,
    pub(crate) exitcode: Option<i32>,
    pub(crate) halt_on_error: Option<bool>,
    pub(crate) log_path: Option<PathBuf>,
    pub(crate) strip_path_prefix: Option<String>,
    pub(crate) history_size: Option<u32>,
    pub(crate) detect_lock_order: Option<bool>,
    pub(crate) stop_on_partial_deadlock: Option<bool>,
    pub(crate) format: Option<Format>,
    pub(crate) trace: Option<PathBuf>,
    pub(crate) shard: Option<(u32, u32)>,
    pub(crate) max_steps: Option<u64>,
    pub(crate) max_time: Option<std::time::Duration>,
    pub(crate) watchdog: Option<std::time::Duration>,
    pub(crate) timer_race: Option<f64>,
    /// Set by `#[gosan::main]`/`#[gosan::test]` (they print reports): print each race
    /// on stderr when it is found, as Go does. Not an option.
    pub(crate) stream_races: bool,
}

/// Default of [`Config::timer_race`] under [`check`](crate::check) (and
/// `#[gosan::test(iterations = N)]`): 1/16. Per timer, not per step: an explored
/// schedule sees a given timeout win against runnable work with a chance of at most
/// 1/16 however long the work (`sleep`s are never raced), so `check` tries the
/// timeout-wins interleaving in about one schedule in 20 and it turns up within a few
/// hundred schedules. A single run (`run`, `run_with`, `#[gosan::main]`, a
/// `#[gosan::test]` without `iterations`) defaults to 0: like Go's scheduler in
/// practice, a timeout never beats work that can still run, so a test's safety
/// timeout is not a coin toss. A `seed=` reproduce line reproduces under the entry
/// point that printed it (a `replay:` token under any).
pub const DEFAULT_TIMER_RACE: f64 = 1.0 / 16.0;

/// Default of [`Config::watchdog`].
pub const DEFAULT_WATCHDOG: std::time::Duration = std::time::Duration::from_secs(60);

/// Default of [`Config::max_steps`]: scheduling steps a run may take.
pub const DEFAULT_MAX_STEPS: u64 = 1_000_000_000;
/// Default of [`Config::max_time`]: the end of the virtual clock (`u64::MAX`
/// nanoseconds, ~584 years). Long sleeps are progress, not a livelock, and an unread
/// ticker backs off to the clock's end, where the run is a deadlock; a ticker read
/// forever next to a blocked main is stopped by [`DEFAULT_MAX_STEPS`].
pub const DEFAULT_MAX_TIME: std::time::Duration = std::time::Duration::from_nanos(u64::MAX);

macro_rules! setters {
    ($($(#[$m:meta])* $name:ident : $t:ty),* $(,)?) => {$(
        $(#[$m])*
        pub fn $name(mut self, v: $t) -> Self {
            self.$name = Some(v);
            self
        }
    )*};
}

impl Config {
    pub fn new() -> Config {
        Config::default()
    }

    setters! {
        /// Seed of the run's strategy (default: fresh, printed in every report).
        seed: u64,
        /// Scheduling strategy (default: Random for `run`, Random+PCT for `check`).
        strategy: Strategy,
        /// Number of Ps. 1 = the deterministic single-thread scheduler, the default
        /// (also for `#[gosan::main]`, until parallel mode exists; DESIGN.md's
        /// default there will then be the number of CPUs). 0 is an error, and so is
        /// every value > 1 for now: [`Config::resolve`] returns an [`OptionError`] for
        /// `procs` saying the parallel G/M/P scheduler is not supported yet.
        procs: usize,
        /// Run the race detector (default true when the `race` cargo feature is on,
        /// which it is by default). With the feature off the detector is not compiled
        /// in: the default becomes false, and `detect_races(true)` makes
        /// [`Config::resolve`] return an [`OptionError`] for `race`.
        detect_races: bool,
        /// After main returns, run the others on and report those blocked for good
        /// (default true; false = main's return ends the run, as in Go).
        leak_check: bool,
        /// Shrink a failing schedule `check` found before returning its report
        /// (default true; `shrink=0|1`): the report is then the shrunk schedule's,
        /// reproduced by its replay token (its seed found the unshrunk schedule).
        shrink: bool,
        /// Exit code of `#[gosan::main]` when races or leaks were found (default 66).
        exitcode: i32,
        /// Stop at the first race (default false).
        halt_on_error: bool,
        /// How much of the *previous* access of a race the report shows (0..=7,
        /// default 1; TSan's spelling). 0: its innermost user frame only (the access
        /// site; cheaper: a few frames walked per access); any value 1..=7: its whole
        /// stack (up to 48 frames walked per access). Values 1 to 7 behave the same
        /// today. The current access always has its whole stack.
        history_size: u32,
        /// Report lock-order inversions in `Report::lock_order` (default true;
        /// `GOSAN_OPTIONS` key `detect_lock_order`): taking B while holding A after
        /// some goroutine took A while holding B is a potential deadlock.
        detect_lock_order: bool,
        /// End the run at the first partial deadlock (a wait-for cycle found while
        /// other goroutines still run) instead of recording it and going on (default
        /// false = continue; `GOSAN_OPTIONS` key `partial_deadlock=continue|stop`).
        stop_on_partial_deadlock: bool,
        /// Format of the report `#[gosan::main]` prints (default [`Format::Text`]).
        /// [`Format::Sarif`] is not supported yet: [`Config::resolve`] returns an
        /// [`OptionError`] for `format`.
        format: Format,
        /// Most scheduling steps one run may take (`max_steps=N`, default
        /// 10^9; at least 1). A run that reaches it ends with a
        /// `livelock` finding naming the goroutines still running and where.
        max_steps: u64,
        /// Most virtual time one run may span (`max_time=SECONDS`, default
        /// the end of the virtual clock, ~584 years; at least 1 s). A run whose clock passes it (a
        /// ticker firing forever next to a receive nobody sends to) ends with a
        /// `livelock` finding.
        max_time: std::time::Duration,
        /// Wall time a run may go without reaching a scheduling point before the
        /// watchdog ends the process with the stuck goroutine's stack, exit 2
        /// (`watchdog=SECONDS`, default 60 s; zero = off): a loop with
        /// no gosan operation (a std atomic spin, a std lock) cannot be preempted.
        watchdog: std::time::Duration,
    }

    /// Write reports to `<path>.<pid>` instead of stderr.
    pub fn log_path(mut self, p: impl Into<PathBuf>) -> Self {
        self.log_path = Some(p.into());
        self
    }

    /// Remove this prefix from every file path in reports.
    pub fn strip_path_prefix(mut self, p: impl Into<String>) -> Self {
        self.strip_path_prefix = Some(p.into());
        self
    }

    /// Reserved for writing a Chrome/Perfetto trace of the run to `p`. Trace export
    /// is not supported yet: with this set, [`Config::resolve`] returns an
    /// [`OptionError`] for `trace` (and `run_with`/`check` panic with it).
    pub fn trace(mut self, p: impl Into<PathBuf>) -> Self {
        self.trace = Some(p.into());
        self
    }

    /// Probability that a timer armed by a goroutine (`after`, `Timer`, `Ticker`,
    /// `after_func`, a context deadline; never a `sleep`) is a *racing* timer
    /// (`timer_race=P`, `0.0 ..= 1.0`; default 1/16 under `check`, 0 in a single
    /// run: see `DEFAULT_TIMER_RACE`): while it is
    /// the earliest pending timer, each scheduling point of a running goroutine fires
    /// it with probability 1/2 — virtual time jumps to its deadline although
    /// goroutines are still runnable, so a timeout may win against the work it
    /// guards, as on a slow machine. Applies to the Random and PCT strategies;
    /// RoundRobin never races; a replayed schedule repeats the recorded choices
    /// (`0` only stops new ones being drawn). Independently, time
    /// passes with work: a pending timer fires at the latest once its deadline is
    /// covered by the scheduling steps taken since time last moved, 100 ns each
    /// (Go's timer starvation guarantee). A value outside `0.0 ..= 1.0` makes
    /// [`Config::resolve`] return an [`OptionError`] for `timer_race`.
    pub fn timer_race(mut self, p: f64) -> Self {
        self.timer_race = Some(p);
        self
    }

    /// Run only shard `k` of `n` (1-based) of `check`'s iterations: iteration `i`
    /// (0-based) runs when `i % n == k - 1`, so `n` processes with `k = 1..=n` split
    /// the schedules between them. No effect on `run`/`run_with`.
    pub fn shard(mut self, k: u32, n: u32) -> Self {
        self.shard = Some((k, n));
        self
    }

    /// Fills every unset field from `GOSAN_OPTIONS`, then from the defaults.
    ///
    /// # Errors
    /// An [`OptionError`] naming the option when `GOSAN_OPTIONS` or `GOSAN_DEBUG` does
    /// not parse, when a value set on this `Config` is out of range, or when it asks
    /// for something not supported yet (`procs > 1`, `trace`, `Format::Sarif`) or not
    /// compiled in (`detect_races(true)` without the `race` feature).
    pub fn resolve(&self) -> Result<Resolved, OptionError> {
        const SRC: &str = "Config";
        let env = match std::env::var("GOSAN_OPTIONS") {
            Ok(s) => parse_options(&s, "GOSAN_OPTIONS")?,
            Err(_) => Config::default(),
        };
        // The builder's values, checked by the same rules as GOSAN_OPTIONS's.
        if let Some(n) = self.procs {
            check_procs(SRC, n as u64, &n.to_string())?;
        }
        if self.trace.is_some() {
            return Err(trace_not_supported(SRC));
        }
        if let Some(f) = self.format {
            check_format(SRC, f)?;
        }
        if let Some(on) = self.detect_races {
            check_race(SRC, on, if on { "true" } else { "false" })?;
        }
        if let Some(n) = self.max_steps {
            check_max_steps(SRC, n, &n.to_string())?;
        }
        if let Some(d) = self.max_time {
            check_max_time(SRC, d, &format!("{d:?}"))?;
        }
        if let Some(p) = self.timer_race {
            check_timer_race(SRC, p, &p.to_string())?;
        }
        if let Some(st) = &self.strategy {
            // The builder's strategy, checked by the parser's rules (bounds).
            Strategy::parse_spelling(&st.spelling()).map_err(|r| OptionError {
                source: SRC,
                key: "strategy".into(),
                value: Some(st.spelling()),
                reason: r,
            })?;
        }
        let seed = self.seed.or(env.seed);
        let procs = self.procs.or(env.procs).unwrap_or(1);
        let shard = self.shard.or(env.shard);
        if let Some((k, n)) = shard {
            if n == 0 || k == 0 || k > n {
                return Err(OptionError {
                    source: "Config",
                    key: "shard".into(),
                    value: Some(format!("{k}/{n}")),
                    reason: "expected K/N with 1 <= K <= N".into(),
                });
            }
        }
        let history_size = self.history_size.or(env.history_size).unwrap_or(1);
        if history_size > 7 {
            return Err(OptionError {
                source: "Config",
                key: "history_size".into(),
                value: Some(history_size.to_string()),
                reason: "expected 0..=7".into(),
            });
        }
        let debug = match std::env::var("GOSAN_DEBUG") {
            Ok(s) => parse_debug(&s)?,
            Err(_) => Debug::default(),
        };
        Ok(Resolved {
            seed_given: seed.is_some(),
            seed: seed.unwrap_or_else(fresh_seed),
            strategy: self.strategy.clone().or(env.strategy),
            procs,
            detect_races: self
                .detect_races
                .or(env.detect_races)
                .unwrap_or(crate::race::ENABLED),
            leak_check: self.leak_check.or(env.leak_check).unwrap_or(true),
            shrink: self.shrink.or(env.shrink).unwrap_or(true),
            exitcode: self.exitcode.or(env.exitcode).unwrap_or(66),
            halt_on_error: self.halt_on_error.or(env.halt_on_error).unwrap_or(false),
            log_path: self.log_path.clone().or(env.log_path),
            strip_path_prefix: self
                .strip_path_prefix
                .clone()
                .or(env.strip_path_prefix)
                .unwrap_or_default(),
            history_size,
            detect_lock_order: self
                .detect_lock_order
                .or(env.detect_lock_order)
                .unwrap_or(true),
            partial_stop: self
                .stop_on_partial_deadlock
                .or(env.stop_on_partial_deadlock)
                .unwrap_or(false),
            format: self.format.or(env.format).unwrap_or(Format::Text),
            shard,
            debug,
            max_steps: self
                .max_steps
                .or(env.max_steps)
                .unwrap_or(DEFAULT_MAX_STEPS),
            stream_races: self.stream_races,
            watchdog: self.watchdog.or(env.watchdog).unwrap_or(DEFAULT_WATCHDOG),
            max_time_nanos: self
                .max_time
                .or(env.max_time)
                .unwrap_or(DEFAULT_MAX_TIME)
                .as_nanos() as u64,
            timer_race: self.timer_race.or(env.timer_race).unwrap_or(0.0),
            timer_race_set: self.timer_race.or(env.timer_race).is_some(),
        })
    }
}

/// `GOSAN_DEBUG` (GODEBUG style, comma-separated) settings.
///
/// The keys DESIGN.md names for the scheduler trace, `schedtrace=N` and
/// `scheddetail=1`, are known but not supported yet, and [`parse_debug`] rejects them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Debug {
    /// `traceback=all` (`GOSAN_DEBUG`): goroutine dumps and panics print every frame
    /// — gosan's internals, std's panic machinery, the unwinder, corosensei — instead
    /// of the user's frames plus one line per gosan entry point the user called
    /// (`traceback=user`, the default), like Go's `GOTRACEBACK=system`.
    pub traceback_all: bool,
}

/// A [`Config`] with every field decided.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub seed: u64,
    pub seed_given: bool,
    pub strategy: Option<Strategy>,
    pub procs: usize,
    pub detect_races: bool,
    pub leak_check: bool,
    pub shrink: bool,
    pub exitcode: i32,
    pub halt_on_error: bool,
    pub log_path: Option<PathBuf>,
    pub strip_path_prefix: String,
    pub history_size: u32,
    /// Lock-order detection (see [`Config::detect_lock_order`]).
    pub detect_lock_order: bool,
    /// `partial_deadlock=stop` (see [`Config::stop_on_partial_deadlock`]).
    pub partial_stop: bool,
    pub format: Format,
    pub shard: Option<(u32, u32)>,
    pub debug: Debug,
    /// See [`Config::max_steps`].
    pub max_steps: u64,
    /// [`Config::max_time`] in nanoseconds.
    pub max_time_nanos: u64,
    /// See [`Config::watchdog`] (zero: off).
    pub watchdog: std::time::Duration,
    /// See [`Config::timer_race`] (0 when not set: `check` raises it to
    /// [`DEFAULT_TIMER_RACE`] then).
    pub timer_race: f64,
    /// Whether `timer_race` was set (by `Config` or `GOSAN_OPTIONS`).
    pub timer_race_set: bool,
    /// Races are printed on stderr when found (`#[gosan::main]`, `#[gosan::test]`
    /// with text output to stderr).
    pub stream_races: bool,
}

/// A seed no earlier run in this process used: time, address-space and counter mixed.
pub fn fresh_seed() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

fn bad(source: &'static str, key: &str, value: &str, reason: &str) -> OptionError {
    OptionError {
        source,
        key: key.to_string(),
        value: Some(value.to_string()),
        reason: reason.to_string(),
    }
}

fn parse_bool(source: &'static str, key: &str, v: &str) -> Result<bool, OptionError> {
    match v {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(bad(source, key, v, "expected 0 or 1")),
    }
}

fn parse_u64(source: &'static str, key: &str, v: &str) -> Result<u64, OptionError> {
    let r = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse::<u64>(),
    };
    r.map_err(|_| bad(source, key, v, "expected an integer (decimal or 0x-hex)"))
}

/// `procs`: at least 1, and 1 only until the parallel scheduler exists.
fn check_procs(source: &'static str, n: u64, v: &str) -> Result<(), OptionError> {
    match n {
        0 => Err(bad(source, "procs", v, "expected at least 1")),
        1 => Ok(()),
        _ => Err(bad(
            source,
            "procs",
            v,
            "procs > 1 (the parallel G/M/P scheduler) is not supported yet; \
             procs=1 is the deterministic scheduler",
        )),
    }
}

fn trace_not_supported(source: &'static str) -> OptionError {
    OptionError {
        source,
        key: "trace".into(),
        value: None,
        reason: "trace export (a Chrome/Perfetto trace of the run) is not supported yet".into(),
    }
}

fn check_format(source: &'static str, f: Format) -> Result<(), OptionError> {
    match f {
        Format::Text | Format::Json => Ok(()),
        Format::Sarif => Err(bad(
            source,
            "format",
            "sarif",
            "SARIF output is not supported yet; use text or json",
        )),
    }
}

fn check_max_steps(source: &'static str, n: u64, v: &str) -> Result<(), OptionError> {
    if n == 0 {
        return Err(bad(source, "max_steps", v, "expected at least 1"));
    }
    Ok(())
}

fn check_max_time(
    source: &'static str,
    d: std::time::Duration,
    v: &str,
) -> Result<(), OptionError> {
    if d < std::time::Duration::from_secs(1) || d > DEFAULT_MAX_TIME {
        return Err(bad(
            source,
            "max_time",
            v,
            "expected 1 second ..= 584 years (the virtual clock's end)",
        ));
    }
    Ok(())
}

fn check_timer_race(source: &'static str, p: f64, v: &str) -> Result<(), OptionError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(bad(
            source,
            "timer_race",
            v,
            "expected a probability 0.0 ..= 1.0",
        ));
    }
    Ok(())
}

/// `race=1` needs the detector compiled in (cargo feature `race`, default on).
fn check_race(source: &'static str, on: bool, v: &str) -> Result<(), OptionError> {
    if on && !crate::race::ENABLED {
        return Err(bad(
            source,
            "race",
            v,
            "the race detector is not compiled in (the cargo feature `race` of gosan / \
             gosan-runtime is off)",
        ));
    }
    Ok(())
}

const KNOWN: &str = "exitcode, halt_on_error, log_path, strip_path_prefix, history_size, seed, \
                     strategy, procs, race, leak_check, shrink, detect_lock_order, partial_deadlock, format, trace, \
                     shard, max_steps, max_time, watchdog, timer_race";

/// Parses `GOSAN_OPTIONS` text: space-separated `key=value` pairs.
///
/// # Errors
/// An [`OptionError`] naming the first bad item: not `key=value`, an unknown key, a
/// value that does not parse or is out of range, an option not supported yet
/// (`procs` > 1, `trace`, `format=sarif`), or `race=1` without the `race` feature.
pub fn parse_options(text: &str, source: &'static str) -> Result<Config, OptionError> {
    let mut c = Config::default();
    for item in text.split_whitespace() {
        let Some((key, v)) = item.split_once('=') else {
            return Err(OptionError {
                source,
                key: item.to_string(),
                value: None,
                reason: "expected key=value".into(),
            });
        };
        match key {
            "exitcode" => {
                c.exitcode = Some(
                    v.parse::<i32>()
                        .ok()
                        .filter(|n| (0..=255).contains(n))
                        .ok_or_else(|| bad(source, key, v, "expected an integer 0..=255"))?,
                )
            }
            "halt_on_error" => c.halt_on_error = Some(parse_bool(source, key, v)?),
            "log_path" => {
                if v.is_empty() {
                    return Err(bad(source, key, v, "expected a path"));
                }
                c.log_path = Some(PathBuf::from(v))
            }
            "strip_path_prefix" => c.strip_path_prefix = Some(v.to_string()),
            "history_size" => {
                let n = parse_u64(source, key, v)?;
                if n > 7 {
                    return Err(bad(source, key, v, "expected 0..=7"));
                }
                c.history_size = Some(n as u32)
            }
            "seed" => c.seed = Some(parse_u64(source, key, v)?),
            "strategy" => {
                c.strategy = Some(Strategy::parse_spelling(v).map_err(|r| bad(source, key, v, &r))?)
            }
            "procs" => {
                let n = parse_u64(source, key, v)?;
                check_procs(source, n, v)?;
                c.procs = Some(n as usize)
            }
            "race" => {
                let on = parse_bool(source, key, v)?;
                check_race(source, on, v)?;
                c.detect_races = Some(on)
            }
            "leak_check" => c.leak_check = Some(parse_bool(source, key, v)?),
            "shrink" => c.shrink = Some(parse_bool(source, key, v)?),
            "detect_lock_order" => c.detect_lock_order = Some(parse_bool(source, key, v)?),
            "partial_deadlock" => {
                c.stop_on_partial_deadlock = Some(match v {
                    "continue" => false,
                    "stop" => true,
                    _ => return Err(bad(source, key, v, "expected continue or stop")),
                })
            }
            "format" => {
                let f = match v {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    "sarif" => Format::Sarif,
                    _ => return Err(bad(source, key, v, "expected text, json or sarif")),
                };
                check_format(source, f)?;
                c.format = Some(f)
            }
            "trace" => return Err(trace_not_supported(source)),
            "max_steps" => {
                let n = parse_u64(source, key, v)?;
                check_max_steps(source, n, v)?;
                c.max_steps = Some(n)
            }
            "watchdog" => {
                let secs = parse_u64(source, key, v)?;
                if secs > 1_000_000 {
                    return Err(bad(source, key, v, "expected 0 (off) ..= 1000000 seconds"));
                }
                c.watchdog = Some(std::time::Duration::from_secs(secs))
            }
            "max_time" => {
                let secs = parse_u64(source, key, v)?;
                let d = std::time::Duration::from_secs(secs.min(u64::MAX / 2));
                check_max_time(source, d, v)?;
                c.max_time = Some(d)
            }
            "timer_race" => {
                let p = v
                    .parse::<f64>()
                    .map_err(|_| bad(source, key, v, "expected a probability 0.0 ..= 1.0"))?;
                check_timer_race(source, p, v)?;
                c.timer_race = Some(p)
            }
            "shard" => {
                let parsed = v
                    .split_once('/')
                    .and_then(|(k, n)| Some((k.parse::<u32>().ok()?, n.parse::<u32>().ok()?)))
                    .filter(|&(k, n)| k >= 1 && k <= n);
                c.shard = Some(
                    parsed.ok_or_else(|| bad(source, key, v, "expected K/N with 1 <= K <= N"))?,
                )
            }
            _ => {
                return Err(OptionError {
                    source,
                    key: key.to_string(),
                    value: None,
                    reason: format!("unknown option (known: {KNOWN})"),
                })
            }
        }
    }
    Ok(c)
}

/// Parses `GOSAN_DEBUG`: comma-separated `key=value` (GODEBUG style).
///
/// `traceback=user|all` chooses the frames dumps print (`Debug::traceback_all`).
///
/// # Errors
/// An [`OptionError`] naming the key: a bad `traceback` value; `schedtrace` and
/// `scheddetail` are known but not supported yet; any other key is unknown.
pub fn parse_debug(text: &str) -> Result<Debug, OptionError> {
    const SRC: &str = "GOSAN_DEBUG";
    let mut d = Debug::default();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((key, v)) = item.split_once('=') else {
            return Err(OptionError {
                source: SRC,
                key: item.to_string(),
                value: None,
                reason: "expected key=value".into(),
            });
        };
        match key {
            "traceback" => {
                d.traceback_all = match v {
                    "all" => true,
                    "user" => false,
                    _ => return Err(bad(SRC, key, v, "expected user or all")),
                }
            }
            "schedtrace" | "scheddetail" => {
                // Validate the value first, so that a typo is named as such.
                if key == "schedtrace" {
                    parse_u64(SRC, key, v)?;
                } else {
                    parse_bool(SRC, key, v)?;
                }
                return Err(OptionError {
                    source: SRC,
                    key: key.to_string(),
                    value: None,
                    reason: format!("{key} (the scheduler trace) is not supported yet"),
                });
            }
            _ => {
                return Err(OptionError {
                    source: SRC,
                    key: key.to_string(),
                    value: None,
                    reason: "unknown option (known: traceback, schedtrace, scheddetail)".into(),
                })
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_option() {
        let c = parse_options(
            "exitcode=3 halt_on_error=1 log_path=/tmp/g strip_path_prefix=/src/ history_size=2 \
             seed=0x2a strategy=pct:3 procs=1 race=0 leak_check=0 detect_lock_order=1 \
             format=json shard=2/8",
            "GOSAN_OPTIONS",
        )
        .unwrap();
        assert_eq!(c.exitcode, Some(3));
        assert_eq!(c.halt_on_error, Some(true));
        assert_eq!(c.log_path, Some(PathBuf::from("/tmp/g")));
        assert_eq!(c.strip_path_prefix.as_deref(), Some("/src/"));
        assert_eq!(c.history_size, Some(2));
        assert_eq!(c.seed, Some(42));
        assert_eq!(c.strategy, Some(Strategy::Pct { depth: 3 }));
        assert_eq!(c.procs, Some(1));
        assert_eq!(c.detect_races, Some(false));
        assert_eq!(c.leak_check, Some(false));
        assert_eq!(c.detect_lock_order, Some(true));
        assert_eq!(c.format, Some(Format::Json));
        assert_eq!(c.shard, Some((2, 8)));
    }

    #[test]
    fn timer_race_parses_and_rejects_what_is_not_a_probability() {
        let c = parse_options("timer_race=0.25", "GOSAN_OPTIONS").unwrap();
        assert_eq!(c.timer_race, Some(0.25));
        assert_eq!(
            parse_options("timer_race=0", "GOSAN_OPTIONS")
                .unwrap()
                .timer_race,
            Some(0.0)
        );
        for v in ["1.5", "-0.1", "NaN", "inf", "x", ""] {
            let e = parse_options(&format!("timer_race={v}"), "GOSAN_OPTIONS").unwrap_err();
            assert_eq!(e.key, "timer_race", "{v}");
            assert!(e.to_string().contains("expected a probability"), "{e}");
        }
        let e = Config::new().timer_race(2.0).resolve().unwrap_err();
        assert_eq!((e.source, e.key.as_str()), ("Config", "timer_race"));
        let r = Config::new().timer_race(0.5).resolve().unwrap();
        assert_eq!(r.timer_race, 0.5);
    }

    #[test]
    fn options_not_built_yet_are_rejected_where_parsed() {
        for (text, key, msg) in [
            (
                "procs=2",
                "procs",
                "GOSAN_OPTIONS: invalid value `2` for `procs`: procs > 1 (the parallel G/M/P \
                 scheduler) is not supported yet; procs=1 is the deterministic scheduler",
            ),
            (
                "trace=out.json",
                "trace",
                "GOSAN_OPTIONS: `trace`: trace export (a Chrome/Perfetto trace of the run) \
                 is not supported yet",
            ),
            (
                "format=sarif",
                "format",
                "GOSAN_OPTIONS: invalid value `sarif` for `format`: SARIF output is not \
                 supported yet; use text or json",
            ),
        ] {
            let e = parse_options(&format!("seed=1 {text}"), "GOSAN_OPTIONS").unwrap_err();
            assert_eq!((e.key.as_str(), e.to_string()), (key, msg.to_string()));
        }
        for (text, key) in [
            ("schedtrace=1000", "schedtrace"),
            ("scheddetail=1", "scheddetail"),
        ] {
            let e = parse_debug(text).unwrap_err();
            assert_eq!(e.key, key);
            assert_eq!(
                e.to_string(),
                format!("GOSAN_DEBUG: `{key}`: {key} (the scheduler trace) is not supported yet")
            );
        }
        // A bad value is named as a bad value, not as unsupported.
        let e = parse_debug("schedtrace=soon").unwrap_err();
        assert!(e.to_string().contains("invalid value `soon`"), "{e}");
        assert_eq!(parse_debug(""), Ok(Debug::default()));
        assert!(parse_debug("traceback=all").unwrap().traceback_all);
        assert!(!parse_debug(" traceback=user, ").unwrap().traceback_all);
        let e = parse_debug("traceback=system").unwrap_err();
        assert!(e.to_string().contains("invalid value `system`"), "{e}");
    }

    #[test]
    fn config_methods_not_built_yet_are_rejected_by_resolve() {
        let cases = [
            (Config::new().procs(2), "procs"),
            (Config::new().trace("out.json"), "trace"),
            (Config::new().format(Format::Sarif), "format"),
        ];
        for (c, key) in cases {
            let e = c.resolve().unwrap_err();
            assert_eq!((e.source, e.key.as_str()), ("Config", key));
            assert!(e.reason.contains("not supported yet"), "{e}");
        }
        let e = Config::new().procs(0).resolve().unwrap_err();
        assert_eq!(
            e.to_string(),
            "Config: invalid value `0` for `procs`: expected at least 1"
        );
    }

    #[test]
    fn race_option_follows_the_race_feature() {
        let on = parse_options("race=1", "GOSAN_OPTIONS");
        let explicit = Config::new().detect_races(true).resolve();
        if crate::race::ENABLED {
            assert_eq!(on.unwrap().detect_races, Some(true));
            assert!(explicit.unwrap().detect_races);
        } else {
            let e = on.unwrap_err();
            assert_eq!(e.key, "race");
            assert!(e.reason.contains("not compiled in"), "{e}");
            assert_eq!(explicit.unwrap_err().key, "race");
        }
        assert_eq!(
            parse_options("race=0", "GOSAN_OPTIONS")
                .unwrap()
                .detect_races,
            Some(false)
        );
        assert!(
            !Config::new()
                .detect_races(false)
                .resolve()
                .unwrap()
                .detect_races
        );
    }

    #[test]
    fn unknown_key_and_bad_value_name_themselves() {
        let e = parse_options("seed=1 colour=red", "GOSAN_OPTIONS").unwrap_err();
        assert_eq!(e.key, "colour");
        assert!(e.to_string().contains("`colour`"), "{e}");
        assert!(e.to_string().contains("unknown option"), "{e}");
        let e = parse_options("seed=banana", "GOSAN_OPTIONS").unwrap_err();
        assert_eq!(
            e.to_string(),
            "GOSAN_OPTIONS: invalid value `banana` for `seed`: expected an integer (decimal or 0x-hex)"
        );
        for bad in [
            "procs=0",
            "strategy=pct:0",
            "shard=9/8",
            "history_size=8",
            "race=yes",
            "format=xml",
            "exitcode=-1",
            "nokey",
        ] {
            assert!(
                parse_options(bad, "GOSAN_OPTIONS").is_err(),
                "{bad} accepted"
            );
        }
        assert_eq!(parse_debug("gctrace=1").unwrap_err().key, "gctrace");
    }

    #[test]
    fn strategy_spelling_round_trips() {
        for s in [
            Strategy::Random,
            Strategy::RoundRobin,
            Strategy::Pct { depth: 5 },
            Strategy::Replay("1*3.2".into()),
            Strategy::Exhaustive {
                preemption_bound: 0,
            },
            Strategy::Exhaustive {
                preemption_bound: 2,
            },
            Strategy::Exhaustive {
                preemption_bound: u32::MAX,
            },
        ] {
            assert_eq!(s.spelling().parse::<Strategy>().unwrap(), s);
        }
        for bad in [
            "exhaustive",
            "exhaustive:",
            "exhaustive:-1",
            "exhaustive:two",
            "exhaustive:4294967295",
        ] {
            let e = parse_options(&format!("strategy={bad}"), "GOSAN_OPTIONS").unwrap_err();
            assert_eq!(e.key, "strategy");
            assert!(e.reason.contains("exhaustive:"), "{bad}: {e}");
        }
    }
}
