//! `#[gosan::main]` behaves like a Go process: reports on stderr (or `log_path`),
//! exit 0 when clean, 2 on panic/fatal error/deadlock, `exitcode` (66) on races and
//! leaks; `format=json` prints the report as JSON. Each case runs in a child process
//! (this test binary, re-executed), since `main` exits the process.

// The exit-code cases include races (exit 66): they need the `race` feature (default).
#![cfg(feature = "race")]

use gosan::{chan, go, Chan, Config, Shared};
use std::process::Command;

fn child_main(case: &str) {
    let cfg = Config::new().seed(3);
    match case {
        "clean" => gosan::__private::main(cfg, || {
            let c: Chan<i32> = chan(1);
            c.send(1);
        }),
        "race" => gosan::__private::main(cfg, || {
            let x = Shared::new(0);
            let x2 = x.clone();
            go(move || x2.set(1));
            x.set(2);
            gosan::time::sleep(std::time::Duration::from_millis(1));
        }),
        "deadlock" => gosan::__private::main(cfg, || {
            let c: Chan<i32> = chan(0);
            c.recv();
        }),
        "panic" => gosan::__private::main(cfg, || panic!("boom")),
        "fatal" => gosan::__private::main(cfg, || {
            gosan::sync::RawMutex::new().unlock();
        }),
        "leak" => gosan::__private::main(cfg, || {
            let c: Chan<i32> = chan(0);
            go(move || {
                c.recv();
            });
        }),
        other => panic!("unknown case {other}"),
    }
}

#[test]
#[ignore = "run as a child process by the tests below"]
fn main_child() {
    if let Ok(case) = std::env::var("GOSAN_MAIN_CHILD") {
        child_main(&case);
    }
}

fn run_child(case: &str, options: &str) -> (i32, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["main_child", "--exact", "--ignored", "--nocapture"])
        .env("GOSAN_MAIN_CHILD", case)
        .env("GOSAN_OPTIONS", options)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_codes_follow_go() {
    let (code, err) = run_child("clean", "");
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("gosan: reproduce"),
        "a clean run prints no report: {err}"
    );
    let (code, err) = run_child("race", "");
    assert_eq!(code, 66, "{err}");
    assert!(
        err.contains("WARNING: DATA RACE") && err.contains("Found 1 data race(s)"),
        "{err}"
    );
    let (code, err) = run_child("deadlock", "");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("fatal error: all goroutines are asleep - deadlock!"),
        "{err}"
    );
    let (code, err) = run_child("panic", "");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("panic: boom\n\ngoroutine 1 [running]:"),
        "{err}"
    );
    let (code, err) = run_child("fatal", "");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("fatal error: sync: unlock of unlocked mutex"),
        "{err}"
    );
    // The goroutine holds the channel's only handle: proven blocked forever as soon
    // as it parks — a partial deadlock if main had not returned yet, else a leak.
    // Either is `exitcode`, not Go's crash code.
    let (code, err) = run_child("leak", "");
    assert_eq!(code, 66, "{err}");
    assert!(
        err.contains("GOROUTINE LEAK") || err.contains("WARNING: PARTIAL DEADLOCK"),
        "{err}"
    );
}

#[test]
fn exitcode_option_changes_the_race_exit_code() {
    let (code, _) = run_child("race", "exitcode=3");
    assert_eq!(code, 3);
}

#[test]
fn json_format_and_log_path() {
    let (code, err) = run_child("race", "format=json");
    assert_eq!(code, 66);
    let v: serde_json::Value = serde_json::from_str(err.trim()).expect("stderr is one JSON report");
    assert_eq!(v["races"].as_array().unwrap().len(), 1);
    let dir = std::env::temp_dir().join(format!("gosan-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("report");
    let (code, err) = run_child("deadlock", &format!("log_path={}", prefix.display()));
    assert_eq!(code, 2);
    assert!(
        err.is_empty(),
        "report goes to the log file, not stderr: {err}"
    );
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("report."), "<path>.<pid>: {name}");
    assert!(std::fs::read_to_string(&files[0])
        .unwrap()
        .contains("deadlock!"));
    std::fs::remove_dir_all(&dir).unwrap();
}
