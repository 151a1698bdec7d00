//! `gosan::fuzz`: fuzzer bytes as scheduling decisions.

use gosan::sync::atomic::{AtomicU64, Ordering};
use gosan::{chan, go, gosched, run_with, Chan, Config, Strategy};
use std::sync::Arc;

/// A lost update: wrong in some interleavings only.
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

/// The same with the read-modify-write made atomic: clean under every input.
fn fixed_update() {
    let n = Arc::new(AtomicU64::new(0));
    let done: Chan<()> = chan(0);
    for _ in 0..2 {
        let (n, done) = (n.clone(), done.clone());
        go(move || {
            n.fetch_add(1, Ordering::SeqCst);
            gosched();
            done.send(());
        });
    }
    done.recv();
    done.recv();
    assert_eq!(n.load(Ordering::SeqCst), 2, "lost update");
}

fn inputs() -> impl Iterator<Item = Vec<u8>> {
    (0u32..4096).map(|i| {
        // 12 bits: 6 decisions of 2 bits each, the rest default.
        (0..6).map(|k| ((i >> (2 * k)) & 3) as u8).collect()
    })
}

#[test]
fn same_bytes_same_schedule_and_empty_is_the_default() {
    let a = gosan::fuzz::report(Config::new(), &[1, 2, 0, 3, 1], lost_update);
    let b = gosan::fuzz::report(Config::new(), &[1, 2, 0, 3, 1], lost_update);
    assert_eq!(a.schedule, b.schedule);
    assert_eq!(a.is_clean(), b.is_clean());
    // Zero bytes and no bytes are the same (default) schedule.
    let z = gosan::fuzz::report(Config::new(), &[0; 64], lost_update);
    let e = gosan::fuzz::report(Config::new(), &[], lost_update);
    assert_eq!(z.schedule, e.schedule);
    // Different bytes drive different schedules.
    let schedules: std::collections::HashSet<String> = inputs()
        .take(64)
        .map(|d| gosan::fuzz::report(Config::new(), &d, lost_update).schedule)
        .collect();
    assert!(schedules.len() > 4, "{schedules:?}");
}

#[test]
fn some_bytes_find_the_bug_and_the_panic_carries_a_replay_token() {
    let bad = inputs()
        .find(|d| !gosan::fuzz::report(Config::new(), d, lost_update).is_clean())
        .expect("some schedule from 12 bits of input loses the update");
    let err = std::panic::catch_unwind(|| gosan::fuzz::run(&bad, lost_update)).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("lost update"), "{msg}");
    let token = msg
        .split("strategy=replay:")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("no replay token in {msg}"))
        .to_string();
    let replayed = run_with(Config::new().strategy(Strategy::Replay(token)), lost_update);
    assert!(
        replayed
            .panic
            .as_ref()
            .is_some_and(|p| p.message.contains("lost update")),
        "{replayed}"
    );
}

#[test]
fn the_fixed_twin_is_clean_under_every_input() {
    for d in inputs().step_by(7) {
        gosan::fuzz::run(&d, fixed_update); // panics on any finding
    }
}

/// The README's "Fuzzing your concurrency harness" example, as written there.
fn transfer_harness() {
    use gosan::sync::{Mutex, WaitGroup};
    let balance = Arc::new(Mutex::new(100i64));
    let wg = WaitGroup::new();
    for amount in [60, 70] {
        let (balance, wg) = (balance.clone(), wg.clone());
        wg.add(1);
        gosan::go(move || {
            let ok = *balance.lock() >= amount; // check ...
            gosan::gosched();
            if ok {
                *balance.lock() -= amount; // ... then act: not atomic
            }
            wg.done();
        });
    }
    wg.wait();
    assert!(*balance.lock() >= 0, "overdrawn");
}

#[test]
fn the_readme_example_is_found_by_some_input_and_not_by_every_input() {
    // Some schedules are fine (one goroutine checks and withdraws before the other
    // checks), others overdraw.
    let clean = inputs()
        .filter(|d| gosan::fuzz::report(Config::new(), d, transfer_harness).is_clean())
        .count();
    assert!(clean > 0 && clean < 4096, "{clean} clean inputs");
    let bad = inputs()
        .find(|d| !gosan::fuzz::report(Config::new(), d, transfer_harness).is_clean())
        .expect("some 12-bit input overdraws");
    let err = std::panic::catch_unwind(|| gosan::fuzz::run(&bad, transfer_harness)).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("overdrawn"), "{msg}");
}
