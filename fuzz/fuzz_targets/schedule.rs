//! Fuzzer bytes drive the scheduler through `gosan::fuzz` (each decision takes a
//! byte): small concurrent programs with a known bug, each next to its fixed twin.
//! The first byte picks the program; the rest is the schedule. A bug twin may be
//! clean (the schedule missed the bug) or show exactly its bug's kind; a fixed twin
//! must be clean; anything else — another finding, a gosan crash, a schedule that
//! does not replay — is a crash. Every run's replay token must reproduce it.
//! (`gosan::fuzz::run` itself, which panics on a finding, is what a user's target
//! calls; here the expected findings of the bug twins must not be crashes, so the
//! target uses `gosan::fuzz::report` and judges the report.)
#![no_main]

use gosan::sync::atomic::{AtomicU64, Ordering};
use gosan::sync::{Mutex, WaitGroup};
use gosan::{chan, go, gosched, run_with, select, Chan, Config, Report, Shared, Strategy};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

/// A read-yield-write on a counter from two goroutines: a lost update.
fn lost_update(fixed: bool) {
    let n = Arc::new(AtomicU64::new(0));
    let wg = WaitGroup::new();
    for _ in 0..2 {
        let (n, wg) = (n.clone(), wg.clone());
        wg.add(1);
        go(move || {
            if fixed {
                n.fetch_add(1, Ordering::SeqCst);
            } else {
                let v = n.load(Ordering::SeqCst);
                gosched();
                n.store(v + 1, Ordering::SeqCst);
            }
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(n.load(Ordering::SeqCst), 2, "lost update");
}

/// A goroutine writes shared memory that main reads: a data race unless the write
/// is published through a channel.
fn publish(fixed: bool) {
    let x = Shared::new(0u32);
    let ready: Chan<()> = chan(1);
    let (x2, r2) = (x.clone(), ready.clone());
    go(move || {
        x2.set(7);
        r2.send(());
    });
    if fixed {
        ready.recv();
        assert_eq!(x.get(), 7);
    } else {
        let _ = x.get();
        ready.recv();
    }
}

/// Worker replies on an unbuffered channel, main takes the first of two replies:
/// the other worker leaks, unless the reply channel has room for both.
fn first_reply(fixed: bool) {
    let reply: Chan<u32> = chan(if fixed { 2 } else { 0 });
    for i in 0..2 {
        let r = reply.clone();
        go(move || r.send(i));
    }
    select! {
        recv(reply) -> v => assert!(v.is_some()),
    }
}

/// Two goroutines lock two mutexes in opposite orders: a lock-order inversion (and
/// a deadlock in some schedules), unless both take them in the same order.
fn lock_order(fixed: bool) {
    let a = Arc::new(Mutex::new(0));
    let b = Arc::new(Mutex::new(0));
    let wg = WaitGroup::new();
    for k in 0..2 {
        let (a, b, wg) = (a.clone(), b.clone(), wg.clone());
        wg.add(1);
        go(move || {
            if k == 0 || fixed {
                let _ga = a.lock();
                let _gb = b.lock();
            } else {
                let _gb = b.lock();
                let _ga = a.lock();
            }
            wg.done();
        });
    }
    wg.wait();
}

/// Which findings the bug twin of each program may show.
fn expected(prog: u8, r: &Report) -> bool {
    let only = |races: bool, deadlock: bool, leaks: bool, panic: bool, lock_order: bool| {
        (races || r.races.is_empty())
            && (deadlock || r.deadlock.is_none())
            && (leaks || r.leaks.is_empty())
            && (panic || r.panic.is_none())
            && (lock_order || r.lock_order.is_empty())
            && r.livelock.is_none()
    };
    match prog {
        0 => {
            only(false, false, false, true, false)
                && r.panic.as_ref().is_none_or(|p| p.message.contains("lost update"))
        }
        1 => only(true, false, false, false, false),
        // The orphaned worker is a leak, or a partial deadlock when it is found
        // before main has quite returned (main dropped its handle).
        2 => {
            only(false, true, true, false, false)
                && r.leaks.len() + r.deadlock.as_ref().map_or(0, |d| d.goroutines.len()) <= 1
                && r.deadlock.as_ref().is_none_or(|d| !d.global)
        }
        _ => only(false, true, false, false, true),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, sched)) = data.split_first() else {
        return;
    };
    let prog = sel % 4;
    let fixed = sel & 4 != 0;
    let f = move || match prog {
        0 => lost_update(fixed),
        1 => publish(fixed),
        2 => first_reply(fixed),
        _ => lock_order(fixed),
    };
    let r = gosan::fuzz::report(Config::new(), sched, f);
    if fixed {
        assert!(r.is_clean(), "fixed twin {prog} has a finding:\n{r}");
    } else {
        assert!(expected(prog, &r), "bug twin {prog}: unexpected finding:\n{r}");
    }
    // The report's schedule is a strict replay token reproducing the run.
    let again = run_with(Config::new().seed(0).strategy(Strategy::Replay(r.schedule.clone())), f);
    assert_eq!(again.schedule, r.schedule);
    assert_eq!(again.is_clean(), r.is_clean());
});
