//! Deterministic schedules: same seed → same run, replay from the schedule string,
//! `check` finding interleaving bugs, strategies, options errors.

use gosan::{chan, check, go, gosched, run_with, Chan, Config, Strategy};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A lost update: read, yield, write — wrong in some interleavings only.
fn lost_update() {
    let n = Arc::new(AtomicU64::new(0));
    let done: Chan<()> = chan(0);
    for _ in 0..2 {
        let (n, done) = (n.clone(), done.clone());
        go(move || {
            let v = n.load(Ordering::SeqCst);
            gosched();
            n.store(v + 1, Ordering::SeqCst);
            done.send(());
        });
    }
    done.recv();
    done.recv();
    assert_eq!(n.load(Ordering::SeqCst), 2, "lost update");
}

/// A program whose schedule has many decisions.
fn busy() {
    let c: Chan<u32> = chan(2);
    let out: Chan<u32> = chan(0);
    for i in 0..4 {
        let (c, out) = (c.clone(), out.clone());
        go(move || {
            for k in 0..5 {
                c.send(i * 10 + k);
                gosched();
            }
            out.send(i);
        });
    }
    let mut seen = 0;
    while seen < 4 {
        gosan::select! {
            recv(c) -> _v => {},
            recv(out) -> _v => seen += 1,
        }
    }
    while c.try_recv().is_ok() {}
}

#[test]
fn same_seed_gives_the_same_schedule() {
    for seed in [1u64, 2, 0xdead_beef] {
        for strategy in [
            Strategy::Random,
            Strategy::Pct { depth: 3 },
            Strategy::RoundRobin,
        ] {
            let a = run_with(Config::new().seed(seed).strategy(strategy.clone()), busy);
            let b = run_with(Config::new().seed(seed).strategy(strategy.clone()), busy);
            assert!(a.is_clean(), "{a}");
            assert!(!a.schedule.is_empty());
            assert_eq!(a.schedule, b.schedule, "{strategy:?} seed {seed}");
            assert_eq!(a.seed, seed);
        }
    }
    let a = run_with(Config::new().seed(1), busy);
    let b = run_with(Config::new().seed(2), busy);
    assert_ne!(
        a.schedule, b.schedule,
        "different seeds should explore differently"
    );
}

#[test]
fn replay_reproduces_a_failing_run_exactly() {
    // Unshrunk (`shrink=0`), so the seed reproduces the report too; a shrunk report
    // is reproduced by its token alone (tests/shrink.rs).
    let found = check(Config::new().shrink(false), 500, lost_update);
    let p = found
        .panic
        .as_ref()
        .unwrap_or_else(|| panic!("check must find the lost update: {found}"));
    assert!(p.message.contains("lost update"), "{}", p.message);
    // Replay by schedule string
    let replayed = run_with(
        Config::new().strategy(Strategy::Replay(found.schedule.clone())),
        lost_update,
    );
    assert_eq!(
        replayed.panic.as_ref().map(|p| &p.message),
        Some(&p.message)
    );
    assert_eq!(replayed.schedule, found.schedule);
    // Replay by seed + strategy (as the report's reproduce line says)
    let strategy: Strategy = found.strategy.parse().unwrap();
    let reseeded = run_with(
        Config::new().seed(found.seed).strategy(strategy),
        lost_update,
    );
    assert_eq!(reseeded.schedule, found.schedule);
    assert!(reseeded.panic.is_some());
    let text = found.to_string();
    assert!(text.contains(&format!("seed={:#x}", found.seed)), "{text}");
    assert!(
        text.contains(&format!("strategy=replay:{}", found.schedule)),
        "{text}"
    );
}

#[test]
fn check_returns_a_clean_report_with_the_base_seed() {
    let r = check(Config::new().seed(77), 50, || {
        let c: Chan<i32> = chan(1);
        c.send(1);
        c.recv();
    });
    assert!(r.is_clean(), "{r}");
    assert_eq!(r.seed, 77);
}

#[test]
fn pct_finds_an_ordering_bug() {
    // The bug needs goroutine 2's write to land between main's two reads: one
    // priority change at the right step. (Scheduling points here are channel
    // operations, not yields: a yield would hand over at once under PCT.)
    let r = check(
        Config::new().strategy(Strategy::Pct { depth: 2 }),
        300,
        || {
            let x = Arc::new(AtomicU64::new(0));
            let x2 = x.clone();
            let step: Chan<()> = chan(1);
            go(move || x2.store(1, Ordering::SeqCst));
            step.send(());
            step.recv();
            let a = x.load(Ordering::SeqCst);
            step.send(());
            step.recv();
            let b = x.load(Ordering::SeqCst);
            assert_eq!(a, b, "write landed between the two reads");
        },
    );
    assert!(r.panic.is_some(), "PCT should find it: {r}");
    assert_eq!(r.strategy, "pct:2");
}

#[test]
fn replay_of_a_foreign_schedule_is_a_clear_error() {
    let e = std::panic::catch_unwind(|| {
        run_with(
            Config::new().strategy(Strategy::Replay("999*3".into())),
            busy,
        )
    })
    .unwrap_err();
    let msg = e.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("strategy=replay: the schedule diverged"),
        "{msg}"
    );
    assert!(msg.contains("goroutine 999 is not runnable"), "{msg}");
    let e = std::panic::catch_unwind(|| {
        run_with(Config::new().strategy(Strategy::Replay("1.x".into())), busy)
    })
    .unwrap_err();
    let msg = e.downcast_ref::<String>().unwrap();
    assert!(msg.contains("bad value in `x`"), "{msg}");
}

#[test]
fn parallel_mode_is_refused_clearly_until_it_exists() {
    let e = std::panic::catch_unwind(|| run_with(Config::new().procs(2), || {})).unwrap_err();
    let msg = e.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("`procs`") && msg.contains("not supported yet"),
        "{msg}"
    );
}

#[test]
#[ignore = "run as a child process with GOSAN_OPTIONS set"]
fn options_child() {
    let _ = gosan::run(|| {});
}

fn child(options: &str) -> (bool, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["options_child", "--exact", "--ignored", "--nocapture"])
        .env("GOSAN_OPTIONS", options)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn gosan_options_errors_name_the_option() {
    let (ok, out) = child("seed=12 colour=red");
    assert!(!ok);
    assert!(
        out.contains("GOSAN_OPTIONS: `colour`: unknown option"),
        "{out}"
    );
    let (ok, out) = child("strategy=fastest");
    assert!(!ok);
    assert!(
        out.contains("invalid value `fastest` for `strategy`"),
        "{out}"
    );
    let (ok, out) = child("seed=0x2a strategy=pct:3 leak_check=1 exitcode=3");
    assert!(ok, "{out}");
}

#[test]
fn environment_seed_is_used_and_config_wins_over_it() {
    // Config wins over the environment: explicit seed 5 stays 5 whatever the env says.
    let r = run_with(Config::new().seed(5), || {});
    assert_eq!(r.seed, 5);
}
