//! Issue 9: whatever a hostile program does, a run ends with a report, in bounded
//! time and memory, and the process can run the next test. Cases whose failure mode is
//! an abort, a kill or a hang run in a child process (this test binary, re-executed)
//! that is killed after [`CHILD_TIMEOUT`], so a regression fails instead of hanging CI.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "GOSAN_RELIABILITY_CHILD";
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

struct Child {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the ignored test `test` of this binary in a child process; kills it and
/// fails after [`CHILD_TIMEOUT`].
fn child(test: &str, env: &[(&str, &str)]) -> Child {
    child_limited(test, env, None)
}

/// [`child`] with its virtual memory capped at `vmem_kib` (`ulimit -v`), so that a
/// huge allocation fails fast instead of exhausting the machine.
fn child_limited(test: &str, env: &[(&str, &str)], vmem_kib: Option<u64>) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match vmem_kib {
        Some(k) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -v {k} && exec \"$0\" \"$@\""))
                .arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, "1")
    .env_remove("GOSAN_OPTIONS")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut c = cmd.spawn().unwrap();
    let mut out = c.stdout.take().unwrap();
    let mut err = c.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let te = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = c.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > CHILD_TIMEOUT {
            let _ = c.kill();
            let _ = c.wait();
            let stderr = te.join().unwrap();
            panic!("child {test} hung (killed after {CHILD_TIMEOUT:?}); stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Child {
        code: status.code(),
        stdout: to.join().unwrap(),
        stderr: te.join().unwrap(),
    }
}

fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Panics in `Drop` (once dropped for real; `armed` lets a test build one safely).
struct Bomb(&'static str);

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

static SECOND_RUN_OK: AtomicBool = AtomicBool::new(false);

/// After a hostile run the thread must still run gosan: a fresh run works and
/// `goid()` outside a run is 0.
fn second_run_works() {
    assert_eq!(gosan::goid(), 0);
    let r = gosan::run(|| {
        let c = gosan::chan::<i32>(1);
        c.send(1);
        assert_eq!(c.recv(), Some(1));
    });
    assert!(r.is_clean(), "{r}");
    SECOND_RUN_OK.store(true, Ordering::SeqCst); // read by the same thread only
    println!("child: second run clean");
}

// ── 1. no abort, no lost report ────────────────────────────────────────────────

#[test]
#[ignore = "run as a child process"]
fn child_unstarted_goroutine_drop_panics() {
    if !is_child() {
        return;
    }
    // `go` is a scheduling point: under some seeds the goroutine runs (and its
    // capture panics in its own body), under the others main returns first and the
    // goroutine is torn down unstarted. Either way: a report, no abort.
    for seed in 0..16 {
        let cfg = gosan::Config::new().leak_check(false).seed(seed);
        let r = gosan::run_with(cfg, || {
            let b = Bomb("boom in drop of an unstarted goroutine");
            gosan::go(move || {
                let _b = &b;
            });
        });
        println!("child: report:\n{r}");
        assert!(!r.is_clean());
        assert_eq!(
            r.panic.as_ref().unwrap().message,
            "boom in drop of an unstarted goroutine"
        );
    }
    second_run_works();
}

#[test]
fn unstarted_goroutine_whose_capture_panics_in_drop_is_reported() {
    let c = child("child_unstarted_goroutine_drop_panics", &[]);
    assert_eq!(
        c.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    assert!(
        c.stdout.contains("boom in drop of an unstarted goroutine"),
        "{}",
        c.stdout
    );
    assert!(c.stdout.contains("child: second run clean"), "{}", c.stdout);
}

#[test]
#[ignore = "run as a child process"]
fn child_parked_goroutine_drop_panics() {
    if !is_child() {
        return;
    }
    let r = gosan::run_with(gosan::Config::new().leak_check(false), || {
        let c = gosan::chan::<()>(0);
        let c2 = c.clone();
        gosan::go(move || {
            let _b = Bomb("boom in drop of a parked goroutine");
            c2.recv(); // parks forever; its local panics while teardown unwinds it
        });
        gosan::gosched();
        gosan::gosched();
    });
    println!("child: report:\n{r}");
    assert!(!r.is_clean());
    second_run_works();
}

/// Rust aborts when a destructor panics while its goroutine unwinds (here:
/// teardown's unwind of a parked goroutine), and no hook can undo that; gosan
/// reports it as Go reports a panic during panicking and exits 2 — never a bare
/// SIGABRT.
#[test]
fn parked_goroutine_whose_local_panics_in_drop_is_reported() {
    let c = child("child_parked_goroutine_drop_panics", &[]);
    assert_eq!(
        c.code,
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    assert!(
        c.stderr
            .contains("\tpanic: boom in drop of a parked goroutine")
            || c.stderr
                .contains("panic: boom in drop of a parked goroutine"),
        "{}",
        c.stderr
    );
    assert!(
        c.stderr
            .contains("fatal error: gosan: a destructor panicked while goroutine 2 was unwinding"),
        "{}",
        c.stderr
    );
    assert!(c.stderr.contains("goroutine 2 [running]:"), "{}", c.stderr);
}

#[test]
#[ignore = "run as a child process"]
fn child_deadlock_then_parked_drop_panics() {
    if !is_child() {
        return;
    }
    let _ = gosan::run(|| {
        let c = gosan::chan::<()>(0);
        let c2 = c.clone();
        gosan::go(move || {
            let _b = Bomb("boom while teardown unwinds");
            c2.recv();
        });
        c.recv(); // everyone asleep: a global deadlock, then teardown
    });
    println!("child: not reached");
}

/// The same abort after the run found a deadlock: the deadlock report comes first,
/// then the panic during panicking (the report is not lost).
#[test]
fn report_is_printed_before_a_destructor_aborts_teardown() {
    let c = child("child_deadlock_then_parked_drop_panics", &[]);
    assert_eq!(
        c.code,
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    let dl = c
        .stderr
        .find("fatal error: all goroutines are asleep - deadlock!")
        .unwrap_or_else(|| panic!("deadlock report lost:\n{}", c.stderr));
    assert!(
        c.stderr.contains("goroutine 1 [chan receive]:"),
        "{}",
        c.stderr
    );
    let boom = c
        .stderr
        .find("boom while teardown unwinds")
        .unwrap_or_else(|| panic!("{}", c.stderr));
    assert!(dl < boom, "the report comes first:\n{}", c.stderr);
    assert!(!c.stdout.contains("child: not reached"), "{}", c.stdout);
}

/// A panic payload whose own `Drop` panics.
struct BombPayload;

impl Drop for BombPayload {
    fn drop(&mut self) {
        panic!("boom in the drop of a panic payload");
    }
}

#[test]
#[ignore = "run as a child process"]
fn child_panic_payload_drop_panics() {
    if !is_child() {
        return;
    }
    let r = gosan::run(|| {
        std::panic::panic_any(BombPayload);
    });
    println!("child: report:\n{r}");
    assert!(r.panic.is_some(), "{r}");
    second_run_works();
}

#[test]
fn panic_payload_whose_drop_panics_is_reported_and_the_thread_runs_again() {
    let c = child("child_panic_payload_drop_panics", &[]);
    assert_eq!(
        c.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    assert!(c.stdout.contains("child: second run clean"), "{}", c.stdout);
}

#[test]
#[ignore = "run as a child process"]
fn child_recover_loop_in_teardown() {
    if !is_child() {
        return;
    }
    let r = gosan::run_with(gosan::Config::new().leak_check(false), || {
        let c = gosan::chan::<()>(0);
        let c2 = c.clone();
        let started = gosan::chan::<()>(1);
        let s2 = started.clone();
        gosan::go(move || loop {
            // recovers everything, teardown's unwind included
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = s2.try_send(());
                c2.recv()
            }));
        });
        started.recv(); // the goroutine is inside its recovering loop
    });
    println!("child: report:\n{r}");
    second_run_works();
}

#[test]
fn goroutine_that_keeps_recovering_teardown_is_abandoned_with_a_note() {
    let c = child("child_recover_loop_in_teardown", &[]);
    assert_eq!(
        c.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    assert!(c.stdout.contains("gosan: note:"), "{}", c.stdout);
    assert!(c.stdout.contains("abandoned"), "{}", c.stdout);
    assert!(c.stdout.contains("child: second run clean"), "{}", c.stdout);
}

// ── 2. bad input at parse / creation time ───────────────────────────────────────

#[test]
fn huge_pct_depth_is_an_option_error_naming_strategy() {
    let e = gosan_runtime::__private::parse_options("strategy=pct:4000000000", "GOSAN_OPTIONS")
        .unwrap_err();
    assert_eq!(e.key, "strategy", "{e}");
    let e = gosan::Config::new()
        .strategy(gosan::Strategy::Pct {
            depth: 4_000_000_000,
        })
        .resolve()
        .unwrap_err();
    assert_eq!(e.key, "strategy", "{e}");
}

#[test]
fn huge_replay_schedule_is_an_option_error_naming_strategy() {
    let e =
        gosan_runtime::__private::parse_options("strategy=replay:1*4000000000", "GOSAN_OPTIONS")
            .unwrap_err();
    assert_eq!(e.key, "strategy", "{e}");
    assert!(e.to_string().contains("too long"), "{e}");
    let e = gosan::Config::new()
        .strategy(gosan::Strategy::Replay("1*4000000000".into()))
        .resolve()
        .unwrap_err();
    assert_eq!(e.key, "strategy", "{e}");
    let e = gosan_runtime::__private::parse_options("strategy=replay:1.x", "GOSAN_OPTIONS")
        .unwrap_err();
    assert_eq!(e.key, "strategy", "{e}");
}

#[test]
fn impossible_channel_capacity_panics_at_creation_with_gos_message() {
    let r = gosan::run(|| {
        let _c = gosan::chan::<i32>(usize::MAX);
    });
    assert_eq!(
        r.panic.as_ref().unwrap().message,
        "makechan: size out of range"
    );
    let r = gosan::run(|| {
        let _c = gosan::chan::<[u8; 1024]>(1 << 40);
    });
    assert_eq!(
        r.panic.as_ref().unwrap().message,
        "makechan: size out of range"
    );
    let r = gosan::run(|| {
        let _c = gosan::chan::<u8>(1 << 20); // a big but possible buffer is fine
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
#[ignore = "run as a child process"]
fn child_huge_buffered_channel_with_detector() {
    if !is_child() {
        return;
    }
    let r = gosan::run(|| {
        let c = gosan::chan::<u8>(100_000_000);
        let c2 = c.clone();
        gosan::go(move || c2.send(1));
        assert_eq!(c.recv(), Some(1));
    });
    assert!(r.is_clean(), "{r}");
    println!("child: clean");
}

/// Slot clocks are allocated as the ring reaches them: a 10^8-slot channel with the
/// detector on must not allocate 4.8 GB (the child's address space is capped).
#[test]
fn huge_buffered_channel_allocates_slot_clocks_on_demand() {
    let c = child_limited(
        "child_huge_buffered_channel_with_detector",
        &[],
        Some(3 * 1024 * 1024),
    );
    assert_eq!(
        c.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    assert!(c.stdout.contains("child: clean"), "{}", c.stdout);
}

// ── 3. a run always ends ────────────────────────────────────────────────────────

/// Cut short if a regression makes the spin endless: a livelock report, not a hang.
fn bounded() -> gosan::Config {
    gosan::Config::new().max_steps(5_000_000)
}

#[test]
#[allow(clippy::len_zero)] // the hostile program spins on `len`, as written in Go
fn spin_on_len_makes_progress_under_every_strategy() {
    for strategy in [
        gosan::Strategy::Random,
        gosan::Strategy::Pct { depth: 3 },
        gosan::Strategy::RoundRobin,
    ] {
        for seed in 0..4 {
            let cfg = bounded().strategy(strategy.clone()).seed(seed);
            let r = gosan::run_with(cfg, || {
                let c = gosan::chan::<i32>(1);
                let c2 = c.clone();
                gosan::go(move || c2.send(7));
                while c.len() == 0 {}
                assert_eq!(c.recv(), Some(7));
            });
            assert!(r.is_clean(), "{strategy:?} seed {seed}:\n{r}");
        }
    }
}

#[test]
fn len_and_cap_are_not_race_accesses() {
    let r = gosan::run(|| {
        let c = gosan::chan::<i32>(4);
        let c2 = c.clone();
        let done = gosan::chan::<()>(0);
        let d2 = done.clone();
        gosan::go(move || {
            let _ = c2.len() + c2.cap();
            d2.send(());
        });
        c.close();
        done.recv();
    });
    assert!(r.races.is_empty(), "{r}");
}

#[inline(never)]
fn spin_forever_with_gosched() {
    loop {
        gosan::gosched();
    }
}

#[test]
fn step_bound_ends_the_run_with_a_livelock_naming_the_spinners() {
    let r = gosan::run_with(gosan::Config::new().max_steps(100_000), || {
        gosan::go(spin_forever_with_gosched);
        spin_forever_with_gosched();
    });
    let l = r.livelock.as_ref().expect("a livelock finding");
    assert!(!r.is_clean());
    assert!(l.reason.contains("max_steps=100000"), "{}", l.reason);
    assert!(l.steps >= 100_000);
    let ids: Vec<u64> = l.goroutines.iter().map(|g| g.id).collect();
    assert!(ids.contains(&1) && ids.contains(&2), "{ids:?}");
    assert!(l
        .goroutines
        .iter()
        .all(|g| g.wait_reason == "running" || g.wait_reason == "runnable"));
    assert!(
        l.goroutines.iter().any(|g| g
            .stack
            .iter()
            .any(|f| f.function.contains("spin_forever_with_gosched"))),
        "{r}"
    );
    let text = r.to_string();
    assert!(
        text.contains("fatal error: gosan: livelock: the run reached max_steps=100000"),
        "{text}"
    );
    assert!(text.contains("goroutine 1 ["), "{text}");
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert!(json["livelock"]["reason"]
        .as_str()
        .unwrap()
        .contains("max_steps"));
}

#[test]
fn ticker_next_to_a_receive_nobody_sends_to_ends_at_the_time_bound() {
    let cfg = gosan::Config::new().max_time(Duration::from_secs(60));
    let r = gosan::run_with(cfg, || {
        let t = gosan::time::Ticker::new(Duration::from_millis(1));
        gosan::go(move || for _ in &t.c {});
        let c = gosan::chan::<()>(0);
        c.recv();
    });
    let l = r.livelock.as_ref().expect("a livelock finding");
    assert!(l.reason.contains("max_time=60s"), "{}", l.reason);
    assert!(l.virtual_nanos > 60_000_000_000);
    assert!(
        l.goroutines
            .iter()
            .any(|g| g.id == 1 && g.wait_reason == "chan receive"),
        "{r}"
    );
}

#[test]
fn run_bound_options_are_validated() {
    use gosan_runtime::__private::parse_options;
    for bad in [
        "max_steps=0",
        "max_steps=x",
        "max_time=0",
        "max_time=999999999999",
    ] {
        let e = parse_options(bad, "GOSAN_OPTIONS").unwrap_err();
        assert_eq!(Some(e.key.as_str()), bad.split('=').next(), "{e}");
    }
    assert!(parse_options("max_steps=1000 max_time=5", "GOSAN_OPTIONS").is_ok());
    let e = gosan::Config::new().max_steps(0).resolve().unwrap_err();
    assert_eq!(e.key, "max_steps");
    let e = gosan::Config::new()
        .max_time(Duration::from_millis(1))
        .resolve()
        .unwrap_err();
    assert_eq!(e.key, "max_time");
}

#[test]
fn the_after_main_phase_is_not_a_livelock() {
    let r = gosan::run_with(gosan::Config::new().max_steps(50_000), || {
        gosan::go(spin_forever_with_gosched);
    });
    assert!(r.livelock.is_none(), "{r}");
}

// ── 5. reports at the right time ────────────────────────────────────────────────

#[inline(never)]
fn panics_in_a_goroutine() {
    panic!("goroutine panic after a user hook");
}

#[test]
#[ignore = "run as a child process"]
fn child_user_hook_installed_after_first_run() {
    if !is_child() {
        return;
    }
    let r = gosan::run(|| {});
    assert!(r.is_clean());
    std::panic::set_hook(Box::new(|_| println!("child: user hook called")));
    let r = gosan::run(panics_in_a_goroutine);
    let p = r.panic.as_ref().expect("panic finding");
    assert!(
        p.goroutine
            .stack
            .iter()
            .any(|f| f.function.contains("panics_in_a_goroutine")),
        "stackless report:\n{r}"
    );
    // Outside goroutines the user's hook still runs (gosan's chains to it).
    let _ = std::panic::catch_unwind(|| panic!("outside"));
    println!("child: stack kept");
}

#[test]
fn gosans_panic_hook_chains_with_a_user_hook_installed_later() {
    let c = child("child_user_hook_installed_after_first_run", &[]);
    assert_eq!(
        c.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    assert!(c.stdout.contains("child: stack kept"), "{}", c.stdout);
    assert!(c.stdout.contains("child: user hook called"), "{}", c.stdout);
}

// ── 6. deep contexts ────────────────────────────────────────────────────────────

const CONTEXT_DEPTH: usize = 5_000;

#[test]
#[ignore = "run as a child process"]
fn child_deep_context_chain() {
    if !is_child() {
        return;
    }
    use gosan::context::{background, with_cancel};
    // Cancelling the root of a deep chain, then dropping it.
    let r = gosan::run(|| {
        let (root, cancel) = with_cancel(&background());
        let mut ctx = root.clone();
        let mut cancels = Vec::new();
        for _ in 0..CONTEXT_DEPTH {
            let (c, f) = with_cancel(&ctx);
            cancels.push(f);
            ctx = c;
        }
        cancel.cancel();
        assert!(ctx.err().is_some());
        drop(ctx);
        drop(cancels);
    });
    assert!(r.is_clean(), "{r}");
    // Dropping a deep chain nobody cancelled (the leaf holds every ancestor).
    let r = gosan::run(|| {
        let mut ctx = background();
        let mut cancels = Vec::new();
        for _ in 0..CONTEXT_DEPTH {
            let (c, f) = with_cancel(&ctx);
            cancels.push(f);
            ctx = c;
        }
        drop(cancels);
        drop(ctx);
    });
    assert!(r.is_clean(), "{r}");
    println!("child: deep contexts ok");
}

#[test]
fn cancelling_and_dropping_deep_context_chains_does_not_overflow() {
    let c = child("child_deep_context_chain", &[]);
    assert_eq!(
        c.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    assert!(c.stdout.contains("child: deep contexts ok"), "{}", c.stdout);
}

// ── 4. blocking calls ───────────────────────────────────────────────────────────

#[test]
#[ignore = "run as a child process"]
fn child_blocking_std_channel_recv() {
    if !is_child() {
        return;
    }
    for seed in 0..8 {
        let r = gosan::run_with(gosan::Config::new().seed(seed), || {
            let (tx, rx) = std::sync::mpsc::channel::<i32>();
            let c = gosan::chan::<i32>(1);
            let c2 = c.clone();
            gosan::go(move || {
                // runs while main is in `blocking`, then feeds it
                c2.send(1);
                tx.send(41).unwrap();
            });
            let got = gosan::blocking(move || rx.recv().unwrap());
            assert_eq!(got, 41);
            // `c`'s sender ran while main was blocked; its value is still there.
            assert_eq!(c.recv(), Some(1));
        });
        assert!(r.is_clean(), "seed {seed}:\n{r}");
    }
    // A panic in `f` resumes in the goroutine.
    let r = gosan::run(|| {
        let local = String::from("borrowed");
        let n: usize = gosan::blocking(|| local.len());
        assert_eq!(n, 8);
        gosan::blocking(|| panic!("panic inside blocking"));
    });
    assert_eq!(r.panic.as_ref().unwrap().message, "panic inside blocking");
    println!("child: blocking ok");
}

#[test]
fn blocking_runs_on_a_helper_thread_while_the_others_run() {
    let c = child("child_blocking_std_channel_recv", &[]);
    assert_eq!(
        c.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    assert!(c.stdout.contains("child: blocking ok"), "{}", c.stdout);
}

// ── 4. the watchdog ─────────────────────────────────────────────────────────────

#[inline(never)]
fn spin_on_std_atomic(flag: &std::sync::atomic::AtomicBool) {
    while !flag.load(Ordering::Relaxed) {
        std::hint::spin_loop();
    }
}

#[test]
#[ignore = "run as a child process"]
fn child_std_atomic_spin() {
    if !is_child() {
        return;
    }
    let cfg = gosan::Config::new().watchdog(Duration::from_secs(1));
    let _ = gosan::run_with(cfg, || {
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        // No gosan operation: never yields. Nobody sets the flag; once main
        // returned the after-main phase runs it too.
        gosan::go(move || spin_on_std_atomic(&f2));
        let _keep = flag;
    });
    println!("child: the run returned");
}

#[test]
fn watchdog_ends_a_goroutine_that_reaches_no_scheduling_point() {
    let c = child("child_std_atomic_spin", &[]);
    assert_eq!(
        c.code,
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    assert!(
        c.stderr
            .contains("fatal error: gosan: watchdog: goroutine 2 reached no scheduling point"),
        "{}",
        c.stderr
    );
    assert!(c.stderr.contains("goroutine 2 [running]:"), "{}", c.stderr);
    // The frame-pointer walk starts at the interrupted frame; interrupted inside a
    // callee's prologue it starts one frame up, so only the caller is certain.
    assert!(c.stderr.contains("child_std_atomic_spin"), "{}", c.stderr);
    assert!(c.stderr.contains("created by gosan::go at"), "{}", c.stderr);
}

#[test]
fn watchdog_option_is_validated_and_zero_is_off() {
    use gosan_runtime::__private::parse_options;
    assert!(parse_options("watchdog=0", "GOSAN_OPTIONS").is_ok());
    assert!(parse_options("watchdog=30", "GOSAN_OPTIONS").is_ok());
    let e = parse_options("watchdog=x", "GOSAN_OPTIONS").unwrap_err();
    assert_eq!(e.key, "watchdog");
    let e = parse_options("watchdog=99999999", "GOSAN_OPTIONS").unwrap_err();
    assert_eq!(e.key, "watchdog");
}

#[test]
fn a_long_blocking_call_is_not_stuck() {
    let cfg = gosan::Config::new().watchdog(Duration::from_secs(1));
    let r = gosan::run_with(cfg, || {
        gosan::blocking(|| std::thread::sleep(Duration::from_millis(2500)));
    });
    assert!(r.is_clean(), "{r}");
}

#[inline(never)]
fn lock_std_mutex(m: &std::sync::Mutex<i32>) -> i32 {
    *m.lock().unwrap()
}

#[test]
#[ignore = "run as a child process"]
fn child_std_mutex_across_send() {
    if !is_child() {
        return;
    }
    let cfg = gosan::Config::new().watchdog(Duration::from_secs(1));
    let _ = gosan::run_with(cfg, || {
        let m = std::sync::Arc::new(std::sync::Mutex::new(0));
        let c = gosan::chan::<i32>(0);
        let (m2, c2) = (m.clone(), c.clone());
        gosan::go(move || {
            let g = m2.lock().unwrap();
            c2.send(*g); // parks holding the std lock
        });
        gosan::go(move || {
            let _ = lock_std_mutex(&m); // blocks the one OS thread for good
        });
        gosan::gosched();
        c.recv();
    });
    println!("child: the run returned");
}

#[test]
fn watchdog_ends_a_run_blocked_in_a_std_mutex() {
    let c = child("child_std_mutex_across_send", &[]);
    if c.stdout.contains("child: the run returned") {
        return; // the second goroutine ran before the first locked (seed-dependent)
    }
    assert_eq!(
        c.code,
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    assert!(
        c.stderr.contains("fatal error: gosan: watchdog:"),
        "{}",
        c.stderr
    );
    assert!(
        c.stderr.contains("child_std_mutex_across_send"),
        "{}",
        c.stderr
    );
}

// ── 5. nothing of an ended run stays allocated ─────────────────────────────────

static AFTER_FUNC_DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct CountDrop;

impl Drop for CountDrop {
    fn drop(&mut self) {
        AFTER_FUNC_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn pending_after_func_closures_are_dropped_when_the_run_ends_early() {
    for i in 1..=3 {
        let r = gosan::run_with(gosan::Config::new().leak_check(false), || {
            let guard = CountDrop;
            let _t = gosan::time::after_func(Duration::from_secs(3600), move || {
                let _g = &guard;
            });
            // main returns: the run ends with the timer pending
        });
        assert!(r.is_clean(), "{r}");
        assert_eq!(AFTER_FUNC_DROPS.load(Ordering::SeqCst), i);
    }
}

// ── 5. misuse across runs ───────────────────────────────────────────────────────

const ANOTHER_RUN: &str = "this operation would wake a goroutine of another gosan run";

/// Run A (another thread) parks a goroutine on `c`; run B's goroutine 2 sends on it.
fn send_into_another_run(detect_races: bool) -> gosan::Report {
    let c = gosan::chan::<i32>(0);
    let (parked_tx, parked_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let ca = c.clone();
    let a = std::thread::spawn(move || {
        let cfg = gosan::Config::new()
            .leak_check(false)
            .strategy(gosan::Strategy::RoundRobin);
        gosan::run_with(cfg, move || {
            let c2 = ca.clone();
            let started = gosan::chan::<()>(1);
            let s2 = started.clone();
            gosan::go(move || {
                s2.send(());
                c2.recv();
            });
            started.recv();
            for _ in 0..8 {
                gosan::gosched(); // round-robin: it reaches its receive and parks
            }
            parked_tx.send(()).unwrap();
            gosan::blocking(move || done_rx.recv().unwrap());
        })
    });
    parked_rx.recv().unwrap();
    let cfg = gosan::Config::new().detect_races(detect_races);
    let r = gosan::run_with(cfg, move || {
        let done = gosan::chan::<()>(0);
        let d2 = done.clone();
        gosan::go(move || {
            c.send(1);
            d2.send(());
        });
        done.recv();
    });
    done_tx.send(()).unwrap();
    let _ = a.join();
    r
}

#[test]
#[cfg(feature = "race")] // needs the race detector
fn a_channel_shared_between_two_runs_is_the_documented_error_in_every_mode() {
    for detect in [true, false] {
        let r = send_into_another_run(detect);
        let p = r.panic.as_ref().expect("misuse panic");
        assert!(
            p.message.contains(ANOTHER_RUN),
            "detect_races={detect}:\n{r}"
        );
    }
}

// ── 5. check's reproduce line reproduces under check ────────────────────────────

fn order_dependent() {
    let x = gosan::Shared::new(0i64);
    let c = gosan::chan::<()>(0);
    let (x2, c2) = (x.clone(), c.clone());
    gosan::go(move || {
        x2.set(1);
        c2.send(());
    });
    if x.get() == 1 {
        panic!("saw the write early");
    }
    c.recv();
}

#[test]
fn checks_reproduce_line_reproduces_the_failing_iteration_under_check() {
    let found = gosan::check(gosan::Config::new(), 200, order_dependent);
    assert!(!found.is_clean(), "no schedule found the finding");
    let line = found.reproduce_line();
    // What `GOSAN_OPTIONS="seed=… strategy=…"` gives `#[gosan::test(iterations)]`.
    let opts = line.split('"').nth(1).expect("quoted GOSAN_OPTIONS");
    let cfg = gosan_runtime::__private::parse_options(opts, "GOSAN_OPTIONS").unwrap();
    let again = gosan::check(cfg, 200, order_dependent);
    assert_eq!(again.schedule, found.schedule, "{line}");
    assert_eq!(again.seed, found.seed);
    assert_eq!(
        again.panic.as_ref().map(|p| &p.message),
        found.panic.as_ref().map(|p| &p.message)
    );
}

// ── 5. races are printed when found ─────────────────────────────────────────────

#[test]
#[ignore = "run as a child process"]
fn child_main_race_then_server_loop() {
    if !is_child() {
        return;
    }
    let cfg = gosan::Config::new().watchdog(Duration::from_secs(1));
    gosan_runtime::__private::main(cfg, || {
        let x = gosan::Shared::new(0i64);
        let x2 = x.clone();
        gosan::go(move || x2.set(1));
        gosan::time::sleep(Duration::from_millis(1)); // no edge: a race
        x.set(2);
        let flag = AtomicBool::new(false);
        spin_on_std_atomic(&flag); // a "server loop" that never ends
    });
}

#[test]
#[cfg(feature = "race")] // needs the race detector
fn gosan_main_prints_a_race_when_it_is_found() {
    let c = child("child_main_race_then_server_loop", &[]);
    assert_eq!(
        c.code,
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
    let race = c.stderr.find("WARNING: DATA RACE").expect(&c.stderr);
    let watchdog = c
        .stderr
        .find("fatal error: gosan: watchdog")
        .expect(&c.stderr);
    assert!(race < watchdog, "{}", c.stderr);
}
