//! `cargo gosan`: Go's `go test -race` for Rust — any test binary under gosan's race
//! detector, plain Rust memory accesses checked, exit 66 on a finding.
//!
//! Install with `cargo install --path instrument` (from a gosan checkout); then, in
//! any workspace whose crates depend on `gosan`:
//!
//! ```text
//! cargo gosan test [CARGO TEST ARGS]     # cargo test, instrumented; exit 66 on a finding
//! cargo gosan run [CARGO RUN ARGS]       # cargo run, instrumented
//! cargo gosan nextest [NEXTEST ARGS]     # cargo nextest run (needs cargo-nextest)
//! cargo gosan runner -- BINARY [ARGS]    # target-runner mode (CARGO_TARGET_<TRIPLE>_RUNNER)
//! ```
//!
//! # What it does
//!
//! 1. **Builds** through a `RUSTC_WRAPPER` that is this binary again (recognised by
//!    `GOSAN_WRAPPER=1`, or by its first argument being a `rustc`). For the user's
//!    workspace members that depend on `gosan` (cargo sets `CARGO_PRIMARY_PACKAGE`
//!    for them; an `--extern gosan=…` shows the dependency) it adds LLVM's
//!    ThreadSanitizer pass — `-Cllvm-args=-force-attribute=sanitize_thread
//!    -Cpasses=forceattrs,tsan-module,tsan` — which turns every load, store, atomic
//!    and `memcpy` into a call to a `__tsan_*` function. Such a crate is also
//!    compiled at opt-level 2 or more (below that, rustc reuses the uninstrumented
//!    generic code of upstream crates — `Vec::push`, `AtomicBool::store` — instead
//!    of instantiating it; debug assertions and overflow checks stay as the profile
//!    had them), and with `limited` debug info, unstripped, when the profile has
//!    none (telling gosan's inlined code from yours needs function names). gosan's
//!    own crates and every other dependency are not instrumented; a crate that
//!    depends on gosan without using it (so does not link it) is compiled again
//!    uninstrumented, with a note. Every crate gets `-Cforce-frame-pointers=yes` (stacks in
//!    reports are frame-pointer walks), and `gosan-instrument` gets its `tsan`
//!    feature: the `__tsan_*` functions exported under their C names
//!    (`gosan_instrument::tsan`), which feed gosan's FastTrack detector. The build
//!    goes to `<target dir>/gosan` (unless `--target-dir` is given), so instrumented
//!    and plain builds do not rebuild each other; the wrapper also appends its
//!    identity to `rustc -vV`, which cargo hashes into every artifact, so
//!    instrumented artifacts are never mistaken for plain ones.
//! 2. **Runs** the binaries with `GOSAN_RACE_MARKER` naming a fresh file: every gosan
//!    run in them (`#[gosan::test]`, `#[gosan::main]`, and `gosan::run`/`check`
//!    called from an ordinary `#[test]`) that finds a race, a deadlock, a leak or a
//!    lock-order inversion appends a line to it. Every report prints as usual.
//! 3. **Exits** with `exitcode` from `GOSAN_OPTIONS` (66 by default, like Go) when
//!    the file is not empty, else with the exit status of cargo (or of the binary,
//!    in runner mode).
//!
//! # What the detector sees
//!
//! Accesses made by code compiled in your workspace crates (including generic code of
//! `std` instantiated there, such as `Vec<T>::push` called by your code) while it
//! runs as a gosan goroutine. Not seen: code of precompiled `std` that is not generic
//! (`std` ships without the instrumentation; nightly `-Zbuild-std` would add it),
//! other dependencies, gosan itself (its synchronization creates the happens-before
//! edges instead), accesses to the running goroutine's own stack, and code running
//! outside a goroutine (plain threads, before or after `gosan::run`).
//!
//! # Target-runner mode
//!
//! Under plain `cargo test`, set `RUSTC_WRAPPER=cargo-gosan` (to instrument) and
//! `CARGO_TARGET_<TRIPLE>_RUNNER="cargo-gosan gosan runner --"`: each test binary
//! then runs with its own marker file, and the runner exits 66 for it.

use clap::{Parser, Subcommand};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// Environment variable that makes this binary act as cargo's `RUSTC_WRAPPER`.
const WRAPPER_ENV: &str = "GOSAN_WRAPPER";
/// A wrapper that was configured before `cargo gosan` replaced it (e.g. sccache):
/// the wrapper runs the compiler through it.
const INNER_WRAPPER_ENV: &str = "GOSAN_INNER_WRAPPER";
/// The marker file variable (`gosan_runtime::__private::RACE_MARKER_ENV`).
const MARKER_ENV: &str = gosan_runtime::__private::RACE_MARKER_ENV;

/// gosan's own packages: never instrumented (their synchronization is modelled by the
/// detector's hooks, not observed through memory accesses).
const GOSAN_PACKAGES: &[&str] = &[
    "gosan",
    "gosan-runtime",
    "gosan-detector",
    "gosan-instrument",
    "gosan-macros",
];

/// What the TSan pass needs: every function gets `sanitize_thread`, then the module
/// and function passes run.
const TSAN_FLAGS: &[&str] = &[
    "-Cllvm-args=-force-attribute=sanitize_thread",
    "-Cpasses=forceattrs,tsan-module,tsan",
];

#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap::builder::Styles::plain())]
enum CargoCli {
    Gosan(Gosan),
}

/// Go's `go test -race` for Rust: builds your workspace crates with compiler
/// instrumentation, runs them under gosan's race detector and exits 66 (GOSAN_OPTIONS
/// exitcode=) when any gosan run found a data race, deadlock or leaked goroutine.
#[derive(clap::Args)]
#[command(version, long_about = LONG_ABOUT)]
struct Gosan {
    #[command(subcommand)]
    cmd: Cmd,
}

const LONG_ABOUT: &str = "\
Go's `go test -race` for Rust: builds your workspace crates with compiler \
instrumentation (LLVM's ThreadSanitizer pass feeding gosan's FastTrack detector), \
runs them under gosan, prints every report, and exits 66 (GOSAN_OPTIONS exitcode=N) \
when any gosan run in them found a data race, deadlock or leaked goroutine.

Only code of your workspace members that depend on `gosan`, running as gosan \
goroutines, is checked; precompiled std internals, other dependencies and gosan \
itself are not. Builds go to <target dir>/gosan.";

#[derive(Subcommand)]
enum Cmd {
    /// `cargo test ARGS`, instrumented; exit 66 on a finding.
    #[command(disable_help_flag = true)]
    Test {
        /// Arguments for `cargo test` (e.g. `--test race -- static_mut`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// `cargo run ARGS`, instrumented; exit 66 on a finding.
    #[command(disable_help_flag = true)]
    Run {
        /// Arguments for `cargo run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// `cargo nextest ARGS` (`run` when ARGS is empty or starts with a flag),
    /// instrumented; exit 66 on a finding. Needs cargo-nextest.
    #[command(disable_help_flag = true)]
    Nextest {
        /// Arguments for `cargo nextest`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Target-runner mode: runs BINARY ARGS with a fresh GOSAN_RACE_MARKER and exits 66
    /// if a gosan run in it found something (use as `CARGO_TARGET_<TRIPLE>_RUNNER` =
    /// "cargo-gosan gosan runner --", with RUSTC_WRAPPER=cargo-gosan to instrument).
    Runner {
        /// The binary to run, then its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<OsString>,
    },
}

fn main() {
    let argv: Vec<OsString> = std::env::args_os().collect();
    if is_wrapper_call(&argv) {
        wrap_rustc(&argv[1], &argv[2..]);
    }
    // `cargo gosan X` runs `cargo-gosan gosan X`; accept `cargo-gosan X` too.
    let mut args = argv;
    if args.get(1).map(OsString::as_os_str) != Some(OsStr::new("gosan")) {
        args.insert(1, "gosan".into());
    }
    let CargoCli::Gosan(g) = CargoCli::parse_from(args);
    let code = match g.cmd {
        Cmd::Test { args } => cargo_instrumented(&["test"], args),
        Cmd::Run { args } => cargo_instrumented(&["run"], args),
        Cmd::Nextest { mut args } => {
            if let Err(e) = nextest_installed() {
                eprintln!("cargo-gosan: {e}");
                std::process::exit(2);
            }
            if args
                .first()
                .is_none_or(|a| a.to_string_lossy().starts_with('-'))
            {
                args.insert(0, "run".into());
            }
            cargo_instrumented(&["nextest"], args)
        }
        Cmd::Runner { command } => runner(&command),
    };
    std::process::exit(code)
}

// ── RUSTC_WRAPPER mode ──────────────────────────────────────────────────────────

/// Whether cargo called us as its `RUSTC_WRAPPER`: `cargo-gosan RUSTC ARGS…`.
fn is_wrapper_call(argv: &[OsString]) -> bool {
    let Some(first) = argv.get(1) else {
        return false;
    };
    if std::env::var_os(WRAPPER_ENV).is_some_and(|v| v == "1") && first != "gosan" {
        return true;
    }
    let name = Path::new(first)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.starts_with("rustc") || name.starts_with("clippy-driver")
}

/// Runs the compiler with gosan's flags added; never returns.
///
/// A crate that has `gosan` as a dependency but does not use it (a library's unit
/// tests when only its integration tests use gosan) does not link gosan, so its
/// instrumented code has no `__tsan_*` functions to call: when such a link fails,
/// the target is compiled again without the instrumentation (no gosan run can
/// happen in it, so nothing is lost).
fn wrap_rustc(rustc: &OsStr, args: &[OsString]) -> ! {
    let extra = extra_rustc_flags(
        args,
        std::env::var("CARGO_PKG_NAME").ok().as_deref(),
        std::env::var_os("CARGO_PRIMARY_PACKAGE").is_some(),
    );
    let instrumented = extra.iter().any(|f| TSAN_FLAGS.iter().any(|t| f == t));
    let command = |extra: &[OsString]| {
        let mut cmd = match std::env::var_os(INNER_WRAPPER_ENV).filter(|w| !w.is_empty()) {
            Some(inner) => {
                let mut c = Command::new(inner);
                c.arg(rustc);
                c
            }
            None => Command::new(rustc),
        };
        cmd.args(args).args(extra);
        cmd
    };
    if args.len() == 1 && args[0] == "-vV" {
        version_query(command(&extra));
    }
    if !(instrumented && links(args)) {
        exec(command(&extra));
    }
    let out = command(&extra)
        .stderr(std::process::Stdio::piped())
        .output();
    match out {
        Ok(o) if !o.status.success() && missing_tsan_symbols(&o.stderr) => {
            let name = args
                .windows(2)
                .find(|w| w[0] == "--crate-name")
                .map_or_else(String::new, |w| w[1].to_string_lossy().into_owned());
            eprintln!(
                "cargo-gosan: note: `{name}` does not link gosan (it depends on it without \
                 using it); built without instrumentation"
            );
            if std::env::var_os("GOSAN_WRAPPER_DEBUG").is_some() {
                use std::io::Write;
                let _ = std::io::stderr().write_all(&o.stderr);
            }
            let plain: Vec<OsString> = extra
                .into_iter()
                .filter(|f| !TSAN_FLAGS.iter().any(|t| f == t))
                .collect();
            exec(command(&plain))
        }
        Ok(o) => {
            use std::io::Write;
            let _ = std::io::stderr().write_all(&o.stderr);
            std::process::exit(status_code(o.status))
        }
        Err(e) => {
            eprintln!("cargo-gosan: cannot run {rustc:?}: {e}");
            std::process::exit(101)
        }
    }
}

/// What the wrapper does to a compilation, appended to `rustc -vV`: cargo hashes
/// that output into every artifact's metadata, so builds through this wrapper never
/// share artifacts with plain builds, nor with builds by a wrapper that adds other
/// flags (bump this when the flags change).
const WRAPPER_ID: &str = concat!(
    "gosan-wrapper: ",
    env!("CARGO_PKG_VERSION"),
    " tsan-pass forceattrs opt-level>=2 debuginfo-limited strip=none frame-pointers feature=tsan (4)"
);

/// `rustc -vV` with [`WRAPPER_ID`] appended; never returns.
fn version_query(mut cmd: Command) -> ! {
    match cmd.output() {
        Ok(o) => {
            use std::io::Write;
            let mut out = std::io::stdout();
            let _ = out.write_all(&o.stdout);
            if o.status.success() {
                let _ = writeln!(out, "{WRAPPER_ID}");
            }
            let _ = std::io::stderr().write_all(&o.stderr);
            std::process::exit(status_code(o.status))
        }
        Err(e) => {
            eprintln!("cargo-gosan: cannot run {:?}: {e}", cmd.get_program());
            std::process::exit(101)
        }
    }
}

/// Whether this compilation links an executable (a test harness or a binary).
fn links(args: &[OsString]) -> bool {
    if args.iter().any(|a| a == "--test") {
        return true;
    }
    args.windows(2).any(|w| {
        w[0] == "--crate-type" && matches!(w[1].to_str(), Some("bin" | "dylib" | "cdylib"))
    })
}

/// Whether a failed compilation's messages name undefined `__tsan_*` functions
/// (lld, GNU ld and gold wordings), as rendered text or JSON diagnostics.
fn missing_tsan_symbols(stderr: &[u8]) -> bool {
    let s = String::from_utf8_lossy(stderr);
    s.contains("undefined symbol: __tsan_") || s.contains("undefined reference to `__tsan_")
}

/// The flags gosan adds to one rustc invocation of package `pkg`.
fn extra_rustc_flags(args: &[OsString], pkg: Option<&str>, primary: bool) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    let has = |needle: &str| args.iter().any(|a| a.to_string_lossy().contains(needle));
    // Only compilations of a crate (not `rustc -vV` or `--print` probes).
    if !args.iter().any(|a| a == "--crate-name") {
        return out;
    }
    if !has("force-frame-pointers") {
        out.push("-Cforce-frame-pointers=yes".into());
    }
    if pkg == Some("gosan-instrument") {
        out.push("--cfg".into());
        out.push("feature=\"tsan\"".into());
    }
    if should_instrument(args, pkg, primary) {
        out.extend(TSAN_FLAGS.iter().map(OsString::from));
        // Telling gosan's code from yours needs the names of inlined functions:
        // `limited` debug info (line tables alone carry unqualified names).
        if matches!(
            codegen_opt(args, "debuginfo").as_deref(),
            None | Some("0" | "none")
        ) {
            out.push("-Cdebuginfo=limited".into());
        }
        // cargo's release profile strips debug info when it has none of its own;
        // the debug info is needed at run time (the last -C strip wins).
        if has("strip=") {
            out.push("-Cstrip=none".into());
        }
        // At opt-levels 0, 1, s and z rustc reuses generic instances that upstream
        // crates already compiled ("share-generics"), uninstrumented: `Vec::push`,
        // `AtomicBool::store`'s `atomic_store::<u8>`… would escape the detector. From
        // opt-level 2 on, every generic the crate uses is instantiated, and so
        // instrumented, in it. Debug assertions and overflow checks stay as the
        // profile had them (rustc derives their defaults from opt-level 0).
        let level = codegen_opt(args, "opt-level").unwrap_or_else(|| "0".to_string());
        if matches!(level.as_str(), "0" | "1" | "s" | "z") {
            out.push("-Copt-level=2".into());
            if level == "0" {
                if !has("debug-assertions") {
                    out.push("-Cdebug-assertions=on".into());
                }
                if !has("overflow-checks") {
                    out.push("-Coverflow-checks=on".into());
                }
            }
        }
    }
    out
}

/// The value of codegen option `-C NAME=VALUE` (or `-CNAME=VALUE`) in `args`; the
/// last one wins, as in rustc.
fn codegen_opt(args: &[OsString], name: &str) -> Option<String> {
    let mut value = None;
    let mut prev_c = false;
    for a in args {
        let a = a.to_string_lossy();
        let opt = if prev_c {
            Some(a.as_ref())
        } else {
            a.strip_prefix("-C")
        };
        prev_c = a == "-C";
        if let Some((k, v)) = opt.and_then(|o| o.split_once('=')) {
            if k == name {
                value = Some(v.to_string());
            }
        }
    }
    value
}

/// A workspace member (not one of gosan's packages) whose crate links gosan's
/// instrumentation: it depends on `gosan` (or `gosan-instrument`), which defines the
/// `__tsan_*` functions its instrumented code calls.
fn should_instrument(args: &[OsString], pkg: Option<&str>, primary: bool) -> bool {
    if !primary || pkg.is_none_or(|p| GOSAN_PACKAGES.contains(&p)) {
        return false;
    }
    args.windows(2).any(|w| {
        w[0] == "--extern" && {
            let v = w[1].to_string_lossy();
            let path = v.split_once('=').map_or("", |(_, p)| p);
            let file = Path::new(path)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            file.starts_with("libgosan-") || file.starts_with("libgosan_instrument-")
        }
    })
}

#[cfg(unix)]
fn exec(mut cmd: Command) -> ! {
    use std::os::unix::process::CommandExt;
    let e = cmd.exec();
    eprintln!("cargo-gosan: cannot run {:?}: {e}", cmd.get_program());
    std::process::exit(101)
}

#[cfg(not(unix))]
fn exec(mut cmd: Command) -> ! {
    match cmd.status() {
        Ok(s) => std::process::exit(s.code().unwrap_or(101)),
        Err(e) => {
            eprintln!("cargo-gosan: cannot run {:?}: {e}", cmd.get_program());
            std::process::exit(101)
        }
    }
}

// ── cargo test / run / nextest ──────────────────────────────────────────────────

/// `cargo SUB ARGS` through the wrapper, with a fresh marker; the exit code.
fn cargo_instrumented(sub: &[&str], args: Vec<OsString>) -> i32 {
    let exitcode = exitcode_or_exit();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let me = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cargo-gosan: cannot find its own executable: {e}");
            return 2;
        }
    };
    let marker = match Marker::new() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cargo-gosan: cannot create a marker file: {e}");
            return 2;
        }
    };
    let mut cmd = Command::new(&cargo);
    cmd.args(sub).args(&args);
    cmd.env("RUSTC_WRAPPER", &me).env(WRAPPER_ENV, "1");
    if let Some(w) = std::env::var_os("RUSTC_WRAPPER").filter(|w| !w.is_empty() && *w != *me) {
        cmd.env(INNER_WRAPPER_ENV, w);
    }
    if !args
        .iter()
        .any(|a| a.to_string_lossy().starts_with("--target-dir"))
    {
        match gosan_target_dir(&cargo, &args) {
            Ok(dir) => {
                cmd.env("CARGO_TARGET_DIR", dir);
            }
            Err(e) => {
                eprintln!("cargo-gosan: {e}");
                return 2;
            }
        }
    }
    cmd.env(MARKER_ENV, marker.path());
    let code = match cmd.status() {
        Ok(s) => status_code(s),
        Err(e) => {
            eprintln!("cargo-gosan: cannot run {cargo:?}: {e}");
            return 2;
        }
    };
    marker.finish(code, exitcode)
}

/// `<target dir>/gosan`, the target dir from `cargo metadata` (which honours
/// `CARGO_TARGET_DIR`, `build.target-dir` and `--manifest-path`).
fn gosan_target_dir(cargo: &OsStr, args: &[OsString]) -> Result<PathBuf, String> {
    let mut cmd = Command::new(cargo);
    cmd.args(["metadata", "--no-deps", "--format-version", "1"]);
    if let Some(i) = args.iter().position(|a| a == "--manifest-path") {
        if let Some(p) = args.get(i + 1) {
            cmd.arg("--manifest-path").arg(p);
        }
    } else if let Some(a) = args
        .iter()
        .find(|a| a.to_string_lossy().starts_with("--manifest-path="))
    {
        cmd.arg(a);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run `cargo metadata`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo metadata` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cannot parse `cargo metadata` output: {e}"))?;
    let dir = v["target_directory"]
        .as_str()
        .ok_or("`cargo metadata` gave no target_directory")?;
    Ok(Path::new(dir).join("gosan"))
}

fn nextest_installed() -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    match Command::new(cargo).args(["nextest", "--version"]).output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(
            "cargo-nextest is not installed (`cargo install cargo-nextest --locked`); \
                  `cargo gosan test` needs nothing extra"
                .to_string(),
        ),
    }
}

// ── runner mode ─────────────────────────────────────────────────────────────────

/// Runs `command` with a fresh marker; 66 (`exitcode`) when it marked a finding,
/// else its own exit code. An outer marker (an enclosing `cargo gosan`) gets the
/// lines too.
fn runner(command: &[OsString]) -> i32 {
    let exitcode = exitcode_or_exit();
    let marker = match Marker::new() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cargo-gosan: cannot create a marker file: {e}");
            return 2;
        }
    };
    let outer = std::env::var_os(MARKER_ENV);
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]).env(MARKER_ENV, marker.path());
    let code = match cmd.status() {
        Ok(s) => status_code(s),
        Err(e) => {
            eprintln!("cargo-gosan: cannot run {:?}: {e}", command[0]);
            return 2;
        }
    };
    if let Some(outer) = outer {
        let lines = std::fs::read(marker.path()).unwrap_or_default();
        if !lines.is_empty() {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(outer)
            {
                let _ = f.write_all(&lines);
            }
        }
    }
    marker.finish(code, exitcode)
}

// ── marker file and exit codes ──────────────────────────────────────────────────

/// `exitcode` of `GOSAN_OPTIONS` (66 by default); a bad `GOSAN_OPTIONS` stops here,
/// before anything is built, with the error naming the option.
fn exitcode_or_exit() -> i32 {
    match gosan_runtime::Config::new().resolve() {
        Ok(r) => r.exitcode,
        Err(e) => {
            eprintln!("cargo-gosan: {e}");
            std::process::exit(2)
        }
    }
}

fn status_code(s: ExitStatus) -> i32 {
    if let Some(c) = s.code() {
        return c;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            return 128 + sig;
        }
    }
    101
}

/// A fresh, empty file named in `GOSAN_RACE_MARKER`; removed when dropped.
struct Marker {
    path: PathBuf,
}

impl Marker {
    fn new() -> std::io::Result<Marker> {
        let dir = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for i in 0u32.. {
            let path = dir.join(format!("gosan-marker-{}-{nanos:x}-{i}", std::process::id()));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(Marker { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("u32 range exhausted")
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// The exit code: `exitcode` when some run marked a finding, else `code`.
    fn finish(self, code: i32, exitcode: i32) -> i32 {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let n = text.lines().count();
        if n == 0 {
            return code;
        }
        eprintln!(
            "cargo-gosan: {n} gosan run(s) found a data race, deadlock or leak; exit {exitcode}"
        );
        for l in text.lines().take(20) {
            eprintln!("cargo-gosan:   {l}");
        }
        exitcode
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn instruments_workspace_members_that_link_gosan_only() {
        let user = os(&[
            "--crate-name",
            "app",
            "--extern",
            "gosan=/t/deps/libgosan-0123.rlib",
        ]);
        let flags = extra_rustc_flags(&user, Some("app"), true);
        assert!(flags.contains(&"-Cpasses=forceattrs,tsan-module,tsan".into()));
        assert!(flags.contains(&"-Cforce-frame-pointers=yes".into()));
        assert!(flags.contains(&"-Cdebuginfo=limited".into()));
        // A dependency (not primary), gosan itself, a member without gosan: frame
        // pointers only.
        for (args, pkg, primary) in [
            (&user, "app", false),
            (&user, "gosan-runtime", true),
            (&os(&["--crate-name", "helper"]), "helper", true),
        ] {
            let f = extra_rustc_flags(args, Some(pkg), primary);
            assert_eq!(f, os(&["-Cforce-frame-pointers=yes"]), "{pkg} {primary}");
        }
        // gosan-runtime's own --extern of the detector does not count.
        let rt = os(&[
            "--crate-name",
            "x",
            "--extern",
            "gosan_runtime=/t/libgosan_runtime-1.rlib",
        ]);
        assert!(!should_instrument(&rt, Some("x"), true));
        // Probes are passed through untouched.
        assert!(extra_rustc_flags(&os(&["-vV"]), None, false).is_empty());
        // gosan-instrument gets its `tsan` feature.
        let gi = extra_rustc_flags(
            &os(&["--crate-name", "gosan_instrument"]),
            Some("gosan-instrument"),
            false,
        );
        assert!(gi.contains(&"feature=\"tsan\"".into()));
    }

    #[test]
    fn codegen_options_are_read_in_both_spellings() {
        let a = os(&[
            "-C",
            "opt-level=3",
            "-C",
            "strip=debuginfo",
            "-Cdebuginfo=2",
        ]);
        assert_eq!(codegen_opt(&a, "opt-level").as_deref(), Some("3"));
        assert_eq!(codegen_opt(&a, "debuginfo").as_deref(), Some("2"));
        assert_eq!(codegen_opt(&a, "strip").as_deref(), Some("debuginfo"));
        assert_eq!(
            codegen_opt(&os(&["-C", "strip=debuginfo"]), "debuginfo"),
            None
        );
        // A release build without debug info gets it back, and optimizations stay.
        let rel = os(&[
            "--crate-name",
            "app",
            "-C",
            "opt-level=3",
            "-C",
            "strip=debuginfo",
            "--extern",
            "gosan=/t/libgosan-1.rlib",
        ]);
        let f = extra_rustc_flags(&rel, Some("app"), true);
        assert!(f.contains(&"-Cdebuginfo=limited".into()), "{f:?}");
        assert!(f.contains(&"-Cstrip=none".into()), "{f:?}");
        assert!(
            !f.iter().any(|x| x.to_string_lossy().contains("opt-level")),
            "{f:?}"
        );
    }

    #[test]
    fn wrapper_call_is_recognised_by_its_rustc_argument() {
        assert!(is_wrapper_call(&os(&[
            "cargo-gosan",
            "/x/bin/rustc",
            "-vV"
        ])));
        assert!(!is_wrapper_call(&os(&["cargo-gosan", "gosan", "test"])));
        assert!(!is_wrapper_call(&os(&["cargo-gosan", "test"])));
    }
}
