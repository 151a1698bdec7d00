//! The race detector through `time` and `context`: arming a timer happens-before its
//! firing's observers (the receive of the tick, the start of `after_func`'s f, a
//! receive that sees a deadline's `done` closed), a goroutine's cancel happens-before
//! `<-ctx.done()` and `ctx.err()`, and `sleep` is no synchronization at all. Each
//! edge as a pair: clean with it, a race in its twin.
//!
//! Values move between goroutines through a std `Mutex` slot, which the detector
//! does not see; ordering is by virtual time: a goroutine that never blocks has run
//! to its end before the clock can reach another one's `sleep(1ms)`.

// Race-detector tests: they need the detector compiled in (the default `race` feature).
#![cfg(feature = "race")]

use gosan::context::{background, with_cancel, with_timeout, CancelFunc, Context};
use gosan::time::{after, after_func, sleep, Duration, Instant, Ticker, Timer};
use gosan::{check, go, Config, RecvChan, Report, Shared};
use std::sync::{Arc, Mutex as StdMutex};

const ITERS: usize = 200;

/// For the tests whose edge needs an hour-long timer not to fire before the code
/// that resets or cancels it: with timer races on (`timer_race`), it may, and then
/// the race reported is real (nothing orders the write before that firing).
fn no_timer_race() -> Config {
    Config::new().timer_race(0.0)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn clean(r: Report) {
    assert!(r.is_clean(), "{r}");
}

fn racy(r: Report) {
    assert!(!r.races.is_empty(), "expected a data race:\n{r}");
}

/// A hidden hand-over between goroutines (no happens-before edge).
struct Slot<T>(Arc<StdMutex<Option<T>>>);

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot(self.0.clone())
    }
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot(Arc::new(StdMutex::new(None)))
    }
    fn put(&self, v: T) {
        *self.0.lock().unwrap() = Some(v);
    }
    /// Takes the value once the putter ran (it never blocks, so 1ms is enough).
    fn take(&self) -> T {
        sleep(ms(1));
        self.0.lock().unwrap().take().expect("the putter ran first")
    }
}

/// G1 writes `x` (before or after arming a timer with `arm`), G2 receives the
/// timer's tick and reads `x`.
fn tick_publishes(write_first: bool, arm: fn() -> Box<dyn FnOnce() + Send>) -> Report {
    check(Config::new(), ITERS, move || {
        let x = Shared::new(0i64);
        let slot = Slot::new();
        {
            let (x, slot) = (x.clone(), slot.clone());
            go(move || {
                if write_first {
                    x.set(1);
                }
                slot.put(arm());
                if !write_first {
                    x.set(1);
                }
            });
        }
        go(move || {
            let recv = slot.take();
            recv();
            let _ = x.get();
        });
    })
}

fn arm_after() -> Box<dyn FnOnce() + Send> {
    let c = after(ms(5));
    Box::new(move || assert!(c.recv().is_some()))
}

fn arm_timer() -> Box<dyn FnOnce() + Send> {
    let t = Timer::new(ms(5));
    Box::new(move || assert!(t.c.recv().is_some()))
}

fn arm_dropped_timer() -> Box<dyn FnOnce() + Send> {
    let c: RecvChan<Instant> = Timer::new(ms(5)).c; // the handle is gone: nobody can stop it
    Box::new(move || assert!(c.recv().is_some()))
}

fn arm_ticker() -> Box<dyn FnOnce() + Send> {
    let t = Ticker::new(ms(5));
    Box::new(move || {
        let t = t; // the whole ticker: a dropped Ticker stops
        assert!(t.c.recv().is_some());
    })
}

#[test]
fn after_tick_happens_after_arming() {
    clean(tick_publishes(true, arm_after));
}

#[test]
fn after_write_after_arming_races() {
    racy(tick_publishes(false, arm_after));
}

#[test]
fn timer_tick_happens_after_arming() {
    clean(tick_publishes(true, arm_timer));
}

#[test]
fn timer_write_after_arming_races() {
    racy(tick_publishes(false, arm_timer));
}

#[test]
fn dropped_timer_tick_happens_after_arming() {
    clean(tick_publishes(true, arm_dropped_timer));
}

#[test]
fn ticker_tick_happens_after_arming() {
    clean(tick_publishes(true, arm_ticker));
}

#[test]
fn ticker_write_after_arming_races() {
    racy(tick_publishes(false, arm_ticker));
}

/// Main makes a timer far in the future; G1 writes `x` and resets it (or resets then
/// writes); G2 receives the tick and reads `x`.
fn reset_publishes(write_first: bool) -> Report {
    check(no_timer_race(), ITERS, move || {
        let x = Shared::new(0i64);
        let t = Arc::new(Timer::new(Duration::from_secs(3600)));
        let c = t.c.clone();
        {
            let x = x.clone();
            go(move || {
                if write_first {
                    x.set(1);
                }
                t.reset(ms(5));
                if !write_first {
                    x.set(1);
                }
            });
        }
        go(move || {
            assert!(c.recv().is_some());
            let _ = x.get();
        });
    })
}

#[test]
fn timer_reset_happens_before_the_tick() {
    clean(reset_publishes(true));
}

#[test]
fn timer_write_after_reset_races() {
    racy(reset_publishes(false));
}

#[test]
fn ticker_reset_happens_before_the_tick() {
    clean(check(no_timer_race(), ITERS, || {
        let x = Shared::new(0i64);
        let t = Arc::new(Ticker::new(Duration::from_secs(3600)));
        {
            let (x, t) = (x.clone(), t.clone());
            go(move || {
                x.set(1);
                t.reset(ms(5));
            });
        }
        go(move || {
            assert!(t.c.recv().is_some());
            let _ = x.get();
        });
    }));
}

#[test]
fn sleep_is_not_synchronization() {
    // One goroutine writes; another sleeps "long enough" and reads: still a race.
    racy(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        {
            let x = x.clone();
            go(move || x.set(1));
        }
        go(move || {
            sleep(ms(10));
            let _ = x.get();
        });
    }));
}

/// G1 writes `x` before (or after) `after_func`, whose f reads it.
fn after_func_publishes(write_first: bool) -> Report {
    check(Config::new(), ITERS, move || {
        let x = Shared::new(0i64);
        go(move || {
            if write_first {
                x.set(1);
            }
            let x2 = x.clone();
            let _t = after_func(ms(5), move || {
                let _ = x2.get();
            });
            if !write_first {
                x.set(1);
            }
        });
    })
}

#[test]
fn after_func_f_happens_after_arming() {
    clean(after_func_publishes(true));
}

#[test]
fn after_func_write_after_arming_races() {
    racy(after_func_publishes(false));
}

// ── context ──────────────────────────────────────────────────────────────────────

/// G1 writes `x` before (or after) canceling; G2 waits with `wait` then reads `x`.
fn cancel_publishes(write_first: bool, wait: fn(&Context)) -> Report {
    check(Config::new(), ITERS, move || {
        let x = Shared::new(0i64);
        let (ctx, cancel) = with_cancel(&background());
        {
            let x = x.clone();
            go(move || {
                if write_first {
                    x.set(1);
                }
                cancel.cancel();
                if !write_first {
                    x.set(1);
                }
            });
        }
        go(move || {
            wait(&ctx);
            let _ = x.get();
        });
    })
}

fn recv_done(ctx: &Context) {
    assert_eq!(ctx.done().recv(), None);
}

fn poll_err(ctx: &Context) {
    while ctx.err().is_none() {}
}

#[test]
fn cancel_happens_before_done_is_observed() {
    clean(cancel_publishes(true, recv_done));
}

#[test]
fn write_after_cancel_races() {
    racy(cancel_publishes(false, recv_done));
}

#[test]
fn cancel_happens_before_err_is_observed() {
    clean(cancel_publishes(true, poll_err));
}

#[test]
fn write_after_cancel_races_with_err_observer() {
    racy(cancel_publishes(false, poll_err));
}

#[test]
fn parent_cancel_happens_before_child_done() {
    clean(check(no_timer_race(), ITERS, || {
        let x = Shared::new(0i64);
        let (parent, cancel) = with_cancel(&background());
        let (child, _child_cancel) = with_cancel(&parent);
        let (grandchild, _gc) = with_timeout(&child, Duration::from_secs(3600));
        {
            let x = x.clone();
            go(move || {
                x.set(1);
                cancel.cancel();
            });
        }
        go(move || {
            assert_eq!(grandchild.done().recv(), None);
            let _ = x.get();
        });
    }));
}

/// G1 writes `x` before (or after) `with_timeout`; G2 waits for the deadline with
/// `wait` then reads `x`.
fn deadline_publishes(write_first: bool, wait: fn(&Context)) -> Report {
    check(Config::new(), ITERS, move || {
        let x = Shared::new(0i64);
        let slot: Slot<(Context, CancelFunc)> = Slot::new();
        {
            let (x, slot) = (x.clone(), slot.clone());
            go(move || {
                if write_first {
                    x.set(1);
                }
                slot.put(with_timeout(&background(), ms(5)));
                if !write_first {
                    x.set(1);
                }
            });
        }
        go(move || {
            let (ctx, _cancel) = slot.take();
            wait(&ctx);
            let _ = x.get();
        });
    })
}

#[test]
fn deadline_arming_happens_before_done_is_observed() {
    clean(deadline_publishes(true, recv_done));
}

#[test]
fn write_after_deadline_arming_races() {
    racy(deadline_publishes(false, recv_done));
}

#[test]
fn deadline_arming_happens_before_err_is_observed() {
    clean(deadline_publishes(true, poll_err));
}

#[test]
fn parent_deadline_happens_before_child_done() {
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let slot: Slot<Context> = Slot::new();
        {
            let (x, slot) = (x.clone(), slot.clone());
            go(move || {
                x.set(1);
                let (parent, _pc) = with_timeout(&background(), ms(5));
                let (child, _cc) = with_cancel(&parent);
                slot.put(child);
                drop(parent);
            });
        }
        go(move || {
            let child = slot.take();
            assert_eq!(child.done().recv(), None);
            let _ = x.get();
        });
    }));
}

#[test]
fn orphaned_deadline_still_carries_the_arming_clock() {
    // Only the done channel survives: the deadline moves onto it.
    clean(check(Config::new(), ITERS, || {
        let x = Shared::new(0i64);
        let slot: Slot<RecvChan<()>> = Slot::new();
        {
            let (x, slot) = (x.clone(), slot.clone());
            go(move || {
                x.set(1);
                let done = with_timeout(&background(), ms(5)).0.done();
                slot.put(done);
            });
        }
        go(move || {
            let done = slot.take();
            assert_eq!(done.recv(), None);
            let _ = x.get();
        });
    }));
}
