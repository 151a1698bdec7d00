//! Stacks as a new user sees them: a crate OUTSIDE this workspace's build setup
//! (gosan as a path dependency, no `.cargo/config.toml`, no RUSTFLAGS, so no frame
//! pointers), built with plain `cargo build`. Its deadlock dump names the user's
//! function and file:line for every goroutine (parked stacks unwound with DWARF when
//! the report is built), its race report on a `Shared` names the user's functions on
//! both sides, and a goroutine panic prints the user's frames plus one line per gosan
//! entry point — never the unwinder, std's panic machinery or corosensei
//! (`GOSAN_DEBUG=traceback=all` shows those).
//!
//! The crate is generated under `target/user-stacks/crate` (its own `[workspace]`)
//! and built into `target/user-stacks/target`, so repeated runs are incremental: one
//! build of gosan without frame pointers (about a minute on two cores), then seconds.
//! Its directory lies inside this workspace, so an empty `CARGO_ENCODED_RUSTFLAGS`
//! (no flags at all) overrides the workspace's `.cargo/config.toml`
//! (`-Cforce-frame-pointers=yes`), which a user's crate elsewhere would not have.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dir() -> PathBuf {
    root().join("target").join("user-stacks")
}

fn krate() -> PathBuf {
    dir().join("crate")
}

const DEADLOCK: &str = r#"// Every goroutine blocked.
fn worker(c: gosan::Chan<i32>) {
    c.send(1); // blocks: worker
}

fn wait_for(c: gosan::Chan<i32>) {
    c.recv(); // blocks: main
}

#[gosan::main]
fn main() {
    let c = gosan::chan::<i32>(0);
    let d = gosan::chan::<i32>(0);
    let d2 = d.clone();
    gosan::go(move || worker(d2));
    gosan::go(move || {
        let m = gosan::sync::Mutex::new(0);
        let _g = m.lock();
        let _h = m.lock();
    });
    wait_for(c);
    drop(d);
}
"#;

const RACE: &str = r#"// A race on a Shared: both stacks name the user's functions.
use std::sync::Arc;

fn bump(x: &gosan::Shared<i64>) {
    x.with_mut(|v| *v += 1);
}

fn peek(x: &gosan::Shared<i64>) -> i64 {
    x.with(|v| *v)
}

#[gosan::main]
fn main() {
    let x = Arc::new(gosan::Shared::new(0i64));
    let x2 = x.clone();
    let done = gosan::chan::<()>(0);
    let d2 = done.clone();
    gosan::go(move || {
        bump(&x2);
        d2.send(());
    });
    let _ = peek(&x);
    done.recv();
}
"#;

const PANIC: &str = r#"// A goroutine panics in the user's code.
fn explode(n: i32) {
    if n > 0 {
        panic!("boom {n}");
    }
}

fn worker(c: gosan::Chan<i32>) {
    let n = c.recv().unwrap_or(0);
    explode(n);
}

#[gosan::main]
fn main() {
    let c = gosan::chan::<i32>(0);
    let c2 = c.clone();
    gosan::go(move || worker(c2));
    c.send(3);
    gosan::time::sleep(std::time::Duration::from_secs(1));
}
"#;

const CLOSED: &str = r#"// gosan panics inside the entry point the user called.
fn shut(c: &gosan::Chan<i32>) {
    c.close();
    c.send(1);
}

#[gosan::main]
fn main() {
    let c = gosan::chan::<i32>(1);
    shut(&c);
}
"#;

const LEAK: &str = r#"// A goroutine blocked for good after main returned.
fn stuck(c: gosan::Chan<i32>) {
    c.recv(); // blocks: leaked
}

#[gosan::main]
fn main() {
    let c = gosan::chan::<i32>(0);
    gosan::go(move || stuck(c));
}
"#;

const RESULT: &str = r#"// `main` returning an `Err`, like std's `main`.
#[gosan::main]
fn main() -> Result<(), String> {
    let c = gosan::chan(1);
    c.send(String::from("no luck"));
    Err(c.recv().unwrap_or_default())
}
"#;

/// `cargo` with the outer `cargo test`'s variables removed and no RUSTFLAGS from
/// anywhere (environment or this workspace's `.cargo/config.toml`).
fn scrubbed(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let cargo_var = k.starts_with("CARGO_") && k != "CARGO_HOME";
        let rust_var = k.starts_with("RUST") && k != "RUSTUP_HOME" && k != "RUSTUP_TOOLCHAIN";
        if cargo_var || rust_var || k.starts_with("GOSAN_") {
            c.env_remove(&k);
        }
    }
    // Set but empty, CARGO_ENCODED_RUSTFLAGS wins over every other source of flags,
    // this workspace's `.cargo/config.toml` included (config arrays would merge).
    c.env("CARGO_ENCODED_RUSTFLAGS", "")
        .env("CARGO_TERM_COLOR", "never");
    c
}

fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).expect("write the user crate");
    }
}

/// The user crate, generated and built once per test binary run.
fn bins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let k = krate();
        std::fs::create_dir_all(k.join("src").join("bin")).expect("create the user crate");
        write_if_changed(
            &k.join("Cargo.toml"),
            &format!(
                "[package]\nname = \"gosan-user\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\ngosan = {{ path = {:?} }}\n\n[workspace]\n",
                root().display().to_string()
            ),
        );
        // The workspace's lock pins the same dependency versions offline.
        if !k.join("Cargo.lock").exists() {
            let _ = std::fs::copy(root().join("Cargo.lock"), k.join("Cargo.lock"));
        }
        write_if_changed(&k.join("src").join("lib.rs"), "\n");
        for (name, text) in [
            ("deadlock", DEADLOCK),
            ("race", RACE),
            ("panic", PANIC),
            ("closed", CLOSED),
            ("result", RESULT),
            ("leak", LEAK),
        ] {
            write_if_changed(&k.join("src").join("bin").join(format!("{name}.rs")), text);
        }
        let target = dir().join("target");
        let out = scrubbed(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(&k)
            .args(["build", "--bins"])
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("run cargo build");
        assert!(out.status.success(), "{}", text(&out));
        target.join("debug")
    })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a bin of the user crate (scrubbed environment plus `env`); its exit code and
/// stderr with the crate's directory removed from paths and the reproduce line (its
/// seed) dropped.
fn run(bin: &str, env: &[(&str, &str)]) -> (i32, String) {
    let mut c = scrubbed(bins().join(bin));
    c.current_dir(krate()).env("GOSAN_OPTIONS", "seed=1");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run the user's binary");
    let prefix = format!("{}/", krate().display());
    let stderr = String::from_utf8_lossy(&out.stderr)
        .replace(&prefix, "")
        .lines()
        .filter(|l| !l.starts_with("gosan: reproduce with"))
        .map(|l| format!("{l}\n"))
        .collect();
    (out.status.code().unwrap_or(-1), stderr)
}

fn line_of(src: &str, marker: &str) -> usize {
    1 + src
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("marker {marker:?}"))
}

#[test]
fn deadlock_dump_names_every_goroutines_functions_and_lines() {
    let (code, err) = run("deadlock", &[]);
    assert_eq!(code, 2, "{err}");
    let main_line = line_of(DEADLOCK, "// blocks: main");
    let worker_line = line_of(DEADLOCK, "// blocks: worker");
    assert_eq!(
        err,
        format!(
            "fatal error: all goroutines are asleep - deadlock!\n\
             \n\
             goroutine 1 [chan receive]:\n\
             blocked forever: no other handle of this channel is alive\n\
             deadlock::wait_for()\n\tsrc/bin/deadlock.rs:{main_line}\n\
             deadlock::main::{{{{closure}}}}()\n\tsrc/bin/deadlock.rs:21\n\
             \n\
             goroutine 2 [chan send]:\n\
             deadlock::worker()\n\tsrc/bin/deadlock.rs:{worker_line}\n\
             deadlock::main::{{{{closure}}}}::{{{{closure}}}}()\n\tsrc/bin/deadlock.rs:15\n\
             created by deadlock::main::{{{{closure}}}}\n\tsrc/bin/deadlock.rs:15\n\
             \n\
             goroutine 3 [sync.Mutex.Lock]:\n\
             blocked forever: wait-for cycle: waits for the lock created at \
             src/bin/deadlock.rs:17, held by goroutine 3\n\
             deadlock::main::{{{{closure}}}}::{{{{closure}}}}()\n\tsrc/bin/deadlock.rs:19\n\
             created by deadlock::main::{{{{closure}}}}\n\tsrc/bin/deadlock.rs:16\n\
             \n"
        )
    );
}

#[test]
fn race_report_on_a_shared_names_the_users_functions() {
    let (code, err) = run("race", &[]);
    assert_eq!(code, 66, "{err}");
    assert!(err.contains("WARNING: DATA RACE"), "{err}");
    // Both sides, whichever ran first: the accessing function, its caller, lines.
    for want in [
        "  race::bump()\n      src/bin/race.rs:5\n  race::main::{{closure}}::{{closure}}()\n      src/bin/race.rs:19\n",
        "  race::peek()\n      src/bin/race.rs:9\n  race::main::{{closure}}()\n      src/bin/race.rs:22\n",
        "Goroutine 2 (running) created at:\n  race::main::{{closure}}()\n      src/bin/race.rs:18\n",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
    assert!(!err.contains("?()"), "{err}");
    assert!(!err.contains("[failed to restore the stack]"), "{err}");
}

#[test]
fn goroutine_panic_shows_only_the_users_frames() {
    let (code, err) = run("panic", &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        "panic: boom 3\n\
         \n\
         goroutine 2 [running]:\n\
         panic::explode()\n\tsrc/bin/panic.rs:4\n\
         panic::worker()\n\tsrc/bin/panic.rs:10\n\
         panic::main::{{closure}}::{{closure}}()\n\tsrc/bin/panic.rs:17\n\
         created by panic::main::{{closure}}\n\tsrc/bin/panic.rs:17\n\
         \n"
    );
    // Everything on request, the machinery included.
    let (code, all) = run("panic", &[("GOSAN_DEBUG", "traceback=all")]);
    assert_eq!(code, 2, "{all}");
    for internal in [
        "backtrace::",
        "std::panicking::",
        "corosensei::",
        "gosan_runtime::",
    ] {
        assert!(all.contains(internal), "no {internal} in\n{all}");
    }
    assert!(
        all.contains("panic::explode()\n\tsrc/bin/panic.rs:4\n"),
        "{all}"
    );
}

#[test]
fn panic_inside_gosan_shows_the_entry_point_the_user_called() {
    let (code, err) = run("closed", &[]);
    assert_eq!(code, 2, "{err}");
    let frames: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("goroutine 1 [running]:"))
        .skip(1)
        .filter(|l| !l.starts_with('\t') && !l.is_empty())
        .collect();
    assert_eq!(
        frames,
        [
            "gosan_runtime::chan::Chan<T>::send()",
            "closed::shut()",
            "closed::main::{{closure}}()",
        ],
        "{err}"
    );
    assert!(err.starts_with("panic: send on closed channel\n"), "{err}");
    assert!(
        err.contains("closed::shut()\n\tsrc/bin/closed.rs:4\n"),
        "{err}"
    );
}

#[test]
fn main_returning_err_prints_it_and_exits_1_like_std() {
    let (code, err) = run("result", &[]);
    assert_eq!((code, err.as_str()), (1, "Error: \"no luck\"\n"));
}

#[test]
fn leak_dump_names_the_users_function_and_line() {
    let (code, err) = run("leak", &[]);
    assert_eq!(code, 66, "{err}");
    let line = line_of(LEAK, "// blocks: leaked");
    assert_eq!(
        err,
        format!(
            "WARNING: GOROUTINE LEAK: 1 goroutine(s) blocked forever after main returned\n\
             \n\
             goroutine 2 [chan receive]:\n\
             blocked forever: no other handle of this channel is alive\n\
             leak::stuck()\n\tsrc/bin/leak.rs:{line}\n\
             leak::main::{{{{closure}}}}::{{{{closure}}}}()\n\tsrc/bin/leak.rs:9\n\
             created by leak::main::{{{{closure}}}}\n\tsrc/bin/leak.rs:9\n\
             \n"
        )
    );
}
