//! Runtime benchmarks (deterministic mode, detector off), printed as ns per
//! operation. `benches/compare.sh` runs these and the equivalent Go programs
//! (`benches/go/`) side by side and prints the ratio per benchmark.
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

fn cfg() -> Config {
    let c = Config::new().seed(1).detect_races(false).leak_check(false);
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
    type Bench = (&'static str, fn() -> u64);
    let benches: [Bench; 4] = [
        ("pingpong", pingpong),
        ("buffered", buffered),
        ("spawn", spawn),
        ("mutex", mutex),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for (name, f) in benches {
        if filter.is_empty() || filter.iter().any(|x| name.contains(x.as_str())) {
            println!("{name:<10} {:>10.1} ns/op", measure(f));
        }
    }
}
