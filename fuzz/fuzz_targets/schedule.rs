//! The scheduler under fuzzer-chosen seeds and strategies: a small program using
//! channels, select, a mutex and a WaitGroup must always finish cleanly (it is
//! correct), and the same (seed, strategy) must give the same schedule, which
//! `Strategy::Replay` must reproduce.
#![no_main]

use gosan::sync::{Mutex, WaitGroup};
use gosan::{chan, go, run_with, select, Chan, Config, Strategy};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fn program() {
    let m = Arc::new(Mutex::new(0u32));
    let wg = WaitGroup::new();
    let c: Chan<u32> = chan(1);
    let d: Chan<u32> = chan(0);
    for i in 0..3 {
        let (m, wg, c, d) = (m.clone(), wg.clone(), c.clone(), d.clone());
        wg.add(1);
        go(move || {
            *m.lock() += 1;
            select! {
                send(c, i) => {},
                send(d, i) => {},
            }
            wg.done();
        });
    }
    for _ in 0..3 {
        select! {
            recv(c) -> _v => {},
            recv(d) -> _v => {},
        }
    }
    wg.wait();
    assert_eq!(*m.lock(), 3);
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let seed = u64::from_le_bytes(data[..8].try_into().unwrap());
    let strategy = match data[8] % 3 {
        0 => Strategy::Random,
        1 => Strategy::RoundRobin,
        _ => Strategy::Pct { depth: 1 + (data[8] as u32 / 3) % 4 },
    };
    let cfg = || Config::new().seed(seed).strategy(strategy.clone());
    let a = run_with(cfg(), program);
    assert!(a.is_clean(), "{a}");
    let b = run_with(cfg(), program);
    assert_eq!(a.schedule, b.schedule);
    let r = run_with(Config::new().strategy(Strategy::Replay(a.schedule.clone())), program);
    assert_eq!(r.schedule, a.schedule);
});
