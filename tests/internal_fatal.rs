//! A broken runtime invariant is gosan's bug, not the user's: `fatal error: gosan:
//! <function>: <what>`, `please report this bug`, exit status 2 — never a `panic:`
//! blaming the user's goroutine. Triggered through the runtime's `#[doc(hidden)]`
//! test hook in a child process (this test binary, re-executed).

use std::process::Command;

fn child_output(test: &str) -> (Option<i32>, String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GOSAN_INTERNAL_FATAL_CHILD", "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn is_child() -> bool {
    std::env::var_os("GOSAN_INTERNAL_FATAL_CHILD").is_some()
}

#[test]
#[ignore = "run as a child process by a broken_invariant test"]
fn broken_invariant_child_in_goroutine() {
    if !is_child() {
        return;
    }
    let _ = gosan::run(|| {
        let c = gosan::chan::<()>(0);
        let c2 = c.clone();
        gosan::go(move || {
            if std::hint::black_box(true) {
                gosan_runtime::__private::break_invariant_for_test();
            }
            c2.send(());
        });
        c.recv();
    });
    println!("child: the run returned");
}

#[test]
#[ignore = "run as a child process by a broken_invariant test"]
fn broken_invariant_child_outside_run() {
    if !is_child() {
        return;
    }
    gosan_runtime::__private::break_invariant_for_test();
}

fn check(test: &str) {
    let (code, stdout, stderr) = child_output(test);
    assert_eq!(code, Some(2), "exit status 2 expected; stderr:\n{stderr}");
    assert!(
        stderr.contains(
            "fatal error: gosan: __private::break_invariant_for_test: a runtime invariant was broken on purpose by a test\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("please report this bug"), "{stderr}");
    assert!(
        !stderr.contains("panic"),
        "must not blame the user: {stderr}"
    );
    assert!(
        !stdout.contains("the run returned"),
        "exits at once: {stdout}"
    );
}

#[test]
fn broken_invariant_in_a_goroutine_is_gosans_fatal_error_exit_2() {
    check("broken_invariant_child_in_goroutine");
}

#[test]
fn broken_invariant_outside_a_run_is_gosans_fatal_error_exit_2() {
    check("broken_invariant_child_outside_run");
}
