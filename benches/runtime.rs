//! Runtime benchmarks (deterministic mode), printed as ns per operation: each with
//! the detector off, and again with it on (`*_race`), plus `shared_race` (a
//! `Shared<u64>` read+write pair under the detector) and `rss_100k_race` (peak RSS in
//! KiB of a run holding 100,000 blocked goroutines, detector on; run last, since peak
//! RSS only grows). `benches/compare.sh` runs these and the equivalent Go programs
//! (`benches/go/`, with and without `-race`) side by side and prints the ratios.
//!
//! Own harness (no criterion): each benchmark is one gosan run of a fixed amount of
//! work; the median of several runs after a warm-up is reported.
//!
//! Usage: `cargo bench --bench runtime [-- NAME…]`

use gosan::sync::{Mutex, WaitGroup};
use gosan::{chan, go, run_with, Chan, Config};
use std::sync::Arc;
use std::time::Instant;

const PINGPONG_ROUNDS: u64 = 200_000;
const BUFFERED_MSGS: u64 = 1_000_000;
const SPAWN_N: u64 = 100_000;
const MUTEX_WORKERS: u64 = 4;
const MUTEX_OPS: u64 = 250_000; // per worker

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

fn pingpong() -> u64 {
    let r = run_with(cfg(), || {
        let ping: Chan<u64> = chan(0);
        let pong: Chan<u64> = chan(0);
        let (p2, q2) = (ping.clone(), pong.clone());
        go(move || {
            while let Some(v) = p2.recv() {
                q2.send(v + 1);
            }
        });
        for i in 0..PINGPONG_ROUNDS {
            ping.send(i);
            pong.recv();
        }
        ping.close();
    });
    assert!(r.is_clean(), "{r}");
    PINGPONG_ROUNDS
}

fn buffered() -> u64 {
    let r = run_with(cfg(), || {
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
        for i in 0..BUFFERED_MSGS {
            c.send(i);
        }
        c.close();
        assert_eq!(done.recv(), Some(BUFFERED_MSGS * (BUFFERED_MSGS - 1) / 2));
    });
    assert!(r.is_clean(), "{r}");
    BUFFERED_MSGS
}

fn spawn() -> u64 {
    let r = run_with(cfg(), || {
        let wg = WaitGroup::new();
        wg.add(SPAWN_N as i64);
        for _ in 0..SPAWN_N {
            let wg = wg.clone();
            go(move || wg.done());
        }
        wg.wait();
    });
    assert!(r.is_clean(), "{r}");
    SPAWN_N
}

fn mutex() -> u64 {
    let r = run_with(cfg(), || {
        let m = Arc::new(Mutex::new(0u64));
        let wg = WaitGroup::new();
        wg.add(MUTEX_WORKERS as i64);
        for _ in 0..MUTEX_WORKERS {
            let (m, wg) = (m.clone(), wg.clone());
            go(move || {
                for _ in 0..MUTEX_OPS {
                    *m.lock() += 1;
                }
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(*m.lock(), MUTEX_WORKERS * MUTEX_OPS);
    });
    assert!(r.is_clean(), "{r}");
    MUTEX_WORKERS * MUTEX_OPS
}

const SHARED_PAIRS: u64 = 1_000_000;

fn shared() -> u64 {
    let r = run_with(cfg(), || {
        let x = gosan::Shared::new(0u64);
        for _ in 0..SHARED_PAIRS {
            let v = x.get();
            x.set(v + 1);
        }
        assert_eq!(x.get(), SHARED_PAIRS);
    });
    assert!(r.is_clean(), "{r}");
    SHARED_PAIRS
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

fn measure(f: fn() -> u64) -> f64 {
    f(); // warm-up: stack pool, symbol-free paths, allocator
    let mut samples: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let ops = f();
            t.elapsed().as_nanos() as f64 / ops as f64
        })
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

fn main() {
    type Bench = (&'static str, fn() -> u64, bool);
    let benches: [Bench; 9] = [
        ("pingpong", pingpong, false),
        ("buffered", buffered, false),
        ("spawn", spawn, false),
        ("mutex", mutex, false),
        ("pingpong_race", pingpong, true),
        ("buffered_race", buffered, true),
        ("spawn_race", spawn, true),
        ("mutex_race", mutex, true),
        ("shared_race", shared, true),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|x| name.contains(x.as_str()));
    for (name, f, race) in benches {
        if wanted(name) {
            RACE.with(|r| r.set(race));
            println!("{name:<14} {:>10.1} ns/op", measure(f));
        }
    }
    if wanted("rss_100k_race") {
        RACE.with(|r| r.set(true));
        println!("{:<14} {:>10} KiB", "rss_100k_race", rss_100k());
    }
}
