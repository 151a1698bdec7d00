//! `run`, `run_with`, `check`: one run = one scheduler on the calling thread, then a
//! [`Report`] built from its raw outcome (symbolized here, never on the hot path).

use crate::config::{Config, Resolved, Strategy};
use crate::deadlock::RawInversion;
use crate::race::{RawRace, Site};
use crate::sched::explore::{self, Guided, Mode};
use crate::sched::{self, strategy::derive_seed, Outcome, RawDump};
use gosan_detector::report::symbolize::Traceback;
use gosan_detector::report::{
    symbolize, Access, DeadlockReport, Exploration, Frame, GoroutineDump, GoroutineOrigin,
    LivelockReport, LockOrderReport, PanicReport, RaceReport, Report,
};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

/// Runs `f` as the main goroutine (id 1) with the default [`Config`] (and
/// `GOSAN_OPTIONS`); returns when the run ends.
#[track_caller]
pub fn run<F: FnOnce() + Send + 'static>(f: F) -> Report {
    run_with(Config::new(), f)
}

/// Runs `f` as the main goroutine under `cfg`.
///
/// # Panics
/// When `cfg`, `GOSAN_OPTIONS` or `GOSAN_DEBUG` is invalid or asks for an option not
/// supported yet (see [`Config::resolve`]): the panic message is `gosan: ` followed
/// by the [`OptionError`](crate::config::OptionError), which names the option, and
/// points at the caller (this function has no error return, so the option error
/// surfaces as this panic). Also when called inside a run, or when a
/// `Strategy::Replay` schedule does not fit the program.
#[track_caller]
pub fn run_with<F: FnOnce() + Send + 'static>(cfg: Config, f: F) -> Report {
    let r = resolve_or_panic(&cfg);
    run_resolved(&r, f)
}

/// Explores up to `iterations` schedules of `f` (derived seeds; strategy from `cfg`,
/// else alternating Random and PCT depth 3) and returns the first report with any
/// finding, or a clean report carrying the base seed. A seed given in `cfg` or
/// `GOSAN_OPTIONS` is used verbatim by the first iteration (Random when no strategy
/// is given), so a report's reproduce line repeats it under `check` as well.
///
/// # Panics
/// Like [`run_with`]: an invalid option (or one not supported yet) panics with
/// `gosan: ` followed by the [`OptionError`](crate::config::OptionError), before any
/// iteration runs.
#[track_caller]
pub fn check<F: Fn() + Send + Sync + 'static>(cfg: Config, iterations: usize, f: F) -> Report {
    let mut r = resolve_or_panic(&cfg);
    if !r.timer_race_set {
        // Exploring: timeouts compete with runnable work (`DEFAULT_TIMER_RACE`).
        r.timer_race = crate::config::DEFAULT_TIMER_RACE;
    }
    let f = Arc::new(f);
    let start = Instant::now();
    if let Some(Strategy::Exhaustive { preemption_bound }) = r.strategy {
        return check_exhaustive(&r, preemption_bound, iterations, f, start);
    }
    let mut last = None;
    let mut schedules = 0u64;
    for i in 0..iterations as u64 {
        if let Some((k, n)) = r.shard {
            if i % n as u64 != (k - 1) as u64 {
                continue;
            }
        }
        // The first iteration uses a given seed verbatim, so the reproduce line of any
        // report (`seed=… [strategy=…]`) repeats it under `check` too.
        let seed = if i == 0 && r.seed_given {
            r.seed
        } else {
            derive_seed(r.seed, i)
        };
        let strategy = match &r.strategy {
            Some(s) => s.clone(),
            None if i % 2 == 0 => Strategy::Random,
            None => Strategy::Pct { depth: 3 },
        };
        let g = f.clone();
        let (report, _) = run_once(&r, seed, &strategy, move || g());
        schedules += 1;
        if !report.is_clean() {
            let report = finish_finding(&r, seed, &strategy, &f, report, schedules, start, None);
            mark_finding(&report);
            return report;
        }
        last = Some(report);
    }
    let mut clean = last.unwrap_or_default();
    clean.seed = r.seed;
    clean.schedule.clear();
    clean.strategy = r
        .strategy
        .as_ref()
        .map_or_else(|| "random".to_string(), Strategy::spelling);
    clean.exploration = Some(Exploration {
        schedules,
        elapsed_ms: start.elapsed().as_millis() as u64,
        ..Exploration::default()
    });
    clean
}

/// `check` under `Strategy::Exhaustive`: depth-first over the decision tree
/// (`sched/explore.rs`) until it is exhausted, a finding, or `iterations` schedules.
fn check_exhaustive<F: Fn() + Send + Sync + 'static>(
    r: &Resolved,
    bound: u32,
    iterations: usize,
    f: Arc<F>,
    start: Instant,
) -> Report {
    let strategy = Strategy::Exhaustive {
        preemption_bound: bound,
    };
    let (mut path, mut replay_len) = (Vec::new(), 0);
    let (mut schedules, mut pruned) = (0u64, 0u64);
    let mut last = None;
    let mut complete = false;
    while schedules < iterations as u64 {
        let g = f.clone();
        let guided = Box::new(Guided::explore(bound, path, replay_len));
        let (report, _, guided) = run_once_with(r, r.seed, &strategy, Some(guided), move || g());
        let Some(Mode::Explore(e)) = guided.map(|g| g.mode) else {
            fatal!("check_exhaustive", "an exhaustive run keeps its explorer");
        };
        if let Some(d) = e.diverged {
            panic!("gosan: {d}");
        }
        if e.pruned {
            pruned += 1;
        } else {
            schedules += 1;
        }
        if !report.is_clean() {
            let ex = (bound, false, pruned);
            let report =
                finish_finding(r, r.seed, &strategy, &f, report, schedules, start, Some(ex));
            mark_finding(&report);
            return report;
        }
        last = Some(report);
        match explore::backtrack(bound, e.path) {
            Some((p, n)) => (path, replay_len) = (p, n),
            None => {
                complete = true;
                break;
            }
        }
    }
    let mut clean = last.unwrap_or_default();
    clean.seed = r.seed;
    clean.schedule.clear();
    clean.strategy = strategy.spelling();
    clean.exploration = Some(Exploration {
        schedules,
        elapsed_ms: start.elapsed().as_millis() as u64,
        preemption_bound: Some(bound),
        complete,
        pruned,
        ..Exploration::default()
    });
    clean
}

/// A report with a finding from `check`: shrunk (unless `shrink=0`), with the
/// exploration summary. `exhaustive`: the bound, completeness and pruned runs.
#[allow(clippy::too_many_arguments)]
fn finish_finding<F: Fn() + Send + Sync + 'static>(
    r: &Resolved,
    seed: u64,
    strategy: &Strategy,
    f: &Arc<F>,
    found: Report,
    schedules: u64,
    start: Instant,
    exhaustive: Option<(u32, bool, u64)>,
) -> Report {
    let found_with = match strategy {
        Strategy::Exhaustive { .. } => {
            format!("schedule {schedules} of strategy={}", strategy.spelling())
        }
        s => format!("seed={seed:#x} strategy={}", s.spelling()),
    };
    // An explicit replay is the schedule the user asked for: not shrunk.
    let shrunk = if r.shrink && !matches!(strategy, Strategy::Replay(_)) {
        crate::shrink::shrink(r, seed, f, &found)
    } else {
        None
    };
    let (mut report, shrunk, found_by) = match shrunk {
        Some((rep, sh)) => (rep, Some(sh), Some(format!("shrunk from {found_with}"))),
        None => {
            let by = exhaustive.is_some().then(|| found_with.clone());
            (found, None, by)
        }
    };
    if shrunk.is_some() {
        // The strict replay names itself `random`; the report names the search.
        report.seed = seed;
        report.strategy = strategy.spelling();
    }
    report.exploration = Some(Exploration {
        schedules,
        elapsed_ms: start.elapsed().as_millis() as u64,
        preemption_bound: exhaustive.map(|e| e.0),
        complete: exhaustive.is_some_and(|e| e.1),
        pruned: exhaustive.map_or(0, |e| e.2),
        shrunk,
        found_by,
    });
    report
}

/// The resolved options, or a panic whose message is `gosan: ` followed by the
/// [`OptionError`](crate::config::OptionError) (reported at the caller's location).
/// Options not built yet are already rejected by [`Config::resolve`].
#[track_caller]
fn resolve_or_panic(cfg: &Config) -> Resolved {
    match cfg.resolve() {
        Ok(r) => r,
        Err(e) => panic!("gosan: {e}"),
    }
}

/// `run_with` after option resolution.
#[track_caller]
fn run_resolved<F: FnOnce() + Send + 'static>(r: &Resolved, f: F) -> Report {
    let strategy = r.strategy.clone().unwrap_or(Strategy::Random);
    let report = run_once(r, r.seed, &strategy, f).0;
    mark_finding(&report);
    report
}

#[track_caller]
fn run_once<F: FnOnce() + Send + 'static>(
    r: &Resolved,
    seed: u64,
    strategy: &Strategy,
    f: F,
) -> (Report, u64) {
    let (report, steps, _) = run_once_with(r, seed, strategy, None, f);
    (report, steps)
}

/// One run, with a prepared guided chooser in place of `strategy`'s when given
/// (`strategy` then names the run in its report); also returns the chooser.
#[track_caller]
pub(crate) fn run_once_with<F: FnOnce() + Send + 'static>(
    r: &Resolved,
    seed: u64,
    strategy: &Strategy,
    guided: Option<Box<Guided>>,
    f: F,
) -> (Report, u64, Option<Box<Guided>>) {
    let mut rr = r.clone();
    rr.seed = seed;
    let mut out = match sched::run_main(&rr, strategy, guided, f) {
        Ok(o) => o,
        Err(e) => panic!("gosan: {e}"),
    };
    if let Some(e) = &out.replay_error {
        panic!("gosan: {e}");
    }
    (
        to_report(&out, r, seed, strategy),
        out.steps,
        out.guided.take(),
    )
}

/// The report of a run's findings (symbolized now).
fn to_report(out: &Outcome, r: &Resolved, seed: u64, strategy: &Strategy) -> Report {
    let strip = r.strip_path_prefix.as_str();
    let all = r.debug.traceback_all;
    let dump = |d: &RawDump, m| to_dump(d, strip, if all { Traceback::All } else { m });
    // A global deadlock dumps every blocked goroutine, the partially deadlocked ones
    // included (with their reason); else the partial deadlocks alone. Goroutines
    // already in the deadlock report are not leaks (DESIGN.md fine print).
    let why = |id: u64| {
        out.partial
            .iter()
            .find(|(d, _)| d.id == id)
            .map(|(_, w)| w.clone())
    };
    let deadlock = if !out.deadlock.is_empty() {
        Some(DeadlockReport {
            global: true,
            goroutines: out
                .deadlock
                .iter()
                .map(|d| GoroutineDump {
                    why: why(d.id),
                    ..dump(d, Traceback::User)
                })
                .collect(),
        })
    } else {
        (!out.partial.is_empty()).then(|| DeadlockReport {
            global: false,
            goroutines: out
                .partial
                .iter()
                .map(|(d, w)| GoroutineDump {
                    why: Some(w.clone()),
                    ..dump(d, Traceback::User)
                })
                .collect(),
        })
    };
    Report {
        races: out.races.iter().map(|r| to_race(r, strip)).collect(),
        deadlock,
        leaks: out
            .leaks
            .iter()
            .filter(|d| why(d.id).is_none())
            .map(|d| GoroutineDump {
                why: leak_why(d, &out.leak_why),
                ..dump(d, Traceback::User)
            })
            .collect(),
        panic: out.panic.as_ref().map(|p| PanicReport {
            message: p.message.clone(),
            fatal: p.fatal,
            goroutine: dump(&p.goroutine, Traceback::EntryPoints),
        }),
        lock_order: out
            .lock_order
            .iter()
            .map(|inv| to_lock_order(inv, strip))
            .collect(),
        seed,
        schedule: out.schedule.clone(),
        strategy: match strategy {
            Strategy::Replay(_) => "random".to_string(),
            s => s.spelling(),
        },
        notes: out.notes.clone(),
        livelock: out.livelock.as_ref().map(|(reason, gs)| LivelockReport {
            reason: reason.clone(),
            steps: out.steps,
            virtual_nanos: out.virtual_nanos,
            goroutines: gs.iter().map(|d| dump(d, Traceback::User)).collect(),
        }),
        exploration: None,
    }
}

thread_local! {
    /// The findings of the run whose teardown is under way on this thread, for
    /// [`AbortReport::text`].
    static ABORT: Cell<Option<(*const Outcome, *const Resolved, *const Strategy)>> =
        const { Cell::new(None) };
}

/// Keeps a run's findings reachable while teardown unwinds its goroutines: a
/// destructor that panics during that unwind aborts the process (Rust cannot unwind
/// twice), and the panic hook prints the report from here first instead of losing it.
pub(crate) struct AbortReport;

impl AbortReport {
    /// Arms the report for this thread until the guard drops; the borrows outlive it.
    pub(crate) fn arm(out: &Outcome, r: &Resolved, strategy: &Strategy) -> AbortReport {
        ABORT.with(|a| a.set(Some((out, r, strategy))));
        AbortReport
    }

    /// The report text of the run being torn down on this thread, when it has a
    /// finding. `#[inline(never)]`: called on a goroutine's stack (see
    /// `sched::current_g_ptr` on thread-locals across switches).
    #[inline(never)]
    pub(crate) fn text() -> Option<String> {
        let (out, r, strategy) = ABORT.with(Cell::get)?;
        // SAFETY: set by `arm` from borrows that outlive its guard, cleared by the
        // guard's drop; this thread is inside that window (teardown runs within it).
        let report = unsafe { to_report(&*out, &*r, (*r).seed, &*strategy) };
        (!report.is_clean() || !report.notes.is_empty()).then(|| report.to_string())
    }
}

impl Drop for AbortReport {
    fn drop(&mut self) {
        ABORT.with(|a| a.set(None));
    }
}

/// A site's frames: its stack, the innermost frame's line corrected to the exact
/// `#[track_caller]` location when it names the same file.
fn site_frames(site: &Site, strip: &str) -> Vec<Frame> {
    located(symbolize::symbolize(&site.pcs, strip), site.loc, strip)
}

fn located(
    mut frames: Vec<Frame>,
    loc: Option<&'static std::panic::Location<'static>>,
    strip: &str,
) -> Vec<Frame> {
    if let Some(loc) = loc {
        let file = symbolize::strip(
            Frame {
                function: String::new(),
                file: loc.file().to_string(),
                line: loc.line(),
            },
            strip,
        )
        .file;
        match frames.first_mut() {
            Some(f0) => {
                // Keep the debug info's (absolute) path when it names the same file.
                if !f0.file.ends_with(loc.file()) {
                    f0.file = file;
                }
                f0.line = loc.line();
            }
            None => frames.push(Frame {
                function: "?".to_string(),
                file,
                line: loc.line(),
            }),
        }
    }
    frames
}

pub(crate) fn to_race(r: &RawRace, strip: &str) -> RaceReport {
    let mut rep = RaceReport {
        current: Access {
            kind: r.current,
            addr: r.addr,
            size: r.size,
            goroutine: r.cur_goid,
            stack: symbolize::symbolize(&r.cur_pcs, strip),
        },
        previous: Access {
            kind: r.previous,
            addr: r.addr,
            size: r.size,
            goroutine: r.prev_goid,
            stack: {
                let mut f = site_frames(&r.prev_site, strip);
                if !r.history {
                    f.truncate(1);
                }
                f
            },
        },
        goroutines: r
            .origins
            .iter()
            .map(|(id, running, site)| GoroutineOrigin {
                id: *id,
                running: *running,
                created_at: site_frames(site, strip),
            })
            .collect(),
    };
    // The current access's stack is its goroutine's own, whole (unwound now).
    for g in rep.goroutines.iter_mut().filter(|g| g.id == r.cur_goid) {
        symbolize::name_unknown_creator(&mut g.created_at, &rep.current.stack);
    }
    rep
}

/// Why a leaked goroutine can never proceed: what the run proved (an orphaned
/// channel), or what its wait reason says (a nil channel, an empty select).
fn leak_why(d: &RawDump, known: &[(u64, String)]) -> Option<String> {
    if let Some((_, w)) = known.iter().find(|(id, _)| *id == d.id) {
        return Some(w.clone());
    }
    match d.reason {
        "chan send (nil chan)" | "chan receive (nil chan)" => Some("nil channel".to_string()),
        "select (no cases)" => Some("select with no cases".to_string()),
        _ => None,
    }
}

fn to_lock_order(inv: &RawInversion, strip: &str) -> LockOrderReport {
    LockOrderReport {
        locks: inv.ids.iter().map(|&i| u64::from(i) + 1).collect(),
        sites: inv
            .locks
            .iter()
            .map(|l| {
                let f = symbolize::strip(
                    Frame {
                        function: String::new(),
                        file: l.file().to_string(),
                        line: l.line(),
                    },
                    strip,
                );
                format!("{}:{}", f.file, f.line)
            })
            .collect(),
        goroutines: inv.edges.iter().map(|e| e.0).collect(),
        stacks: inv
            .edges
            .iter()
            .map(|e| symbolize::symbolize(&e.2, strip))
            .collect(),
        held_stacks: inv
            .edges
            .iter()
            .map(|e| symbolize::symbolize(&e.1, strip))
            .collect(),
    }
}

fn to_dump(d: &RawDump, strip: &str, mode: Traceback) -> GoroutineDump {
    let mut created_at = located(
        symbolize::symbolize(&d.created_pcs, strip),
        d.created_loc,
        strip,
    );
    let stack = symbolize::traceback(&d.pcs, strip, mode);
    symbolize::name_unknown_creator(&mut created_at, &stack);
    GoroutineDump {
        id: d.id,
        wait_reason: d.reason.to_string(),
        stack,
        created_at,
        why: None,
    }
}

// ── entry points of #[gosan::main] / #[gosan::test] (through gosan::__private) ──

/// Parses a `strategy = "..."` attribute value; panics naming it when invalid.
#[track_caller]
pub fn strategy(spelling: &str) -> Strategy {
    match spelling.parse() {
        Ok(s) => s,
        Err(e) => panic!("gosan: invalid value `{spelling}` for `strategy`: {e}"),
    }
}

/// `#[gosan::test]` without `iterations`: one run; any finding fails the test with
/// the full report.
#[track_caller]
pub fn test_run<F: FnOnce() + Send + 'static>(mut cfg: Config, f: F) {
    cfg.stream_races = true;
    let report = run_with(cfg, f);
    fail_test_on_finding(&report);
}

/// `#[gosan::test(iterations = N)]`: explores N schedules with [`check`].
#[track_caller]
pub fn test_check<F: Fn() + Send + Sync + 'static>(mut cfg: Config, iterations: usize, f: F) {
    cfg.stream_races = true;
    let report = check(cfg, iterations, f);
    fail_test_on_finding(&report);
}

/// Environment variable naming a file where every run (`run`, `run_with`, `check`,
/// and so `#[gosan::test]` and `#[gosan::main]`) that found a race, a deadlock, a
/// leak or a lock-order inversion appends one line. libtest decides a test binary's
/// exit status (101 on failure), and a plain `#[test]` may call `gosan::run` and look
/// at the report itself, so a runner (`cargo gosan test`) that wants Go's `exit 66`
/// sets this and exits 66 when the file is non-empty.
pub const RACE_MARKER_ENV: &str = "GOSAN_RACE_MARKER";

/// Appends one line to the [`RACE_MARKER_ENV`] file when it is set and `report` has
/// a race, deadlock, leak or lock-order finding (the findings `go test -race` and
/// `cargo gosan` turn into exit 66). Panics alone are not marked: they already fail
/// the test or the process.
fn mark_finding(report: &Report) {
    let found = !report.races.is_empty()
        || report.deadlock.is_some()
        || !report.leaks.is_empty()
        || !report.lock_order.is_empty();
    if !found {
        return;
    }
    let Some(path) = std::env::var_os(RACE_MARKER_ENV) else {
        return;
    };
    use std::io::Write;
    let name = std::thread::current().name().unwrap_or("?").to_string();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let (global, partial) = match &report.deadlock {
            Some(d) if d.global => (1, 0),
            Some(d) => (0, d.goroutines.len()),
            None => (0, 0),
        };
        let _ = writeln!(
            f,
            "{name}: {} data race(s), {global} deadlock, {partial} partially deadlocked goroutine(s), {} leaked goroutine(s), {} lock-order inversion(s)",
            report.races.len(),
            report.leaks.len(),
            report.lock_order.len()
        );
    }
}

#[track_caller]
fn fail_test_on_finding(report: &Report) {
    if !report.is_clean() {
        // The races were printed on stderr when found; the message has the rest.
        panic!(
            "gosan found a problem:\n{}",
            report.text_after_streamed_races()
        );
    }
}

/// `#[gosan::main]`: runs `f` like a Go program's `main` and exits like one: 0 when
/// clean, 2 on a panic, fatal error or global deadlock, `exitcode` (66) on races,
/// leaks, partial deadlocks (the program itself went on) or lock-order inversions.
/// An invalid option (or one not supported yet) prints `gosan: <error>` on stderr
/// and exits 2 without running `f`. `procs` defaults to 1 here too until the
/// parallel scheduler exists (DESIGN.md's default for `main` is then the number of
/// CPUs).
pub fn main<F: FnOnce() + Send + 'static>(cfg: Config, f: F) -> ! {
    main_result(cfg, move || {
        f();
        Ok::<(), std::convert::Infallible>(())
    })
}

/// [`main`] for `#[gosan::main] fn main() -> Result<(), E>`: `f` returns main's
/// result. An `Err` is printed as std prints it, `Error: {e:?}`, after the report,
/// and exits 1 when the run had no finding (a finding's exit code wins).
pub fn main_result<F, E>(cfg: Config, f: F) -> !
where
    F: FnOnce() -> Result<(), E> + Send + 'static,
    E: std::fmt::Debug + Send + 'static,
{
    let mut r = match cfg.resolve() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gosan: {e}");
            std::process::exit(2)
        }
    };
    // Text on stderr: each race is printed when found, as Go does.
    r.stream_races = r.format == crate::config::Format::Text && r.log_path.is_none();
    let failed = Arc::new(std::sync::Mutex::new(None));
    let slot = failed.clone();
    let report = run_resolved(&r, move || {
        if let Err(e) = f() {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
    });
    let failed = failed.lock().unwrap_or_else(|p| p.into_inner()).take();
    if !report.is_clean() || !report.notes.is_empty() {
        let text = match r.format {
            crate::config::Format::Json => report.to_json() + "\n",
            _ if r.stream_races => report.text_after_streamed_races(),
            _ => report.to_string(),
        };
        match &r.log_path {
            Some(p) => {
                let path = format!("{}.{}", p.display(), std::process::id());
                if let Err(e) = std::fs::write(&path, &text) {
                    eprintln!("gosan: cannot write log_path file {path}: {e}");
                    eprint!("{text}");
                }
            }
            None => eprint!("{text}"),
        }
    }
    let global = report.deadlock.as_ref().is_some_and(|d| d.global);
    let code = if report.panic.is_some() || global || report.livelock.is_some() {
        2
    } else if !report.races.is_empty()
        || !report.leaks.is_empty()
        || !report.lock_order.is_empty()
        || report.deadlock.is_some()
    {
        r.exitcode
    } else {
        i32::from(failed.is_some())
    };
    if let Some(e) = failed {
        eprintln!("Error: {e:?}");
    }
    std::process::exit(code)
}
