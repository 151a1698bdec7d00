//! `cargo gosan` end to end: builds the `cargo-gosan` binary, then runs it on the
//! user crate in `tests/cargo_gosan/` (its own workspace, gosan as a path dependency,
//! no RUSTFLAGS) — plain Rust memory, no `Shared<T>`: races found through compiler
//! instrumentation, reported with the user's functions and lines, exit 66; the
//! race-free twins clean, exit 0; the same through the target-runner mode under
//! plain `cargo test`.
//!
//! Build time is bounded by reusing two target directories under the workspace's
//! `target/cargo-gosan-it/` (the tool, and the instrumented example: gosan is compiled
//! for it once per profile, dev and release) across every case; the cases run one at
//! a time. A few minutes on two cores from scratch, about a minute once built.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn it_dir() -> PathBuf {
    root().join("target").join("cargo-gosan-it")
}

/// `program` with the outer `cargo test`'s variables removed (they would leak into
/// the nested builds) and no RUSTFLAGS from the environment or from this workspace's
/// `.cargo/config.toml` (the example stands for a user crate without any).
fn scrubbed(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let cargo_var = k.starts_with("CARGO_") && k != "CARGO_HOME";
        let rust_var = k.starts_with("RUST") && k != "RUSTUP_HOME" && k != "RUSTUP_TOOLCHAIN";
        if cargo_var || rust_var {
            c.env_remove(&k);
        }
    }
    c.env_remove("GOSAN_OPTIONS")
        .env_remove("GOSAN_RACE_MARKER")
        .env_remove("GOSAN_WRAPPER")
        .env("CARGO_BUILD_RUSTFLAGS", "")
        .env("CARGO_TERM_COLOR", "never");
    c
}

fn cargo() -> Command {
    scrubbed(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The `cargo-gosan` binary, built once (into its own target directory: the outer
/// `cargo test` holds the workspace's).
fn tool() -> &'static Path {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        let dir = it_dir().join("tool");
        let out = cargo()
            .current_dir(root())
            .args(["build", "-p", "gosan-instrument", "--bin", "cargo-gosan"])
            .arg("--target-dir")
            .arg(&dir)
            .output()
            .expect("run cargo build");
        assert!(out.status.success(), "{}", text(&out));
        dir.join("debug").join("cargo-gosan")
    })
}

/// One case at a time: they share the example's target directory.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn example() -> PathBuf {
    root().join("tests").join("cargo_gosan")
}

fn example_target() -> PathBuf {
    it_dir().join("example")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// `cargo gosan ARGS` in the example crate: `cargo-gosan gosan ARGS`, the argv
/// cargo gives an external subcommand (so the test does not depend on `cargo-gosan`
/// being installed on PATH).
fn cargo_gosan(args: &[&str]) -> Output {
    scrubbed(tool())
        .current_dir(example())
        .arg("gosan")
        .args(args)
        .output()
        .expect("run cargo-gosan")
}

/// `cargo gosan test` of one test of `tests/races.rs`.
fn gosan_test(filter: &str) -> Output {
    let target = example_target();
    cargo_gosan(&[
        "test",
        "--target-dir",
        target.to_str().unwrap(),
        "--test",
        "races",
        "--",
        filter,
    ])
}

/// Both accesses of the (single) report name `function` at `file:line`.
fn assert_both_stacks(out: &str, function: &str, file_line: &str, caller: &str) {
    let report = out
        .split("WARNING: DATA RACE")
        .nth(1)
        .unwrap_or_else(|| panic!("no race report:\n{out}"));
    let (current, previous) = report
        .split_once("\nPrevious ")
        .unwrap_or_else(|| panic!("no previous access:\n{out}"));
    for (which, stack) in [("current", current), ("previous", previous)] {
        assert!(
            stack.contains(function),
            "{which} stack lacks {function}:\n{out}"
        );
        assert!(
            stack.contains(file_line),
            "{which} stack lacks {file_line}:\n{out}"
        );
        assert!(
            stack.contains(caller),
            "{which} stack lacks {caller}:\n{out}"
        );
    }
}

#[test]
fn static_mut_counter_race_exits_66_with_both_stacks() {
    let _s = serial();
    let out = gosan_test("racy_static_mut");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(66), "{t}");
    assert_both_stacks(
        &t,
        "cargo_gosan_example::bump_counter()",
        "tests/cargo_gosan/src/lib.rs:11",
        "races::racy_static_mut::{{closure}}::{{closure}}()",
    );
    assert!(t.contains("tests/cargo_gosan/tests/races.rs:17"), "{t}");
    assert!(t.contains("cargo-gosan: 1 gosan run(s) found"), "{t}");
}

#[test]
fn vec_race_through_raw_pointer_exits_66_with_both_stacks() {
    let _s = serial();
    let out = gosan_test("racy_vec_raw_pointer");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(66), "{t}");
    assert_both_stacks(
        &t,
        "cargo_gosan_example::store_slot()",
        "tests/cargo_gosan/src/lib.rs:30",
        "races::racy_vec_raw_pointer::{{closure}}::{{closure}}()",
    );
    assert_eq!(t.matches("WARNING: DATA RACE").count(), 1, "{t}");
}

#[test]
fn plain_test_calling_gosan_run_passes_but_exits_66() {
    let _s = serial();
    let out = gosan_test("racy_in_plain_run");
    let t = text(&out);
    assert!(t.contains("test racy_in_plain_run ... ok"), "{t}");
    assert_eq!(out.status.code(), Some(66), "{t}");
}

#[test]
fn race_free_twins_exit_0_without_a_report() {
    let _s = serial();
    let out = gosan_test("twin_");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("test result: ok. 7 passed"), "{t}");
    assert!(!t.contains("WARNING: DATA RACE"), "{t}");
}

#[test]
fn exitcode_option_and_clear_errors() {
    let _s = serial();
    // GOSAN_OPTIONS exitcode= replaces 66.
    let target = example_target();
    let mut c = scrubbed(tool());
    c.current_dir(example())
        .args(["gosan", "test", "--target-dir"])
        .arg(&target)
        .args(["--test", "races", "--", "racy_static_mut"])
        .env("GOSAN_OPTIONS", "exitcode=7");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    // A bad option stops before building, naming it.
    let out = scrubbed(tool())
        .args(["gosan", "test"])
        .env("GOSAN_OPTIONS", "exitcode=x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("exitcode"), "{}", text(&out));
    // Unknown subcommand: clap's error.
    let out = Command::new(tool())
        .args(["gosan", "tset"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("unrecognized subcommand"),
        "{}",
        text(&out)
    );
    // --help documents it.
    let out = Command::new(tool())
        .args(["gosan", "--help"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        out.status.success() && t.contains("exits 66") && t.contains("runner"),
        "{t}"
    );
}

#[test]
fn gosan_main_binary_through_cargo_gosan_run() {
    let _s = serial();
    let target = example_target();
    let out = cargo_gosan(&[
        "run",
        "--target-dir",
        target.to_str().unwrap(),
        "--bin",
        "racy_main",
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(66), "{t}");
    assert!(t.contains("cargo_gosan_example::bump_counter()"), "{t}");
    assert!(t.contains("racy_main::main::{{closure}}"), "{t}");
}

fn host_triple() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("host triple")
}

/// Plain `cargo test` with `RUSTC_WRAPPER=cargo-gosan` and the runner: the runner
/// turns a racy test binary's exit into 66 (cargo then reports it and fails).
#[test]
fn runner_mode_under_plain_cargo_test() {
    let _s = serial();
    let runner_var = format!(
        "CARGO_TARGET_{}_RUNNER",
        host_triple().to_uppercase().replace(['-', '.'], "_")
    );
    let runner = format!("{} gosan runner --", tool().display());
    let run = |filter: &str| {
        cargo()
            .current_dir(example())
            .args(["test", "--target-dir"])
            .arg(example_target())
            .args(["--test", "races", "--", filter])
            .env("RUSTC_WRAPPER", tool())
            .env(&runner_var, &runner)
            .output()
            .unwrap()
    };
    let out = run("racy_static_mut");
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("exit status: 66"), "{t}");
    assert!(t.contains("cargo_gosan_example::bump_counter()"), "{t}");
    let out = run("twin_");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(!t.contains("WARNING: DATA RACE"), "{t}");
}

/// `cargo gosan nextest`: exit 66 through cargo-nextest when it is installed, a
/// clear error when it is not.
#[test]
fn nextest_subcommand() {
    let _s = serial();
    let target = example_target();
    let have_nextest = cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let out = cargo_gosan(&[
        "nextest",
        "run",
        "--target-dir",
        target.to_str().unwrap(),
        "--test",
        "races",
        "racy_static_mut",
    ]);
    let t = text(&out);
    if have_nextest {
        assert_eq!(out.status.code(), Some(66), "{t}");
        assert!(t.contains("cargo_gosan_example::bump_counter()"), "{t}");
    } else {
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(t.contains("cargo-nextest is not installed"), "{t}");
    }
}

/// `--release`: the profile has no debug info and cargo strips it; the wrapper keeps
/// what telling gosan's inlined code from the user's needs, so optimized code is
/// checked the same way (found, both stacks; twins clean).
#[test]
fn release_profile_is_checked_too() {
    let _s = serial();
    let target = example_target();
    let run = |filter: &str| {
        cargo_gosan(&[
            "test",
            "--release",
            "--target-dir",
            target.to_str().unwrap(),
            "--test",
            "races",
            "--",
            filter,
        ])
    };
    let out = run("racy_static_mut");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(66), "{t}");
    assert_both_stacks(
        &t,
        "cargo_gosan_example::bump_counter()",
        "tests/cargo_gosan/src/lib.rs:11",
        "races::racy_static_mut::{{closure}}::{{closure}}()",
    );
    let out = run("twin_");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!t.contains("WARNING: DATA RACE"), "{t}");
}
