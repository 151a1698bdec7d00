//! Soak test (issue 9): many runs of randomly chosen hostile programs in one process —
//! panics in `Drop`, goroutine panics, spins that only a bound stops, deep context
//! chains, absurd options, deadlocks, orphaned goroutines, pending timers holding
//! memory, races — each run must end with the finding its program implies (no hang,
//! no abort, no lost report), and the process's resident memory must stay flat.
//!
//! Not part of CI's time budget (ignored). Run it with:
//!
//! ```sh
//! cargo test --release --test soak -- --ignored --nocapture     # 100k runs
//! GOSAN_SOAK_ITERS=10000 cargo test --release --test soak -- --ignored --nocapture
//! ```
//!
//! It prints the runs per kind and VmRSS after the warm-up (the first tenth), at the
//! middle and at the end; it fails when a run's report is not the expected one or
//! when RSS grew by more than 10% + 16 MiB between the warm-up and the end.
//!
//! Left out on purpose: a goroutine that recovers teardown's unwind forever (teardown
//! abandons it and its stack by design, so memory grows per such run), programs that
//! end the process (watchdog, a destructor panicking during an unwind): those are
//! child-process tests in `tests/reliability.rs`.

// Race kinds need the detector.
#![cfg(feature = "race")]

use gosan::context::{background, with_cancel};
use gosan::{chan, go, gosched, run_with, Config, Report, Shared, Strategy};
use std::time::Duration;

/// SplitMix64: the program choice and its parameters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A value whose `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("soak: boom in drop");
    }
}

const KINDS: [&str; 11] = [
    "drop panic in an unstarted goroutine",
    "goroutine panic",
    "spin stopped by max_steps",
    "spin on len until a send",
    "deep context chain",
    "absurd options",
    "global deadlock",
    "orphaned goroutine",
    "pending after_func holding memory",
    "race on a Shared",
    "impossible channel capacity",
];

fn strategy(rng: &mut Rng) -> Strategy {
    match rng.below(3) {
        0 => Strategy::Random,
        1 => Strategy::Pct { depth: 3 },
        _ => Strategy::RoundRobin,
    }
}

/// Runs program `kind` once and checks its report; `Err` names what was wrong.
fn one(kind: usize, rng: &mut Rng) -> Result<(), String> {
    let cfg = Config::new().seed(rng.next()).strategy(strategy(rng));
    let expect = |ok: bool, r: &Report| {
        if ok {
            Ok(())
        } else {
            Err(format!("{}: unexpected report:\n{r}", KINDS[kind]))
        }
    };
    match kind {
        0 => {
            let r = run_with(cfg.leak_check(false), || {
                let b = Bomb;
                go(move || {
                    let _b = &b;
                });
            });
            expect(
                r.panic
                    .as_ref()
                    .is_some_and(|p| p.message == "soak: boom in drop"),
                &r,
            )
        }
        1 => {
            let r = run_with(cfg, || {
                let c = chan::<()>(0);
                let c2 = c.clone();
                go(move || {
                    c2.send(());
                    panic!("soak: goroutine panic");
                });
                c.recv();
                c.recv();
            });
            expect(
                r.panic
                    .as_ref()
                    .is_some_and(|p| p.message == "soak: goroutine panic"),
                &r,
            )
        }
        2 => {
            let r = run_with(cfg.max_steps(2_000 + rng.below(20_000)), || {
                go(|| loop {
                    gosched();
                });
                loop {
                    gosched();
                }
            });
            expect(r.livelock.is_some(), &r)
        }
        3 => {
            let n = rng.below(50);
            let r = run_with(cfg.max_steps(10_000_000), move || {
                let c = chan::<u64>(1);
                let c2 = c.clone();
                go(move || {
                    for _ in 0..n {
                        gosched();
                    }
                    c2.send(n);
                });
                while c.is_empty() {}
                assert_eq!(c.recv(), Some(n));
            });
            expect(r.is_clean(), &r)
        }
        4 => {
            let depth = 100 + rng.below(1_900) as usize;
            let cancel_first = rng.below(2) == 0;
            let r = run_with(cfg, move || {
                let (root, cancel) = with_cancel(&background());
                let mut ctx = root.clone();
                let mut cancels = Vec::new();
                for _ in 0..depth {
                    let (c, f) = with_cancel(&ctx);
                    cancels.push(f);
                    ctx = c;
                }
                if cancel_first {
                    cancel.cancel();
                    assert!(ctx.err().is_some());
                }
                drop(cancels);
                drop(ctx);
            });
            expect(r.is_clean(), &r)
        }
        5 => {
            let bad = match rng.below(4) {
                0 => cfg.strategy(Strategy::Pct {
                    depth: 4_000_000_000,
                }),
                1 => cfg.strategy(Strategy::Replay("1*4000000000".into())),
                2 => cfg.max_steps(0),
                _ => cfg.strategy(Strategy::Replay("1.x".into())),
            };
            match bad.resolve() {
                Err(e) if e.key == "strategy" || e.key == "max_steps" => Ok(()),
                Err(e) => Err(format!("absurd options: error names {}: {e}", e.key)),
                Ok(_) => Err("absurd options: accepted".into()),
            }
        }
        6 => {
            let r = run_with(cfg, || {
                let c = chan::<u8>(0);
                let _keep = c.clone();
                c.recv();
            });
            expect(r.deadlock.as_ref().is_some_and(|d| d.global), &r)
        }
        7 => {
            let r = run_with(cfg, || {
                let c = chan::<u8>(0);
                go(move || {
                    c.recv();
                });
            });
            // Found as a partial deadlock while main ran or as a leak after it
            // returned, depending on the schedule.
            expect(
                !r.leaks.is_empty() || r.deadlock.as_ref().is_some_and(|d| !d.global),
                &r,
            )
        }
        8 => {
            let r = run_with(cfg, || {
                let big = vec![7u8; 64 * 1024];
                let _t = gosan::time::after_func(Duration::from_secs(3600), move || {
                    let _ = big.len();
                });
            });
            expect(r.is_clean(), &r)
        }
        9 => {
            let r = run_with(cfg, || {
                let x = Shared::new(0u64);
                let x2 = x.clone();
                let done = chan::<()>(1);
                let d2 = done.clone();
                go(move || {
                    x2.set(1);
                    d2.send(());
                });
                let _ = x.get();
                done.recv();
            });
            expect(r.races.len() == 1, &r)
        }
        _ => {
            let r = run_with(cfg, || {
                let _c = chan::<u64>(usize::MAX);
            });
            expect(
                r.panic
                    .as_ref()
                    .is_some_and(|p| p.message == "makechan: size out of range"),
                &r,
            )
        }
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "soak: run with --ignored (see the module docs)"]
fn hostile_programs_keep_memory_flat_and_every_report() {
    let iters: u64 = std::env::var("GOSAN_SOAK_ITERS")
        .ok()
        .map(|v| v.parse().expect("GOSAN_SOAK_ITERS: a number"))
        .unwrap_or(100_000);
    let mut rng = Rng(0x50a6);
    let mut per_kind = [0u64; KINDS.len()];
    let (mut warm, mut mid) = (0, 0);
    let start = std::time::Instant::now();
    for i in 0..iters {
        let kind = rng.below(KINDS.len() as u64) as usize;
        per_kind[kind] += 1;
        if let Err(e) = one(kind, &mut rng) {
            panic!("run {i}: {e}");
        }
        if i + 1 == iters / 10 {
            warm = rss_kib();
        }
        if i + 1 == iters / 2 {
            mid = rss_kib();
        }
    }
    let end = rss_kib();
    println!(
        "soak: {iters} runs in {:.1} s; VmRSS after warm-up {warm} KiB, middle {mid} KiB, end {end} KiB",
        start.elapsed().as_secs_f64()
    );
    for (k, n) in KINDS.iter().zip(per_kind) {
        println!("soak:   {n:>7}  {k}");
    }
    assert!(
        end <= warm + warm / 10 + 16 * 1024,
        "RSS grew from {warm} KiB after the warm-up to {end} KiB"
    );
}
