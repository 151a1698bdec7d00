//! Every option of DESIGN.md, key by key: it either works (a behavioural test here
//! or, where one already exists, the test named beside it) or is rejected where it
//! is parsed with "not supported yet" and the option's name (a message test here).
//!
//! | option (`GOSAN_OPTIONS` key / `Config` method) | state | tested by |
//! |---|---|---|
//! | `exitcode` / `exitcode(i32)` | works | `main_exit.rs` (env), `main_config_exitcode` here |
//! | `halt_on_error` / `halt_on_error(bool)` | works | `race_report.rs` (Config), `env_halt_on_error` here |
//! | `log_path` / `log_path(..)` | works | `main_exit.rs` `json_format_and_log_path` |
//! | `strip_path_prefix` / `strip_path_prefix(..)` | works | `race_report.rs` (Config), `env_strip_path_prefix` here |
//! | `history_size` / `history_size(u32)` | works: 0 = innermost frame, 1..=7 = whole stack | `race_report.rs` (0), `history_size_*` here |
//! | `seed` / `seed(u64)` | works | `schedule.rs`, `env_seed_and_strategy_reach_the_run` here |
//! | `strategy` / `strategy(Strategy)` | works | `schedule.rs`, `env_seed_and_strategy_reach_the_run` here |
//! | `procs` / `procs(usize)` | 1 works; > 1 rejected (not supported yet) | here (env, Config, main, attribute) |
//! | `race` / `detect_races(bool)` | works; `race=1` rejected without the `race` feature | here |
//! | `leak_check` / `leak_check(bool)` | works | `deadlock.rs` (Config), `env_leak_check_off` here |
//! | `detect_lock_order` / `detect_lock_order(bool)` | lock-order inversions in `Report::lock_order` (default on) | `detect_lock_order_turns_the_lock_order_detector_on_and_off` here |
//! | `partial_deadlock=continue\|stop` / `stop_on_partial_deadlock(bool)` | a wait-for cycle ends the run or not (default continue) | `partial_deadlock_option_parses_continue_and_stop` here, `tests/partial_deadlock.rs` |
//! | `format` / `format(Format)` | text, json work; sarif rejected | `main_exit.rs` (json), here |
//! | `trace` / `trace(..)` | rejected (not supported yet) | here |
//! | `shard` / `shard(k, n)` | works | `shard_*` here |
//! | `GOSAN_DEBUG=schedtrace`, `scheddetail` | rejected (not supported yet) | here |
//!
//! Environment-based cases run in a child process (this test binary re-executed with
//! the variable set), so that they never change the environment of parallel tests.

use gosan::{check, go, run_with, Chan, Config, Format, Shared, Strategy};
use gosan_runtime::__private::{parse_debug, parse_options};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const SUPPORTED: &str = "not supported yet";

// ── parse level: every key of DESIGN.md's GOSAN_OPTIONS list ───────────────────

/// DESIGN.md's example line, key by key, with whether this build accepts it.
fn design_keys() -> Vec<(&'static str, bool)> {
    vec![
        ("exitcode=66", true),
        ("halt_on_error=1", true),
        ("log_path=/tmp/gosan", true),
        ("strip_path_prefix=/src/", true),
        ("history_size=2", true),
        ("seed=0x2a", true),
        ("strategy=pct:3", true),
        ("procs=2", false),
        ("race=1", cfg!(feature = "race")),
        ("leak_check=1", true),
        ("detect_lock_order=1", true),
        ("format=text", true),
        ("format=json", true),
        ("format=sarif", false),
        ("trace=out.json", false),
        ("shard=2/8", true),
    ]
}

#[test]
fn every_design_option_parses_or_is_rejected_naming_itself() {
    for (item, accepted) in design_keys() {
        let key = item.split_once('=').unwrap().0;
        match parse_options(item, "GOSAN_OPTIONS") {
            Ok(_) => assert!(accepted, "{item} was accepted"),
            Err(e) => {
                assert!(!accepted, "{item} was rejected: {e}");
                assert_eq!(e.key, key, "{e}");
                let text = e.to_string();
                assert!(text.contains(&format!("`{key}`")), "{text}");
                if key == "race" {
                    assert!(text.contains("not compiled in"), "{text}");
                } else {
                    assert!(text.contains(SUPPORTED), "{text}");
                }
            }
        }
    }
    // procs=1 is the deterministic scheduler, the only one today.
    assert_eq!(
        parse_options("procs=1", "GOSAN_OPTIONS")
            .unwrap()
            .resolve()
            .unwrap()
            .procs,
        1
    );
}

#[test]
fn rejected_options_have_exact_messages() {
    let msg = |t: &str| parse_options(t, "GOSAN_OPTIONS").unwrap_err().to_string();
    assert_eq!(
        msg("procs=2"),
        "GOSAN_OPTIONS: invalid value `2` for `procs`: procs > 1 (the parallel G/M/P \
         scheduler) is not supported yet; procs=1 is the deterministic scheduler"
    );
    assert_eq!(
        msg("trace=out.json"),
        "GOSAN_OPTIONS: `trace`: trace export (a Chrome/Perfetto trace of the run) is not \
         supported yet"
    );
    assert_eq!(
        msg("format=sarif"),
        "GOSAN_OPTIONS: invalid value `sarif` for `format`: SARIF output is not supported \
         yet; use text or json"
    );
    for key in ["schedtrace", "scheddetail"] {
        let e = parse_debug(&format!("{key}=1")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("GOSAN_DEBUG: `{key}`: {key} (the scheduler trace) is not supported yet")
        );
    }
    // DESIGN.md's GOSAN_DEBUG example, as one value: the first key is named.
    assert_eq!(
        parse_debug("schedtrace=1000,scheddetail=1")
            .unwrap_err()
            .key,
        "schedtrace"
    );
}

// ── Config methods that are not built yet: resolve() errs, run_with/check panic ──

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let e = std::panic::catch_unwind(f).expect_err("expected a panic");
    match e.downcast::<String>() {
        Ok(s) => *s,
        Err(e) => e.downcast_ref::<&str>().unwrap().to_string(),
    }
}

#[test]
fn config_methods_not_built_yet_are_option_errors() {
    let cases: [(Config, &str, &str); 3] = [
        (
            Config::new().procs(2),
            "procs",
            "Config: invalid value `2` for `procs`: procs > 1 (the parallel G/M/P scheduler) \
             is not supported yet; procs=1 is the deterministic scheduler",
        ),
        (
            Config::new().trace("out.json"),
            "trace",
            "Config: `trace`: trace export (a Chrome/Perfetto trace of the run) is not \
             supported yet",
        ),
        (
            Config::new().format(Format::Sarif),
            "format",
            "Config: invalid value `sarif` for `format`: SARIF output is not supported yet; \
             use text or json",
        ),
    ];
    for (cfg, key, text) in cases {
        let e = cfg.resolve().unwrap_err();
        assert_eq!((e.key.as_str(), e.to_string()), (key, text.to_string()));
        // run_with and check have no error return: the panic message is the error.
        let c = cfg.clone();
        let msg = panic_message(move || drop(run_with(c, || {})));
        assert_eq!(msg, format!("gosan: {text}"));
        let ran = Arc::new(AtomicUsize::new(0));
        let r2 = ran.clone();
        let msg = panic_message(move || {
            drop(check(cfg, 3, move || {
                r2.fetch_add(1, Ordering::Relaxed);
            }))
        });
        assert_eq!(msg, format!("gosan: {text}"));
        assert_eq!(ran.load(Ordering::Relaxed), 0, "no iteration ran");
    }
    assert_eq!(Config::new().procs(1).resolve().unwrap().procs, 1);
    assert_eq!(
        Config::new().format(Format::Json).resolve().unwrap().format,
        Format::Json
    );
}

#[gosan::test(procs = 1)]
fn attribute_accepts_procs_1() {
    assert_eq!(gosan::goid(), 1);
}

#[gosan::test(
    procs = 1,
    iterations = 3,
    strategy = "pct:2",
    seed = 4,
    leak_check = false
)]
fn attribute_accepts_every_supported_key() {
    let c: Chan<i32> = gosan::chan(1);
    c.send(1);
}

// ── behaviour of the options that work, where no other test file covers it ──────

#[test]
fn shard_runs_every_nth_iteration_of_check() {
    for (k, n, expected) in [(1, 1, 10), (1, 3, 4), (2, 3, 3), (3, 3, 3), (2, 20, 1)] {
        let ran = Arc::new(AtomicUsize::new(0));
        let r2 = ran.clone();
        let r = check(Config::new().seed(1).shard(k, n), 10, move || {
            r2.fetch_add(1, Ordering::Relaxed);
        });
        assert!(r.is_clean(), "{r}");
        assert_eq!(ran.load(Ordering::Relaxed), expected, "shard {k}/{n}");
    }
}

#[test]
fn shard_shards_partition_the_iterations() {
    // The n shards together run each of the 10 iterations exactly once.
    for n in [2, 3, 4, 7, 10, 11] {
        let total: usize = (1..=n)
            .map(|k| {
                let ran = Arc::new(AtomicUsize::new(0));
                let r2 = ran.clone();
                check(Config::new().seed(9).shard(k, n), 10, move || {
                    r2.fetch_add(1, Ordering::Relaxed);
                });
                ran.load(Ordering::Relaxed)
            })
            .sum();
        assert_eq!(total, 10, "{n} shards");
    }
}

#[test]
fn shard_out_of_range_is_an_option_error() {
    for (k, n) in [(0, 3), (4, 3), (1, 0)] {
        let msg = panic_message(move || drop(check(Config::new().shard(k, n), 1, || {})));
        assert_eq!(
            msg,
            format!(
                "gosan: Config: invalid value `{k}/{n}` for `shard`: expected K/N with 1 <= K <= N"
            )
        );
    }
    let e = parse_options("shard=2/1", "GOSAN_OPTIONS").unwrap_err();
    assert_eq!(e.key, "shard");
}

/// Two mutexes taken in opposite orders by two goroutines, one after the other (no
/// deadlock in this run, but a lock-order inversion a lock-order detector reports).
fn inverted_lock_order() {
    let a = Arc::new(gosan::sync::Mutex::new(0));
    let b = Arc::new(gosan::sync::Mutex::new(0));
    let (a2, b2) = (a.clone(), b.clone());
    let done: Chan<()> = gosan::chan(0);
    let d2 = done.clone();
    go(move || {
        {
            let _ga = a2.lock();
            let _gb = b2.lock();
        }
        d2.send(());
    });
    done.recv();
    let _gb = b.lock();
    let _ga = a.lock();
}

#[test]
fn detect_lock_order_turns_the_lock_order_detector_on_and_off() {
    // On: the inversion is reported although this run did not deadlock; off: clean.
    for on in [true, false] {
        let cfg = Config::new().seed(2).detect_lock_order(on);
        assert_eq!(cfg.resolve().unwrap().detect_lock_order, on);
        let r = run_with(cfg, inverted_lock_order);
        assert!(r.deadlock.is_none(), "{r}");
        assert_eq!(r.lock_order.len(), usize::from(on), "{r}");
    }
    assert!(
        Config::new().resolve().unwrap().detect_lock_order,
        "default true"
    );
    for v in ["0", "1"] {
        let c = parse_options(&format!("detect_lock_order={v}"), "GOSAN_OPTIONS").unwrap();
        assert_eq!(c.resolve().unwrap().detect_lock_order, v == "1");
    }
}

#[test]
fn partial_deadlock_option_parses_continue_and_stop() {
    for (v, stop) in [("continue", false), ("stop", true)] {
        let c = parse_options(&format!("partial_deadlock={v}"), "GOSAN_OPTIONS").unwrap();
        assert_eq!(c.resolve().unwrap().partial_stop, stop);
    }
    assert!(
        !Config::new().resolve().unwrap().partial_stop,
        "default continue"
    );
    let e = parse_options("partial_deadlock=maybe", "GOSAN_OPTIONS").unwrap_err();
    assert_eq!(e.key, "partial_deadlock");
}

#[test]
fn history_size_range_is_checked() {
    for n in 0..=7 {
        assert_eq!(
            Config::new()
                .history_size(n)
                .resolve()
                .unwrap()
                .history_size,
            n
        );
    }
    let msg = panic_message(|| drop(run_with(Config::new().history_size(8), || {})));
    assert_eq!(
        msg,
        "gosan: Config: invalid value `8` for `history_size`: expected 0..=7"
    );
}

#[cfg(feature = "race")]
mod race {
    use super::*;

    #[inline(never)]
    fn store(x: &Shared<i64>, v: i64) {
        x.set(v);
    }

    #[inline(never)]
    fn store_deep(x: &Shared<i64>, v: i64) {
        store(x, v);
    }

    pub(super) fn racy() {
        let x = Shared::new(0i64);
        let x2 = x.clone();
        let done: Chan<()> = gosan::chan(1);
        let d2 = done.clone();
        go(move || {
            store_deep(&x2, 1);
            d2.send(());
        });
        x.get();
        done.recv();
    }

    fn previous_stack(history_size: u32) -> Vec<gosan::Frame> {
        let cfg = Config::new()
            .seed(7)
            .strategy(Strategy::RoundRobin)
            .history_size(history_size);
        let r = run_with(cfg, racy);
        assert_eq!(r.races.len(), 1, "{r}");
        r.races[0].previous.stack.clone()
    }

    #[test]
    fn history_size_0_keeps_one_frame_and_1_to_7_the_whole_stack() {
        let one = previous_stack(0);
        assert_eq!(one.len(), 1, "{one:?}");
        assert!(one[0].function.ends_with("store"), "{one:?}");
        let whole = previous_stack(1);
        assert!(
            whole.len() >= 3,
            "store, store_deep, the closure: {whole:?}"
        );
        assert!(whole[1].function.ends_with("store_deep"), "{whole:?}");
        for n in 2..=7 {
            assert_eq!(previous_stack(n), whole, "history_size={n} acts as 1 today");
        }
    }

    #[test]
    fn detect_races_switches_the_detector() {
        let on = run_with(Config::new().seed(1).strategy(Strategy::RoundRobin), racy);
        assert_eq!(on.races.len(), 1, "{on}");
        let off = run_with(Config::new().seed(1).detect_races(false), racy);
        assert!(off.is_clean(), "{off}");
    }
}

#[cfg(not(feature = "race"))]
#[test]
fn without_the_race_feature_race_1_is_rejected_and_races_go_unreported() {
    let e = Config::new().detect_races(true).resolve().unwrap_err();
    assert_eq!(
        e.to_string(),
        "Config: invalid value `true` for `race`: the race detector is not compiled in \
         (the cargo feature `race` of gosan / gosan-runtime is off)"
    );
    let e = parse_options("race=1", "GOSAN_OPTIONS").unwrap_err();
    assert_eq!(e.key, "race");
    assert!(
        !Config::new().resolve().unwrap().detect_races,
        "default off"
    );
    // A racy program runs, and no race is reported: the detector is not compiled in.
    let r = run_with(Config::new().seed(1), || {
        let x = Shared::new(0i64);
        let x2 = x.clone();
        go(move || x2.set(1));
        x.get();
        gosan::time::sleep(std::time::Duration::from_millis(1));
    });
    assert!(r.is_clean(), "{r}");
}

// ── the environment: child processes ─────────────────────────────────────────────

const CHILD: &str = "GOSAN_OPTIONS_TEST_CHILD";

fn say(s: impl std::fmt::Display) {
    println!("CHILD-RESULT {s}");
}

#[cfg(feature = "race")]
fn racy_program() {
    race::racy();
}

#[cfg(not(feature = "race"))]
fn racy_program() {
    let x = Shared::new(0i64);
    let x2 = x.clone();
    go(move || x2.set(1));
    x.get();
    gosan::time::sleep(std::time::Duration::from_millis(1));
}

/// Two races at different sites (not deduplicated into one).
fn two_races() {
    let x = Shared::new(0i64);
    let y = Shared::new(0i64);
    let (x2, y2) = (x.clone(), y.clone());
    let done: Chan<()> = gosan::chan(1);
    let d2 = done.clone();
    go(move || {
        x2.set(1);
        y2.set(1);
        d2.send(());
    });
    x.get();
    y.get();
    done.recv();
}

fn leaky_program() {
    let c: Chan<i32> = gosan::chan(0);
    // A handle kept where the run cannot see it end (a registry that outlives the
    // run): the blocked receiver is never provably orphaned while main runs, so it is
    // found as a leak after main returned, in every schedule.
    std::mem::forget(c.clone());
    go(move || {
        c.recv();
    });
}

fn child_case(case: &str) {
    match case {
        "seed_strategy" => {
            let r = gosan::run(|| {});
            say(format_args!("seed={} strategy={}", r.seed, r.strategy));
        }
        "config_wins" => {
            let r = run_with(Config::new().seed(5).strategy(Strategy::RoundRobin), || {});
            say(format_args!("seed={} strategy={}", r.seed, r.strategy));
        }
        "races" => {
            let r = run_with(Config::new().strategy(Strategy::RoundRobin), racy_program);
            say(format_args!("races={}", r.races.len()));
        }
        "races_config_on" => {
            let cfg = Config::new()
                .strategy(Strategy::RoundRobin)
                .detect_races(true);
            let r = run_with(cfg, racy_program);
            say(format_args!("races={}", r.races.len()));
        }
        "halt" => {
            let r = run_with(Config::new().strategy(Strategy::RoundRobin), two_races);
            say(format_args!("races={}", r.races.len()));
        }
        "strip" => {
            let r = run_with(Config::new().strategy(Strategy::RoundRobin), racy_program);
            let f = &r.races[0].current.stack[0];
            say(format_args!("file={}", f.file));
        }
        "leaks" => {
            let r = gosan::run(leaky_program);
            say(format_args!("leaks={}", r.leaks.len()));
        }
        "shard" => {
            let ran = Arc::new(AtomicUsize::new(0));
            let r2 = ran.clone();
            let r = check(Config::new(), 10, move || {
                r2.fetch_add(1, Ordering::Relaxed);
            });
            assert!(r.is_clean());
            say(format_args!("ran={}", ran.load(Ordering::Relaxed)));
        }
        "run" => {
            let _ = gosan::run(|| {});
            say("ran");
        }
        "main" => gosan::__private::main(Config::new(), || say("body ran")),
        "main_procs2" => gosan::__private::main(Config::new().procs(2), || say("body ran")),
        "main_sarif" => {
            gosan::__private::main(Config::new().format(Format::Sarif), || say("body ran"))
        }
        "main_exitcode" => gosan::__private::main(Config::new().exitcode(7), leaky_program),
        other => panic!("unknown case {other}"),
    }
}

#[test]
#[ignore = "run as a child process by the tests below"]
fn options_child() {
    if let Ok(case) = std::env::var(CHILD) {
        child_case(&case);
    }
}

struct Child {
    code: i32,
    result: Option<String>,
    stderr: String,
}

fn child(case: &str, options: &str, debug: Option<&str>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["options_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD, case)
        .env("GOSAN_OPTIONS", options)
        .env_remove("RUST_BACKTRACE");
    match debug {
        Some(d) => cmd.env("GOSAN_DEBUG", d),
        None => cmd.env_remove("GOSAN_DEBUG"),
    };
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    Child {
        code: out.status.code().unwrap_or(-1),
        result: stdout
            .lines()
            .find_map(|l| l.strip_prefix("CHILD-RESULT "))
            .map(str::to_string),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn result(case: &str, options: &str) -> String {
    let c = child(case, options, None);
    c.result
        .unwrap_or_else(|| panic!("{case} with {options:?}: exit {}\n{}", c.code, c.stderr))
}

#[test]
fn env_seed_and_strategy_reach_the_run() {
    assert_eq!(
        result("seed_strategy", "seed=0x2a strategy=pct:3"),
        "seed=42 strategy=pct:3"
    );
    // An explicit Config call wins over the environment.
    assert_eq!(
        result("config_wins", "seed=0x2a strategy=pct:3"),
        "seed=5 strategy=roundrobin"
    );
}

#[test]
fn env_race_switch() {
    assert_eq!(result("races", "race=0"), "races=0");
    if cfg!(feature = "race") {
        assert_eq!(result("races", ""), "races=1");
        assert_eq!(result("races", "race=1"), "races=1");
        // Config wins: detect_races(true) over race=0.
        assert_eq!(result("races_config_on", "race=0"), "races=1");
    } else {
        assert_eq!(result("races", ""), "races=0");
        let c = child("races", "race=1", None);
        assert_ne!(c.code, 0);
        assert!(
            c.stderr.contains("`race`") && c.stderr.contains("not compiled in"),
            "{}",
            c.stderr
        );
    }
}

#[cfg(feature = "race")]
#[test]
fn env_halt_on_error() {
    assert_eq!(result("halt", ""), "races=2");
    assert_eq!(result("halt", "halt_on_error=1"), "races=1");
}

#[cfg(feature = "race")]
#[test]
fn env_strip_path_prefix() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    let full = result("strip", "");
    assert!(full.starts_with(&format!("file={dir}")), "{full}");
    assert_eq!(
        result("strip", &format!("strip_path_prefix={dir}")),
        "file=tests/options.rs"
    );
}

#[test]
fn env_leak_check_off() {
    assert_eq!(result("leaks", ""), "leaks=1");
    assert_eq!(result("leaks", "leak_check=0"), "leaks=0");
}

#[test]
fn env_shard() {
    assert_eq!(result("shard", ""), "ran=10");
    assert_eq!(result("shard", "shard=2/3"), "ran=3");
}

#[test]
fn env_options_not_built_yet_stop_the_run_with_a_clear_message() {
    for (options, text) in [
        (
            "procs=2",
            "GOSAN_OPTIONS: invalid value `2` for `procs`: procs > 1 (the parallel G/M/P \
             scheduler) is not supported yet",
        ),
        ("trace=/tmp/t.json", "GOSAN_OPTIONS: `trace`: trace export"),
        (
            "format=sarif",
            "GOSAN_OPTIONS: invalid value `sarif` for `format`: SARIF output is not supported yet",
        ),
    ] {
        let c = child("run", options, None);
        assert_eq!(c.result, None, "{options}: the run did not start");
        assert_ne!(c.code, 0);
        // The panic names the caller (this file), not a gosan-internal location.
        assert!(
            c.stderr.contains("panicked at tests/options.rs:")
                && c.stderr.contains(&format!("gosan: {text}")),
            "{options}: {}",
            c.stderr
        );
    }
    for key in ["schedtrace=1000", "scheddetail=1"] {
        let c = child("run", "", Some(key));
        assert_eq!(c.result, None);
        let name = key.split('=').next().unwrap();
        assert!(
            c.stderr.contains(&format!(
                "gosan: GOSAN_DEBUG: `{name}`: {name} (the scheduler trace) is not supported yet"
            )),
            "{}",
            c.stderr
        );
    }
    // The same child runs when nothing unsupported is asked for.
    assert_eq!(result("run", "procs=1 format=text"), "ran");
}

#[test]
fn main_reports_option_errors_and_exits_2() {
    let c = child("main", "", None);
    assert_eq!(
        (c.code, c.result.as_deref()),
        (0, Some("body ran")),
        "{}",
        c.stderr
    );
    for (case, options, line) in [
        (
            "main",
            "procs=2",
            "gosan: GOSAN_OPTIONS: invalid value `2` for `procs`: procs > 1 (the parallel \
             G/M/P scheduler) is not supported yet; procs=1 is the deterministic scheduler",
        ),
        (
            "main",
            "trace=t.json",
            "gosan: GOSAN_OPTIONS: `trace`: trace export (a Chrome/Perfetto trace of the \
             run) is not supported yet",
        ),
        (
            "main_procs2",
            "",
            "gosan: Config: invalid value `2` for `procs`: procs > 1 (the parallel G/M/P \
             scheduler) is not supported yet; procs=1 is the deterministic scheduler",
        ),
        (
            "main_sarif",
            "",
            "gosan: Config: invalid value `sarif` for `format`: SARIF output is not supported \
             yet; use text or json",
        ),
    ] {
        let c = child(case, options, None);
        assert_eq!(c.code, 2, "{case} {options}: {}", c.stderr);
        assert_eq!(c.result, None, "the body did not run");
        // Exactly one line from gosan, no panic and no backtrace.
        assert_eq!(c.stderr, format!("{line}\n"), "{case} {options}");
    }
}

#[test]
fn main_config_exitcode() {
    let c = child("main_exitcode", "", None);
    assert_eq!(c.code, 7, "{}", c.stderr);
    assert!(c.stderr.contains("GOROUTINE LEAK"), "{}", c.stderr);
    // Config wins over the environment.
    assert_eq!(child("main_exitcode", "exitcode=9", None).code, 7);
}
