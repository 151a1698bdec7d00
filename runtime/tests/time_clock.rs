//! The virtual clock: `sleep`, `after`, `now`, `Instant`, deadlock detection with
//! pending timers, determinism.

use gosan_runtime::time::{after, after_func, now, sleep, Duration, Instant, Ticker, Timer};
use gosan_runtime::{chan, go, run, run_with, select, Chan, Config};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const S: Duration = Duration::from_secs(1);

#[test]
fn sleep_ten_minutes_is_virtual_and_exact() {
    let r = run(|| {
        let start = now();
        sleep(Duration::from_secs(600));
        assert_eq!(now() - start, Duration::from_secs(600));
        assert_eq!(start.elapsed(), Duration::from_secs(600));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn sleep_zero_returns_at_once() {
    let r = run(|| {
        let start = now();
        sleep(Duration::ZERO);
        assert_eq!(now(), start);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn sleepers_wake_in_deadline_order_at_their_deadlines() {
    for seed in 0..20 {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let r = run_with(Config::new().seed(seed), move || {
            let start = now();
            let done: Chan<()> = chan(0);
            for secs in [3u64, 1, 2] {
                let (l, done) = (l.clone(), done.clone());
                go(move || {
                    sleep(Duration::from_secs(secs));
                    l.lock().unwrap().push((secs, now() - start));
                    done.send(());
                });
            }
            for _ in 0..3 {
                done.recv();
            }
        });
        assert!(r.is_clean(), "{r}");
        let log = log.lock().unwrap().clone();
        let order: Vec<u64> = log.iter().map(|e| e.0).collect();
        assert_eq!(order, [1, 2, 3], "seed {seed}");
        for (secs, at) in log {
            assert_eq!(at, Duration::from_secs(secs));
        }
    }
}

#[test]
fn after_in_select_times_out_exactly() {
    let r = run(|| {
        let never: Chan<i32> = chan(0);
        let _keep_sender = never.clone();
        let start = now();
        let fired = select! {
            recv(never) -> _ => panic!("nobody sends"),
            recv(after(5 * S)) -> v => v,
        };
        assert_eq!(fired, Some(start + 5 * S));
        assert_eq!(now() - start, 5 * S);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn after_zero_fires_without_advancing_time() {
    let r = run(|| {
        let start = now();
        assert_eq!(after(Duration::ZERO).recv(), Some(start));
        assert_eq!(now(), start);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn goroutine_waiting_on_a_timer_is_not_a_deadlock() {
    let r = run(|| {
        let start = now();
        let c: Chan<i32> = chan(0);
        let t = after(S);
        let c2 = c.clone();
        go(move || {
            t.recv();
            c2.send(7);
        });
        assert_eq!(c.recv(), Some(7)); // main blocked, the other waits on the timer
        assert_eq!(now(), start + S);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn blocked_with_pending_timer_is_a_deadlock_only_after_it_fired() {
    let fired = Arc::new(AtomicBool::new(false));
    let f = fired.clone();
    let r = run(move || {
        let _t = Timer::new(S); // pending, held by main, wakes no one
        let f = f.clone();
        let _af = after_func(2 * S, move || f.store(true, Ordering::SeqCst));
        let c: Chan<i32> = chan(0);
        let _keep = c.clone();
        c.recv(); // forever
    });
    assert!(
        fired.load(Ordering::SeqCst),
        "the deadlock was declared before the timers fired"
    );
    let d = r.deadlock.as_ref().expect("deadlock");
    assert!(d.global);
    assert_eq!(d.goroutines.len(), 1, "{r}");
    assert_eq!(d.goroutines[0].wait_reason, "chan receive");
}

#[test]
fn dropped_after_channel_does_not_hide_a_deadlock() {
    let r = run(|| {
        drop(after(Duration::from_secs(3600)));
        Chan::<i32>::nil().recv();
    });
    let d = r.deadlock.as_ref().expect("deadlock");
    assert!(d.global);
    assert_eq!(d.goroutines[0].wait_reason, "chan receive (nil chan)");
}

#[test]
fn long_sleeps_always_end() {
    let r = run(|| {
        let start = now();
        let done: Chan<()> = chan(0);
        for h in [1000u64, 10, 100_000] {
            let done = done.clone();
            go(move || {
                sleep(Duration::from_secs(h * 3600));
                done.send(());
            });
        }
        for _ in 0..3 {
            done.recv();
        }
        assert_eq!(now() - start, Duration::from_secs(100_000 * 3600));
    });
    assert!(r.is_clean(), "{r}");
    assert!(r.deadlock.is_none());
}

#[test]
fn deadlock_is_declared_only_after_sleepers_wake() {
    // main blocks forever while another goroutine sleeps: no deadlock until the
    // sleeper wakes and blocks too.
    let r = run(|| {
        let c: Chan<i32> = chan(0);
        let c2 = c.clone();
        go(move || {
            sleep(S);
            Chan::<i32>::nil().recv();
            drop(c2);
        });
        c.recv();
    });
    let d = r.deadlock.as_ref().expect("deadlock");
    let reasons: Vec<&str> = d
        .goroutines
        .iter()
        .map(|g| g.wait_reason.as_str())
        .collect();
    assert_eq!(reasons, ["chan receive", "chan receive (nil chan)"]);
}

fn timer_program(log: Arc<Mutex<Vec<String>>>) {
    let t = Ticker::new(Duration::from_millis(300));
    let stop: Chan<()> = chan(0);
    for i in 0..3u64 {
        let (log, stop) = (log.clone(), stop.clone());
        go(move || {
            let tm = Timer::new(Duration::from_millis(100 * (i + 1)));
            loop {
                select! {
                    recv(tm.c) -> v => {
                        log.lock().unwrap().push(format!("g{i} timer {v:?}"));
                        tm.reset(Duration::from_millis(250));
                    },
                    recv(stop) -> _ => return,
                }
            }
        });
    }
    for _ in 0..5 {
        let v = t.c.recv();
        log.lock().unwrap().push(format!("tick {v:?}"));
    }
    t.stop();
    stop.close();
    sleep(S);
}

#[test]
fn same_seed_same_schedule_with_timers() {
    let go_once = |seed: u64| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let r = run_with(Config::new().seed(seed), move || timer_program(l));
        assert!(r.is_clean(), "{r}");
        let log = log.lock().unwrap().clone();
        (r.schedule, log)
    };
    let mut schedules = std::collections::HashSet::new();
    for seed in [1u64, 2, 3, 99] {
        let a = go_once(seed);
        let b = go_once(seed);
        assert_eq!(a, b, "seed {seed}");
        assert!(!a.0.is_empty());
        schedules.insert(a.0);
    }
    assert!(
        schedules.len() > 1,
        "different seeds explore different schedules"
    );
}

#[test]
fn instant_arithmetic() {
    let r = run(|| {
        let a = now();
        let mut b = a + 3 * S;
        assert!(b > a);
        assert_eq!(b - a, 3 * S);
        assert_eq!(a - b, Duration::ZERO, "Instant - Instant saturates");
        assert_eq!(b.duration_since(a), 3 * S);
        assert_eq!(a.duration_since(b), Duration::ZERO);
        assert_eq!(a.checked_duration_since(b), None);
        b -= S;
        assert_eq!(b, a + 2 * S);
        b += Duration::from_nanos(1);
        assert_eq!(b - a, Duration::from_nanos(2_000_000_001));
        assert_eq!(a.checked_add(Duration::MAX), None);
        assert_eq!(a.checked_sub(S), None);
        assert_eq!((a + S).checked_sub(S), Some(a));
        assert_eq!(
            format!("{:?}", a + Duration::from_millis(1500)),
            "Instant(+1.5s)"
        );
        let set: std::collections::HashSet<Instant> = [a, a, b].into_iter().collect();
        assert_eq!(set.len(), 2);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn instant_overflow_panics_like_std() {
    let r = run(|| {
        let _ = now() - S;
    });
    let p = r.panic.expect("panic");
    assert_eq!(p.message, "overflow when subtracting duration from instant");
}

#[test]
fn time_outside_a_run_panics_clearly() {
    let e = std::panic::catch_unwind(|| sleep(S)).unwrap_err();
    let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("gosan::time::sleep called outside a gosan run"),
        "{msg}"
    );
    let e = std::panic::catch_unwind(|| Timer::new(S)).unwrap_err();
    let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("Timer::new called outside a gosan run"),
        "{msg}"
    );
}
