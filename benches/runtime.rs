//! Runtime benchmarks (deterministic mode), printed as ns per operation: each with
//! the detector off, and again with it on (`*_race`), plus `shared_race` (a
//! `Shared<u64>` read+write pair under the detector) and `rss_100k_race` (peak RSS in
//! KiB of a run holding 100,000 blocked goroutines, detector on; run last, since peak
//! RSS only grows: for a number that is its own, run it alone, as `compare.sh` does). `benches/compare.sh` runs these and the equivalent Go programs
//! (`benches/go/`, with and without `-race`, at `GOMAXPROCS=1`) side by side and
//! prints the ratios.
//!
//! # History
//!
//! A cost that grows with what the run did before cannot hide here:
//!
//! - every benchmark is measured **fresh** (its work is the first thing the run does)
//!   and as `*_hist`: the same run first does a tenth of the same work (new
//!   goroutines, new channels or locks, everything joined by the main goroutine), then
//!   the measured work;
//! - `spawn_after_N` spawns a batch of [`BATCH`] goroutines that each call
//!   `WaitGroup::done`, and waits for them, after `N` goroutines (N = 0, 10k, 100k,
//!   1M, all alive at once) did the same and the spawner waited for them: the
//!   spawner's vector clock then knows `N` goroutines. Per-spawn cost at N = 1M should
//!   stay within 1.5× of N = 0.
//!
//! Own harness (no criterion): each sample is one gosan run; only the measured work
//! inside the run is timed (not the run's setup, nor the warm-up). The median of
//! `BENCH_SAMPLES` samples (default 5) after one unmeasured run is reported.
//!
//! Usage: `cargo bench --bench runtime [-- NAME…]` (a benchmark runs when its name
//! contains one of the NAMEs). `BENCH_STRATEGY=pct:3` picks another strategy.

use gosan::sync::{Mutex, WaitGroup};
use gosan::{chan, go, run_with, Chan, Config};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const PINGPONG_ROUNDS: u64 = 200_000;
const BUFFERED_MSGS: u64 = 1_000_000;
const SPAWN_N: u64 = 100_000;
const MUTEX_WORKERS: u64 = 4;
const MUTEX_OPS: u64 = 1_000_000; // in all
const SHARED_PAIRS: u64 = 1_000_000;
/// Goroutines spawned (and waited for) by one `spawn_after_N` sample.
const BATCH: u64 = 10_000;

thread_local! {
    static RACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn cfg() -> Config {
    let c = Config::new()
        .seed(1)
        .detect_races(RACE.with(|r| r.get()))
        .leak_check(false);
    match std::env::var("BENCH_STRATEGY") {
        Ok(s) => c.strategy(s.parse().expect("BENCH_STRATEGY")),
        Err(_) => c,
    }
}

/// `n` rounds of an unbuffered ping-pong with a new goroutine.
fn pingpong(n: u64) {
    let ping: Chan<u64> = chan(0);
    let pong: Chan<u64> = chan(0);
    let (p2, q2) = (ping.clone(), pong.clone());
    let done = WaitGroup::new();
    done.add(1);
    let d2 = done.clone();
    go(move || {
        while let Some(v) = p2.recv() {
            q2.send(v + 1);
        }
        d2.done();
    });
    for i in 0..n {
        ping.send(i);
        pong.recv();
    }
    ping.close();
    done.wait();
}

/// `n` messages through a capacity-128 channel to a new goroutine.
fn buffered(n: u64) {
    let c: Chan<u64> = chan(128);
    let done: Chan<u64> = chan(0);
    let (c2, d2) = (c.clone(), done.clone());
    go(move || {
        let mut sum = 0;
        while let Some(v) = c2.recv() {
            sum += v;
        }
        d2.send(sum);
    });
    for i in 0..n {
        c.send(i);
    }
    c.close();
    assert_eq!(done.recv(), Some(n * n.saturating_sub(1) / 2));
}

/// `n` goroutines, each calling `done` on one WaitGroup that the spawner waits on.
fn spawn(n: u64) {
    let wg = WaitGroup::new();
    wg.add(n as i64);
    for _ in 0..n {
        let wg = wg.clone();
        go(move || wg.done());
    }
    wg.wait();
}

/// `n` lock/increment/unlock in all, by four new goroutines on one Mutex.
fn mutex(n: u64) {
    let per = n / MUTEX_WORKERS;
    let m = Arc::new(Mutex::new(0u64));
    let wg = WaitGroup::new();
    wg.add(MUTEX_WORKERS as i64);
    for _ in 0..MUTEX_WORKERS {
        let (m, wg) = (m.clone(), wg.clone());
        go(move || {
            for _ in 0..per {
                *m.lock() += 1;
            }
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(*m.lock(), MUTEX_WORKERS * per);
}

/// `n` read+write pairs of a `Shared<u64>`.
fn shared(n: u64) {
    let x = gosan::Shared::new(0u64);
    for _ in 0..n {
        let v = x.get();
        x.set(v + 1);
    }
    assert_eq!(x.get(), n);
}

/// What a sample does inside its run before the measured work.
#[derive(Clone, Copy)]
enum Before {
    /// Nothing: the measured work starts the run.
    Fresh,
    /// A tenth of the same work.
    Tenth,
    /// `spawn(n)`: `n` goroutines finished, and the spawner synchronized with them.
    Spawned(u64),
}

/// One sample: ns per op of `work(ops)` in a new run, after `before`.
fn sample(work: fn(u64), ops: u64, before: Before) -> f64 {
    let elapsed = Arc::new(AtomicU64::new(0));
    let e = elapsed.clone();
    let r = run_with(cfg(), move || {
        match before {
            Before::Fresh => {}
            Before::Tenth => work(ops / 10),
            Before::Spawned(n) => spawn(n),
        }
        let t = Instant::now();
        work(ops);
        e.store(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    });
    assert!(r.is_clean(), "{r}");
    elapsed.load(Ordering::Relaxed) as f64 / ops as f64
}

fn samples() -> usize {
    std::env::var("BENCH_SAMPLES").map_or(5, |s| s.parse().expect("BENCH_SAMPLES"))
}

/// The median of [`samples`] samples after one unmeasured run (stack pool,
/// allocator, page faults).
fn measure(work: fn(u64), ops: u64, before: Before) -> f64 {
    sample(work, ops, before);
    let mut v: Vec<f64> = (0..samples()).map(|_| sample(work, ops, before)).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Peak RSS (KiB) after a run that holds 100,000 blocked goroutines at once.
fn rss_100k() -> u64 {
    const N: usize = 100_000;
    let r = run_with(cfg(), || {
        let release: Chan<()> = chan(0);
        let wg = WaitGroup::new();
        wg.add(N as i64);
        for _ in 0..N {
            let (release, wg) = (release.clone(), wg.clone());
            go(move || {
                release.recv();
                wg.done();
            });
        }
        release.close();
        wg.wait();
    });
    assert!(r.is_clean(), "{r}");
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|x| name.contains(x.as_str()));
    type Work = (&'static str, fn(u64), u64);
    let works: [Work; 5] = [
        ("pingpong", pingpong, PINGPONG_ROUNDS),
        ("buffered", buffered, BUFFERED_MSGS),
        ("spawn", spawn, SPAWN_N),
        ("mutex", mutex, MUTEX_OPS),
        ("shared", shared, SHARED_PAIRS),
    ];
    let afters: [(&str, u64); 4] = [
        ("0", 0),
        ("10k", 10_000),
        ("100k", 100_000),
        ("1m", 1_000_000),
    ];
    for race in [false, true] {
        RACE.with(|r| r.set(race));
        let suffix = if race { "_race" } else { "" };
        for (name, work, ops) in works {
            // Without the detector a Shared pair measures nothing of interest.
            if name == "shared" && !race {
                continue;
            }
            for (before, hist) in [(Before::Fresh, ""), (Before::Tenth, "_hist")] {
                let full = format!("{name}{suffix}{hist}");
                if wanted(&full) {
                    println!("{full:<24} {:>10.1} ns/op", measure(work, ops, before));
                }
            }
        }
        for (label, n) in afters {
            let full = format!("spawn_after_{label}{suffix}");
            if wanted(&full) {
                let ns = measure(spawn, BATCH, Before::Spawned(n));
                println!("{full:<24} {ns:>10.1} ns/op");
            }
        }
    }
    if wanted("rss_100k_race") {
        RACE.with(|r| r.set(true));
        println!("{:<24} {:>10} KiB", "rss_100k_race", rss_100k());
    }
}
