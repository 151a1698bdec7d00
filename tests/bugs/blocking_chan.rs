//! Blocking bugs on channels: a goroutine left waiting on a channel nobody will ever
//! use again (found as leaks after main returned, or as Go's global deadlock).

use crate::Class;
use gosan::context::{background, with_cancel};
use gosan::time::{after, sleep, Duration, Timer};
use gosan::{chan, go, select, Chan};

/// etcd/Docker "timeout racing a reply": the caller gives up after a timeout and
/// returns; the worker's reply on an unbuffered channel then blocks forever.
pub mod timeout_races_reply {
    use super::*;
    fn call(buffered: bool) {
        let reply: Chan<i32> = chan(usize::from(buffered));
        let r2 = reply.clone();
        go(move || {
            sleep(Duration::from_millis(20)); // slow worker
            r2.send(42);
        });
        select! {
            recv(reply) -> v => { let _ = v; },
            recv(after(Duration::from_millis(10))) -> _ => {}, // gives up
        }
    }
    pub fn bug() {
        call(false);
    }
    /// Fix: a buffered reply channel (capacity 1), so the late reply never blocks.
    pub fn fix() {
        call(true);
    }
    crate::kernel!(Class::Leak);
}

/// Missing `close`: the consumer ranges over a channel the producer never closes,
/// and main waits for the consumer.
pub mod missing_close {
    use super::*;
    fn run(close: bool) {
        let c: Chan<i32> = chan(0);
        let done: Chan<i32> = chan(0);
        let (c2, d2) = (c.clone(), done.clone());
        go(move || {
            let mut sum = 0;
            for v in &c2 {
                sum += v;
            }
            d2.send(sum);
        });
        for i in 0..3 {
            c.send(i);
        }
        if close {
            c.close();
        }
        assert_eq!(done.recv(), Some(3));
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: the producer closes the channel when it is done.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::GlobalDeadlock);
}

/// Context cancellation not observed: the worker's send does not select on
/// `ctx.done()`, so it blocks forever once the caller cancels and leaves.
pub mod cancellation_not_observed {
    use super::*;
    fn run(observe: bool) {
        let (ctx, cancel) = with_cancel(&background());
        let out: Chan<i32> = chan(0);
        let o2 = out.clone();
        go(move || {
            for i in 0.. {
                if observe {
                    select! {
                        send(o2, i) => {},
                        recv(ctx.done()) -> _ => return,
                    }
                } else {
                    o2.send(i);
                }
            }
        });
        assert_eq!(out.recv(), Some(0));
        assert_eq!(out.recv(), Some(1));
        cancel.cancel();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: every send selects on `ctx.done()` too.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::Leak);
}

/// Producer/consumer where the consumer exits early (it found what it looked for):
/// the producer stays blocked on its next send.
pub mod consumer_exits_early {
    use super::*;
    fn run(fixed: bool) {
        let items: Chan<i32> = chan(0);
        let quit: Chan<()> = chan(0);
        let (i2, q2) = (items.clone(), quit.clone());
        go(move || {
            for i in 0..10 {
                if fixed {
                    select! {
                        send(i2, i) => {},
                        recv(q2) -> _ => return,
                    }
                } else {
                    i2.send(i);
                }
            }
            i2.close();
        });
        for v in &items {
            if v == 3 {
                break; // found it
            }
        }
        quit.close();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: the consumer closes `quit` when it leaves; the producer selects on it.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::Leak);
}

/// A select over two channels whose senders both gave up (each sender had its own
/// deadline): the collector waits forever.
pub mod select_senders_gave_up {
    use super::*;
    fn run(fixed: bool) {
        let a: Chan<i32> = chan(0);
        let b: Chan<i32> = chan(0);
        for (c, d) in [(a.clone(), 5u64), (b.clone(), 7)] {
            go(move || {
                select! {
                    send(c, 1) => {},
                    recv(after(Duration::from_millis(d))) -> _ => {}, // gives up
                }
            });
        }
        sleep(Duration::from_millis(10)); // both senders gave up by now
        let (a2, b2) = (a.clone(), b.clone());
        go(move || {
            if fixed {
                select! {
                    recv(a2) -> _ => {},
                    recv(b2) -> _ => {},
                    recv(after(Duration::from_millis(10))) -> _ => {},
                }
            } else {
                select! {
                    recv(a2) -> _ => {},
                    recv(b2) -> _ => {},
                }
            }
        });
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: the collector has a deadline as well.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::Leak);
}

/// First error wins (errgroup done by hand): main returns on the first error; the
/// other workers block forever sending theirs on an unbuffered channel.
pub mod first_error_wins {
    use super::*;
    fn run(cap: usize) {
        let errs: Chan<String> = chan(cap);
        for i in 0..3 {
            let e = errs.clone();
            go(move || e.send(format!("worker {i} failed")));
        }
        let first = errs.recv();
        assert!(first.is_some());
    }
    pub fn bug() {
        run(0);
    }
    /// Fix: room for every worker's error.
    pub fn fix() {
        run(3);
    }
    crate::kernel!(Class::Leak);
}

/// A stopped timer: the goroutine waiting on its channel never wakes (Go's
/// `Timer.Stop` does not close the channel).
pub mod stopped_timer_waiter {
    use super::*;
    fn run(fixed: bool) {
        let t = std::sync::Arc::new(Timer::new(Duration::from_millis(10)));
        let stop: Chan<()> = chan(0);
        let (t2, s2) = (t.clone(), stop.clone());
        go(move || {
            if fixed {
                select! {
                    recv(t2.c) -> _ => {},
                    recv(s2) -> _ => {},
                }
            } else {
                let _ = t2.c.recv();
            }
        });
        t.stop();
        stop.close();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: the waiter also watches a stop channel that is closed with the timer.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::Leak);
}

/// A mutex held across a channel send (Kubernetes): the receiver must take the same
/// mutex before it receives, so neither moves.
pub mod lock_held_across_send {
    use super::*;
    use gosan::sync::Mutex;
    use std::sync::Arc;
    fn run(fixed: bool) {
        let m = Arc::new(Mutex::new(0));
        let c: Chan<i32> = chan(0);
        let done: Chan<()> = chan(0);
        let (m2, c2) = (m.clone(), c.clone());
        go(move || {
            if fixed {
                let v = {
                    let mut g = m2.lock();
                    *g += 1;
                    *g
                };
                c2.send(v);
            } else {
                let mut g = m2.lock();
                *g += 1;
                c2.send(*g); // still holding the lock
            }
        });
        let (m3, c3, d3) = (m.clone(), c.clone(), done.clone());
        go(move || {
            let _g = m3.lock();
            drop(_g);
            let _ = c3.recv();
            d3.send(());
        });
        done.recv();
    }
    pub fn bug() {
        run(false);
    }
    /// Fix: the send happens after the lock is released.
    pub fn fix() {
        run(true);
    }
    crate::kernel!(Class::GlobalDeadlock);
}

/// A request whose requester gave up (gRPC-style per-call reply channel): the
/// requester polls once, drops its reply channel and goes on serving; the handler's
/// late reply blocks forever — found while the server still runs.
pub mod abandoned_reply_channel {
    use super::*;
    fn serve(fixed: bool) {
        let reqs: Chan<Chan<i32>> = chan(0);
        let r2 = reqs.clone();
        go(move || {
            let reply = r2.recv().expect("a request");
            sleep(Duration::from_millis(2)); // slow handler
            if fixed {
                let _ = reply.try_send(1); // the requester may be gone
            } else {
                reply.send(1);
            }
        });
        let reply: Chan<i32> = chan(0);
        reqs.send(reply.clone());
        let _ = reply.try_recv(); // not ready: give up on this call
        drop(reply);
        sleep(Duration::from_millis(10)); // the server goes on
    }
    pub fn bug() {
        serve(false);
    }
    /// Fix: the late reply does not block (`try_send`, or a buffered reply channel).
    pub fn fix() {
        serve(true);
    }
    crate::kernel!(Class::PartialDeadlock);
}
