//! `Timer`, `Ticker`, `after_func`: Go 1.23 semantics on the virtual clock.

use gosan_runtime::time::{after_func, now, sleep, Duration, Instant, Ticker, Timer};
use gosan_runtime::{chan, go, goid, run, select, Chan, RecvChan, TryRecvError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

/// Whether a receive on `c` would find a value now (a `select!` with `default`).
fn has_value(c: &RecvChan<Instant>) -> bool {
    select! {
        recv(c) -> _ => true,
        default => false,
    }
}

#[test]
fn timer_sends_its_deadline_once() {
    let r = run(|| {
        let start = now();
        let t = Timer::new(2 * S);
        assert_eq!(t.c.recv(), Some(start + 2 * S));
        assert_eq!(now() - start, 2 * S);
        assert!(!t.stop(), "stop after the value was received");
        sleep(10 * S);
        assert!(!has_value(&t.c), "a one-shot timer sends once");
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn stop_before_fire_returns_true_and_nothing_arrives() {
    let r = run(|| {
        let t = Timer::new(S);
        sleep(S / 2);
        assert!(t.stop());
        assert!(!t.stop(), "already stopped");
        sleep(2 * S);
        assert!(!has_value(&t.c));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn stop_after_fire_discards_the_unreceived_value() {
    // Go 1.23: the program never saw the timer fire, so stop reports true and no stale
    // value is received after it.
    let r = run(|| {
        let t = Timer::new(S);
        sleep(2 * S);
        assert_eq!(t.c.len(), 1, "fired into the buffer");
        assert!(t.stop());
        assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty));
        assert!(!t.stop());
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn reset_reports_pending_and_rearms_from_now() {
    let r = run(|| {
        let start = now();
        let t = Timer::new(S);
        sleep(S / 2);
        assert!(t.reset(3 * S), "was pending");
        assert_eq!(t.c.recv(), Some(start + S / 2 + 3 * S));
        assert!(!t.reset(S), "had fired and been received");
        assert_eq!(t.c.recv(), Some(start + S / 2 + 4 * S));
        assert!(!t.stop());
        assert!(!t.reset(S), "a stopped timer is not active");
        assert_eq!(t.c.recv(), Some(start + S / 2 + 5 * S));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn no_stale_value_after_reset() {
    let r = run(|| {
        let start = now();
        let t = Timer::new(S);
        sleep(2 * S); // fired at 1s, unreceived
        assert!(
            t.reset(S),
            "the unreceived value counts as pending (Go 1.23)"
        );
        assert_eq!(
            t.c.recv(),
            Some(start + 3 * S),
            "the 1s value was discarded"
        );
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn stopped_timer_in_select_never_fires() {
    let r = run(|| {
        let start = now();
        let t = Timer::new(S);
        t.stop();
        let got = select! {
            recv(t.c) -> _ => "timer",
            recv(gosan_runtime::time::after(5 * S)) -> _ => "timeout",
        };
        assert_eq!(got, "timeout");
        assert_eq!(now() - start, 5 * S);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn timer_channel_outlives_its_handle() {
    let r = run(|| {
        let start = now();
        let c = Timer::new(S).c; // the Timer is dropped, its channel is not
        assert_eq!(c.recv(), Some(start + S));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn dropped_timer_and_channel_do_not_keep_the_run_alive() {
    let r = run(|| {
        drop(Timer::new(S));
        Chan::<i32>::nil().recv();
    });
    assert!(r.deadlock.as_ref().is_some_and(|d| d.global), "{r}");
}

#[test]
fn after_func_runs_f_on_a_new_goroutine_after_d() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let r = run(move || {
        let start = now();
        let done: Chan<()> = chan(0);
        let d2 = done.clone();
        let s = s.clone();
        let t = after_func(3 * S, move || {
            s.lock().unwrap().push((goid(), now() - start));
            d2.send(());
        });
        assert_eq!(t.c, RecvChan::nil(), "after_func's Timer.c is nil");
        done.recv();
        assert!(!t.stop(), "already ran");
    });
    assert!(r.is_clean(), "{r}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_ne!(seen[0].0, 1, "f does not run on main");
    assert_eq!(seen[0].1, 3 * S);
}

#[test]
fn stopping_after_func_prevents_f() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let r = run(move || {
        let n = n2.clone();
        let t = after_func(S, move || {
            n.fetch_add(1, Ordering::SeqCst);
        });
        sleep(S / 2);
        assert!(t.stop());
        sleep(10 * S);
    });
    assert!(r.is_clean(), "{r}");
    assert_eq!(n.load(Ordering::SeqCst), 0);
}

#[test]
fn after_func_reset_runs_f_again_and_dropped_handle_still_fires() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let r = run(move || {
        let n = n2.clone();
        let t = after_func(S, move || {
            n.fetch_add(1, Ordering::SeqCst);
        });
        sleep(2 * S);
        assert!(!t.reset(S), "f already ran: reset schedules it again");
        drop(t);
        sleep(2 * S);
    });
    assert!(r.is_clean(), "{r}");
    assert_eq!(n.load(Ordering::SeqCst), 2);
}

#[test]
fn after_func_goroutine_is_created_at_the_call_site() {
    let r = run(|| {
        let _t = after_func(S, || Chan::<i32>::nil().recv().map(drop).unwrap_or(()));
        Chan::<i32>::nil().recv();
    });
    let d = r.deadlock.as_ref().expect("deadlock");
    assert_eq!(d.goroutines.len(), 2, "{r}");
    let f = &d.goroutines[1];
    assert!(
        f.created_at
            .iter()
            .any(|fr| fr.file.ends_with("time_timers.rs")),
        "created_at should name this file: {f:?}"
    );
}

#[test]
fn ticker_ticks_at_exact_virtual_times_until_stopped() {
    let r = run(|| {
        let start = now();
        let t = Ticker::new(100 * MS);
        for k in 1..=5u32 {
            assert_eq!(t.c.recv(), Some(start + k * 100 * MS));
            assert_eq!(now() - start, k * 100 * MS);
        }
        t.stop();
        sleep(S);
        assert!(!has_value(&t.c), "no tick after stop");
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn ticker_drops_ticks_for_a_slow_reader() {
    let r = run(|| {
        let start = now();
        let t = Ticker::new(S);
        sleep(3 * S + S / 2);
        assert_eq!(t.c.len(), 1);
        assert_eq!(
            t.c.recv(),
            Some(start + S),
            "the first tick waited; 2s and 3s were dropped"
        );
        assert_eq!(t.c.recv(), Some(start + 4 * S));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn ticker_reset_changes_the_period_from_now() {
    let r = run(|| {
        let start = now();
        let t = Ticker::new(S);
        assert_eq!(t.c.recv(), Some(start + S));
        sleep(S / 2); // a tick at 2s is pending
        t.reset(300 * MS);
        assert_eq!(t.c.recv(), Some(start + 1800 * MS));
        assert_eq!(t.c.recv(), Some(start + 2100 * MS));
        t.stop();
        t.reset(S); // restarts a stopped ticker
        assert_eq!(t.c.recv(), Some(start + 3100 * MS));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn ticker_stop_discards_an_unreceived_tick() {
    let r = run(|| {
        let t = Ticker::new(S);
        sleep(2 * S);
        t.stop();
        assert_eq!(t.c.try_recv(), Err(TryRecvError::Empty));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn non_positive_ticker_interval_panics_with_go_text() {
    let r = run(|| {
        let _ = Ticker::new(Duration::ZERO);
    });
    assert_eq!(
        r.panic.expect("panic").message,
        "non-positive interval for NewTicker"
    );
    let r = run(|| {
        Ticker::new(S).reset(Duration::ZERO);
    });
    assert_eq!(
        r.panic.expect("panic").message,
        "non-positive interval for Ticker.Reset"
    );
}

#[test]
fn leaked_goroutine_holding_a_ticker_does_not_hang_the_run() {
    let r = run(|| {
        go(|| {
            let t = Ticker::new(MS);
            let _ = t.c.recv();
            Chan::<i32>::nil().recv(); // blocked for good, its ticker still ticking
            drop(t);
        });
        sleep(10 * MS);
    });
    // The run ended (bounded after-main phase: 10 virtual minutes = 600k dropped ticks).
    assert!(r.deadlock.is_none(), "{r}");
    assert!(r.panic.is_none(), "{r}");
    eprintln!(
        "leaks reported: {:?}",
        r.leaks.iter().map(|l| &l.wait_reason).collect::<Vec<_>>()
    );
}

/// DESIGN: a goroutine blocked for good after main returned is a leak, even while a
/// ticker it holds keeps the clock moving until the after-main bound ends the run.
#[test]
fn goroutine_blocked_for_good_beside_a_live_ticker_is_a_leak() {
    let r = run(|| {
        go(|| {
            let t = Ticker::new(S);
            Chan::<i32>::nil().recv();
            drop(t);
        });
    });
    assert_eq!(r.leaks.len(), 1, "{r}");
    assert_eq!(r.leaks[0].wait_reason, "chan receive (nil chan)");
}

#[test]
fn goroutine_ranging_over_a_ticker_after_main_ends_the_run() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let t2 = ticks.clone();
    let r = run(move || {
        let t2 = t2.clone();
        go(move || {
            let t = Ticker::new(S);
            for _ in &t.c {
                t2.fetch_add(1, Ordering::SeqCst);
            }
        });
    });
    assert!(r.deadlock.is_none() && r.panic.is_none(), "{r}");
    // It ran on for the 10 virtual minutes of the after-main phase.
    let n = ticks.load(Ordering::SeqCst);
    assert!((599..=601).contains(&n), "{n} ticks");
}

#[test]
fn ticker_nobody_reads_cannot_hang_a_deadlocked_run() {
    let r = run(|| {
        let _t = Ticker::new(Duration::from_micros(1));
        Chan::<i32>::nil().recv();
    });
    let d = r
        .deadlock
        .as_ref()
        .expect("deadlock once the unread ticker backed off");
    assert!(d.global);
}

#[test]
fn timers_from_many_goroutines_fire_in_deadline_order() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let r = run(move || {
        let done: Chan<()> = chan(0);
        for ms in [50u64, 10, 40, 20, 30] {
            let (l, done) = (l.clone(), done.clone());
            go(move || {
                let t = Timer::new(Duration::from_millis(ms));
                t.c.recv();
                l.lock().unwrap().push(ms);
                done.send(());
            });
        }
        for _ in 0..5 {
            done.recv();
        }
    });
    assert!(r.is_clean(), "{r}");
    assert_eq!(*log.lock().unwrap(), [10, 20, 30, 40, 50]);
}
