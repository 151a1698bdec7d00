//! Shrinking of failing schedules under `check`: the shrunk token is never longer,
//! replays to the identical report, and the report says what shrinking did.

use gosan::sync::atomic::{AtomicU64, Ordering};
use gosan::{chan, check, go, gosched, run_with, Chan, Config, Report, Strategy};
use std::sync::Arc;

/// A lost update (read, yield, write in two goroutines) next to goroutines doing
/// unrelated channel traffic: the found schedule has many decisions that do not
/// matter for the bug.
fn noisy_lost_update() {
    let n = Arc::new(AtomicU64::new(0));
    let done: Chan<()> = chan(0);
    let noise: Chan<u32> = chan(1);
    for w in 0..3 {
        let noise = noise.clone();
        go(move || {
            for i in 0..6 {
                noise.send(w * 10 + i);
            }
        });
    }
    for _ in 0..2 {
        let (n, done) = (n.clone(), done.clone());
        go(move || {
            let v = n.load(Ordering::SeqCst);
            gosched();
            n.store(v + 1, Ordering::SeqCst);
            done.send(());
        });
    }
    for _ in 0..18 {
        noise.recv();
    }
    done.recv();
    done.recv();
    assert_eq!(n.load(Ordering::SeqCst), 2, "lost update");
}

fn decisions(schedule: &str) -> u64 {
    schedule
        .split('.')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.split_once('*')
                .map_or(1, |(_, n)| n.parse::<u64>().unwrap())
        })
        .sum()
}

/// The findings and the schedule: what "identical report" compares (the seed and
/// strategy of a strict replay name the replay, not the search that found it).
fn findings(r: &Report) -> String {
    serde_json::to_string(&(
        &r.races,
        &r.deadlock,
        &r.leaks,
        &r.panic,
        &r.lock_order,
        &r.livelock,
        &r.schedule,
    ))
    .unwrap()
}

#[test]
fn shrinking_shortens_and_replays_identically() {
    let r = check(Config::new().seed(3), 500, noisy_lost_update);
    let p = r.panic.as_ref().unwrap_or_else(|| panic!("finds it: {r}"));
    assert!(p.message.contains("lost update"));
    let e = r.exploration.as_ref().expect("exploration summary");
    let sh = e.shrunk.expect("the noisy schedule shrinks");
    assert!(sh.after < sh.before, "{sh:?}");
    assert_eq!(decisions(&r.schedule), sh.after);
    let text = r.to_string();
    assert!(
        text.contains(&format!(
            "shrinking removed {} of {} decisions",
            sh.before - sh.after,
            sh.before
        )),
        "{text}"
    );
    assert!(text.contains("explored "), "{text}");
    assert!(
        text.contains(&format!("strategy=replay:{}", r.schedule)),
        "{text}"
    );
    // Replaying the shrunk token reproduces the identical report.
    let again = run_with(
        Config::new()
            .seed(r.seed)
            .strategy(Strategy::Replay(r.schedule.clone())),
        noisy_lost_update,
    );
    assert_eq!(findings(&again), findings(&r));
    // A second replay too (determinism of the replay itself).
    let third = run_with(
        Config::new().strategy(Strategy::Replay(r.schedule.clone())),
        noisy_lost_update,
    );
    assert_eq!(findings(&third), findings(&r));
}

#[test]
fn a_shrunk_token_is_never_longer_than_the_original() {
    let mut shrunk = 0;
    for seed in 0..12u64 {
        let unshrunk = check(
            Config::new().seed(seed).shrink(false),
            300,
            noisy_lost_update,
        );
        let r = check(Config::new().seed(seed), 300, noisy_lost_update);
        assert_eq!(r.is_clean(), unshrunk.is_clean());
        if r.is_clean() {
            continue;
        }
        // Same search, so the same schedule was found before shrinking.
        let before = decisions(&unshrunk.schedule);
        let after = decisions(&r.schedule);
        assert!(after <= before, "seed {seed}: {after} > {before}");
        if let Some(sh) = r.exploration.as_ref().and_then(|e| e.shrunk) {
            assert_eq!(sh.before, before, "seed {seed}");
            assert_eq!(sh.after, after, "seed {seed}");
            assert!(sh.preemptions_after <= sh.preemptions_before);
            shrunk += 1;
        }
    }
    assert!(shrunk > 0, "no seed found a shrinkable schedule");
}

#[test]
fn without_shrinking_the_seed_reproduces_the_report() {
    let r = check(Config::new().seed(5).shrink(false), 500, noisy_lost_update);
    assert!(r.panic.is_some(), "{r}");
    assert!(r.exploration.as_ref().unwrap().shrunk.is_none());
    let strategy: Strategy = r.strategy.parse().unwrap();
    let again = run_with(
        Config::new().seed(r.seed).strategy(strategy),
        noisy_lost_update,
    );
    assert_eq!(again.schedule, r.schedule);
    assert!(r.to_string().contains(&format!("seed={:#x}", r.seed)));
}

#[test]
fn a_token_that_does_not_fit_is_a_clear_error() {
    // Goroutine 9 never exists: strict replay refuses instead of guessing.
    let err = std::panic::catch_unwind(|| {
        run_with(
            Config::new().strategy(Strategy::Replay("9.9.9".into())),
            noisy_lost_update,
        )
    })
    .unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("strategy=replay"), "{msg}");
    assert!(msg.contains("diverged"), "{msg}");
}
