//! A goroutine that overflows its stack: Go's `fatal error: stack overflow` naming the
//! goroutine and its creation site, exit status 2 — never a bare SIGSEGV. The
//! overflowing runs happen in child processes (this test binary, re-executed).

use std::process::Command;

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    let buf = [n; 64];
    std::hint::black_box(&buf);
    recurse(n + 1).wrapping_add(buf[3])
}

fn child_output(test: &str) -> (Option<i32>, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GOSAN_OVERFLOW_CHILD", "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn is_child() -> bool {
    std::env::var_os("GOSAN_OVERFLOW_CHILD").is_some()
}

#[test]
#[ignore = "run as a child process by overflow_is_reported"]
fn overflow_child_guarded() {
    if !is_child() {
        return;
    }
    let _ = gosan::run(|| {
        let c = gosan::chan::<u64>(0);
        let c2 = c.clone();
        gosan::go(move || c2.send(recurse(0))); // creation site: guarded
        c.recv();
    });
}

#[test]
#[ignore = "run as a child process by overflow_is_reported"]
fn overflow_child_slab() {
    if !is_child() {
        return;
    }
    let _ = gosan::run(|| {
        // Exhaust the guard-page budget so the next stacks come from slabs.
        let hold = gosan::chan::<()>(0);
        for _ in 0..30_000 {
            let hold = hold.clone();
            gosan::go(move || {
                hold.recv();
            });
        }
        let c = gosan::chan::<u64>(0);
        let c2 = c.clone();
        gosan::go(move || c2.send(recurse(0))); // creation site: slab
        c.recv();
    });
}

/// One frame bigger than the whole stack, filled with zeros: it jumps over the red
/// zone (which stays zero) into the memory below it. Not a recursion: the overflow
/// is one `memset`, and the function returns before the next switch.
#[inline(never)]
fn zeroed_big_frame() -> u64 {
    let buf = [0u8; 300 * 1024];
    std::hint::black_box(&buf);
    u64::from(buf[7])
}

#[test]
#[ignore = "run as a child process by overflow_is_reported"]
fn overflow_child_slab_zero_fill() {
    if !is_child() {
        return;
    }
    let _ = gosan::run(|| {
        let hold = gosan::chan::<()>(0);
        for _ in 0..30_000 {
            let hold = hold.clone();
            gosan::go(move || {
                hold.recv();
            });
        }
        let c = gosan::chan::<u64>(0);
        let c2 = c.clone();
        gosan::go(move || c2.send(zeroed_big_frame())); // creation site: slab zero fill
        c.recv();
    });
}

#[test]
fn overflow_is_reported_with_goroutine_and_creation_site() {
    let line_of = |marker: &str| {
        1 + include_str!("stack_overflow.rs")
            .lines()
            .position(|l| l.ends_with(marker))
            .unwrap()
    };
    for (test, line) in [
        (
            "overflow_child_guarded",
            line_of("// creation site: guarded"),
        ),
        ("overflow_child_slab", line_of("// creation site: slab")),
        (
            "overflow_child_slab_zero_fill",
            line_of("// creation site: slab zero fill"),
        ),
    ] {
        let (code, err) = child_output(test);
        assert_eq!(code, Some(2), "{test}: {err}");
        assert!(err.contains("fatal error: stack overflow"), "{test}: {err}");
        assert!(err.contains("-byte limit"), "{test}: {err}");
        assert!(err.contains(" [running]:"), "{test}: {err}");
        assert!(
            err.contains(&format!("tests/stack_overflow.rs:{line}")),
            "{test}: {err}"
        );
    }
}
