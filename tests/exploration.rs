//! Issue 10 (fairness and time): every strategy is fair, timers compete with work
//! and fire within a bound while goroutines keep running, a blocked `select!`
//! chooses its arm fairly, and all of it replays.

use gosan::sync::atomic::{AtomicBool, Ordering};
use gosan::sync::WaitGroup;
use gosan::time::{self, Duration, Ticker};
use gosan::{chan, go, select, Config, Report, Shared, Strategy};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

fn strategies() -> [Strategy; 3] {
    [
        Strategy::Random,
        Strategy::Pct { depth: 3 },
        Strategy::RoundRobin,
    ]
}

/// A run that does not end in time fails as a livelock instead of running for
/// minutes (the default bound is 10^9 steps).
fn bounded(s: Strategy) -> Config {
    Config::new().strategy(s).max_steps(2_000_000)
}

fn assert_clean(r: &Report, what: &str) {
    assert!(r.is_clean(), "{what}:\n{r}");
    assert!(r.livelock.is_none(), "{what}:\n{r}");
}

// ── (1) fair termination ────────────────────────────────────────────────────────

/// A loop kept busy by a consumer (neither ever yields nor blocks for long) and
/// stopped only once a third goroutine's send gets through. Under unfair PCT the
/// stopper, given the lowest priority, never runs.
fn loop_stopped_by_send() {
    let stop = chan::<()>(0);
    let work = chan::<u64>(1);
    let w = work.clone();
    go(move || for _ in &w {});
    let s = stop.clone();
    go(move || s.send(()));
    loop {
        select! {
            recv(stop) -> _ => break,
            send(work, 1) => {},
        }
    }
    work.close();
}

/// A loop spinning on an atomic flag (a scheduling point but no yield) that
/// another goroutine sets.
fn loop_stopped_by_flag() {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    go(move || f.store(true, Ordering::Release));
    while !flag.load(Ordering::Acquire) {}
}

fn fair_termination(body: fn(), after_main: bool, done: &'static AtomicUsize) {
    for s in strategies() {
        done.store(0, Ordering::SeqCst);
        let r = if after_main {
            gosan::check(bounded(s.clone()), 500, move || {
                go(move || {
                    body();
                    done.fetch_add(1, Ordering::SeqCst);
                });
            })
        } else {
            gosan::check(bounded(s.clone()), 500, move || {
                body();
                done.fetch_add(1, Ordering::SeqCst);
            })
        };
        assert_clean(&r, &format!("{s:?}"));
        // After main returned the leak phase is bounded, so a loop starved there
        // would not be a finding: count that every iteration's loop finished.
        assert_eq!(done.load(Ordering::SeqCst), 500, "{s:?}");
    }
}

#[test]
fn loop_stopped_by_a_send_terminates_under_every_strategy() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    fair_termination(loop_stopped_by_send, false, &DONE);
}

#[test]
fn loop_stopped_by_a_send_terminates_after_main_returned() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    fair_termination(loop_stopped_by_send, true, &DONE);
}

#[test]
fn loop_stopped_by_an_atomic_flag_terminates_under_every_strategy() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    fair_termination(loop_stopped_by_flag, false, &DONE);
}

#[test]
fn loop_stopped_by_an_atomic_flag_terminates_after_main_returned() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    fair_termination(loop_stopped_by_flag, true, &DONE);
}

#[test]
fn a_real_livelock_is_still_reported_at_the_step_bound_naming_the_spinners() {
    for s in strategies() {
        let r = gosan::run_with(Config::new().strategy(s.clone()).max_steps(50_000), || {
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            go(move || while !f.load(Ordering::Acquire) {});
            while !flag.load(Ordering::Acquire) {}
        });
        let l = r.livelock.as_ref().unwrap_or_else(|| panic!("{s:?}: {r}"));
        let ids: Vec<u64> = l.goroutines.iter().map(|g| g.id).collect();
        assert!(ids.contains(&1) && ids.contains(&2), "{s:?}: {ids:?}");
        assert!(r.leaks.is_empty() && r.deadlock.is_none(), "{s:?}: {r}");
    }
}

// ── (2) timeouts compete with work ──────────────────────────────────────────────

/// A worker answers on `reply`; the caller gives up after a timeout. With an
/// unbuffered reply, when the timeout wins the worker blocks forever on its send.
fn worker_with_timeout(reply_cap: usize) {
    let reply = chan::<u64>(reply_cap);
    let r = reply.clone();
    go(move || r.send(42));
    select! {
        recv(reply) -> v => assert_eq!(v, Some(42)),
        recv(time::after(Duration::from_secs(1))) -> _ => {},
    }
}

/// The worker stuck on its send: a partial deadlock when found while main still
/// runs (main dropped its handle of `reply`: the orphaned-channel rule), else a leak.
fn stuck_worker(r: &Report) -> gosan::GoroutineDump {
    let mut stuck: Vec<gosan::GoroutineDump> = r.leaks.clone();
    if let Some(d) = &r.deadlock {
        assert!(!d.global, "{r}");
        stuck.extend(d.goroutines.iter().cloned());
    }
    assert_eq!(stuck.len(), 1, "{r}");
    assert_eq!(stuck[0].id, 2, "{r}");
    assert_eq!(stuck[0].wait_reason, "chan send", "{r}");
    stuck.remove(0)
}

#[test]
fn timeout_winning_over_a_runnable_worker_leaks_it_and_check_finds_it() {
    let r = gosan::check(Config::new(), 500, || worker_with_timeout(0));
    stuck_worker(&r);
}

#[test]
fn buffered_reply_is_clean_whichever_wins() {
    let r = gosan::check(Config::new(), 500, || worker_with_timeout(1));
    assert_clean(&r, "buffered reply");
}

#[test]
fn timer_race_zero_never_lets_the_timeout_win_over_runnable_work() {
    let r = gosan::check(Config::new().timer_race(0.0), 300, || {
        worker_with_timeout(0)
    });
    assert_clean(&r, "timer_race=0");
}

#[test]
fn replay_of_a_schedule_with_timer_and_select_choices_reproduces_the_report() {
    let r = gosan::check(Config::new(), 500, || worker_with_timeout(0));
    let stuck = stuck_worker(&r);
    // Replayed with timer races off: the recorded choices alone make the timer win.
    let again = gosan::run_with(
        Config::new()
            .strategy(Strategy::Replay(r.schedule.clone()))
            .timer_race(0.0),
        || worker_with_timeout(0),
    );
    assert_eq!(again.schedule, r.schedule);
    let stuck_again = stuck_worker(&again);
    assert_eq!(stuck_again.stack, stuck.stack);
    assert_eq!(again.leaks.len(), r.leaks.len());
    assert_eq!(again.deadlock.is_some(), r.deadlock.is_some());
    assert!(again.races.is_empty() && again.panic.is_none(), "{again}");
}

#[test]
fn a_plain_sleep_program_still_takes_its_virtual_time() {
    for s in strategies() {
        let r = gosan::run_with(Config::new().strategy(s.clone()), || {
            let start = time::now();
            let wg = WaitGroup::new();
            for i in 1..=3u64 {
                let wg = wg.clone();
                wg.add(1);
                go(move || {
                    time::sleep(Duration::from_millis(10 * i));
                    wg.done();
                });
            }
            wg.wait();
            // A timer never fires before its deadline, and a race only moves time
            // to a pending deadline (a sleep may start late, never end early).
            let e = start.elapsed();
            assert!(e >= Duration::from_millis(30), "{e:?}");
            assert!(e <= Duration::from_millis(60), "{e:?}");
        });
        assert_clean(&r, &format!("{s:?}"));
    }
}

// ── (3) Go's own tests ──────────────────────────────────────────────────────────

/// Go's `TestAfterFuncStarvation` (time/sleep_test.go): two goroutines ping-pong on
/// a 1-slot channel, so one of them is always runnable; a 1 µs `AfterFunc` must
/// still fire and stop them.
fn after_func_starvation() {
    let wg = WaitGroup::new();
    let stop = Arc::new(AtomicBool::new(false));
    let c = chan::<bool>(1);
    wg.add(2);
    {
        let (wg, stop, c) = (wg.clone(), stop.clone(), c.clone());
        go(move || {
            while !stop.load(Ordering::SeqCst) {
                c.send(true);
            }
            c.close();
            wg.done();
        });
    }
    {
        let (wg, c) = (wg.clone(), c.clone());
        go(move || {
            for _ in &c {}
            wg.done();
        });
    }
    let s = stop.clone();
    let _t = time::after_func(Duration::from_micros(1), move || {
        s.store(true, Ordering::SeqCst)
    });
    wg.wait();
}

#[test]
fn go_after_func_starvation() {
    for s in strategies() {
        let r = gosan::check(bounded(s.clone()), 200, after_func_starvation);
        assert_clean(&r, &format!("{s:?}"));
    }
}

/// Go's `TestPseudoRandomSend` (runtime/chan_test.go): a select with two send arms
/// on the same channel must send both values over many rounds, blocked or not.
fn pseudo_random_send(cap: usize) -> (usize, usize) {
    const N: usize = 100;
    let c = chan::<usize>(cap);
    let got = chan::<Vec<usize>>(1);
    {
        let (c, got) = (c.clone(), got.clone());
        go(move || {
            let mut l = Vec::with_capacity(N);
            for _ in 0..N {
                gosan::gosched();
                l.push(c.recv().unwrap());
            }
            got.send(l);
        });
    }
    for _ in 0..N {
        select! {
            send(c, 1) => {},
            send(c, 0) => {},
        }
    }
    let l = got.recv().unwrap();
    let ones: usize = l.iter().sum();
    (N - ones, ones)
}

#[test]
fn go_pseudo_random_send() {
    for s in strategies() {
        for cap in [0, 100] {
            for seed in 1..=5u64 {
                let counts = Arc::new(std::sync::Mutex::new((0, 0)));
                let out = counts.clone();
                let r = gosan::run_with(Config::new().strategy(s.clone()).seed(seed), move || {
                    *out.lock().unwrap() = pseudo_random_send(cap)
                });
                assert_clean(&r, &format!("{s:?} cap {cap}"));
                let (n0, n1) = *counts.lock().unwrap();
                assert!(
                    n0 > 10 && n1 > 10,
                    "{s:?} seed {seed}: want pseudorandom, got {n0} zeros and {n1} ones (chan cap {cap})"
                );
            }
        }
    }
}

/// A select blocked on two send arms of one channel before any receiver comes: the
/// arm the receiver completes is a recorded choice, and both happen.
#[test]
fn blocked_select_completes_either_arm() {
    let mut seen = [false; 2];
    for seed in 0..64u64 {
        let got = Arc::new(AtomicUsize::new(usize::MAX));
        let out = got.clone();
        let cfg = Config::new()
            .seed(seed)
            .strategy(Strategy::RoundRobin)
            .timer_race(0.0);
        let r = gosan::run_with(cfg, move || {
            let c = chan::<usize>(0);
            let rx = c.clone();
            let recv = chan::<usize>(1);
            let recv2 = recv.clone();
            go(move || {
                // Main blocks in its select first (this one sleeps; no timer race).
                time::sleep(Duration::from_millis(1));
                recv2.send(rx.recv().unwrap());
            });
            select! {
                send(c, 0) => {},
                send(c, 1) => {},
            }
            out.store(recv.recv().unwrap(), Ordering::SeqCst);
        });
        assert_clean(&r, "blocked select");
        seen[got.load(Ordering::SeqCst)] = true;
    }
    assert_eq!(seen, [true, true]);
}

// ── time::tick and Go 1.23 ticker lifetime ──────────────────────────────────────

#[test]
fn tick_and_a_dropped_ticker_keep_ticking_while_their_channel_is_held() {
    let r = gosan::run(|| {
        let c = {
            let t = Ticker::new(Duration::from_millis(1));
            t.c.clone()
        }; // the Ticker value is gone, its channel is not
        let start = time::now();
        for _ in 0..3 {
            c.recv().unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_millis(3));
        let t = time::tick(Duration::from_millis(2));
        for _ in 0..2 {
            t.recv().unwrap();
        }
        assert!(time::tick(Duration::ZERO) == gosan::RecvChan::nil());
    });
    assert_clean(&r, "tick");
}

#[test]
fn a_ticker_stops_once_neither_it_nor_its_channel_is_held() {
    let r = gosan::run(|| {
        {
            let c = time::tick(Duration::from_millis(1));
            c.recv().unwrap();
        }
        // With the ticker still firing, time would move forever and this would
        // not be a deadlock.
        chan::<()>(0).recv();
    });
    let d = r.deadlock.as_ref().expect("a global deadlock");
    assert!(d.global, "{r}");
}

// ── (4) PCT finds what one random run misses ────────────────────────────────────

/// The write and the read are ordered by the mutex when the writer takes it first
/// (then no race); the race shows only when the reader, which first does many
/// scheduling points, takes the mutex before the writer's two steps are done.
fn race_needing_a_long_run_of_one_goroutine() {
    let x = Shared::new(0u64);
    let mu = Arc::new(gosan::sync::Mutex::new(()));
    let noise = Arc::new(AtomicBool::new(false));
    let wg = WaitGroup::new();
    wg.add(2);
    {
        let (x, mu, wg) = (x.clone(), mu.clone(), wg.clone());
        go(move || {
            x.set(1);
            drop(mu.lock());
            wg.done();
        });
    }
    {
        let (x, mu, wg) = (x.clone(), mu.clone(), wg.clone());
        go(move || {
            for _ in 0..30 {
                noise.load(Ordering::Relaxed);
            }
            drop(mu.lock());
            let _ = x.get();
            wg.done();
        });
    }
    wg.wait();
}

#[test]
#[cfg(feature = "race")] // needs the race detector
fn pct_finds_a_race_one_default_run_misses() {
    let one = gosan::run_with(
        Config::new().seed(7),
        race_needing_a_long_run_of_one_goroutine,
    );
    assert!(one.races.is_empty(), "{one}");
    let r = gosan::check(
        Config::new().strategy(Strategy::Pct { depth: 3 }),
        500,
        race_needing_a_long_run_of_one_goroutine,
    );
    assert!(!r.races.is_empty(), "{r}");
}
