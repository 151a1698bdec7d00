//! Channels against a sequential model of Go's channel semantics. Fuzzer bytes are
//! a program of operations on three channels (capacities 0..=3, chosen by the
//! bytes) run by main (plus, for a hand-off, one helper goroutine at a time), and
//! every result must match the model:
//! - buffered `len`/`cap`; FIFO order; `try_send` is `Full` at capacity (always on an
//!   unbuffered channel with no receiver), `try_recv` `Empty`/`Closed`;
//! - a receive from a closed, drained channel gets `None` (Go's zero value, false),
//!   a closed channel still delivers its buffer first;
//! - `send`/`try_send` on a closed channel panics `send on closed channel`, `close`
//!   of a closed channel `close of closed channel` (recovered with `catch_unwind`,
//!   as Go's `recover`);
//! - `select!` with two receive arms, a send arm and maybe `default` takes a ready
//!   arm (default only when none is ready); a chosen send on a closed channel
//!   panics;
//! - `time::after(d)`: not ready before `d` has passed on the virtual clock; a
//!   blocking receive from it returns an instant at least `d` after arming;
//! - a hand-off (a helper goroutine sends on an empty open channel, main receives)
//!   delivers the value.
//! The run itself must be clean (no deadlock, leak, race or unrecovered panic).
#![no_main]

use gosan::time::{Duration, Instant};
use gosan::{chan, go, select, Chan, RecvChan, TryRecvError, TrySendError};
use libfuzzer_sys::fuzz_target;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

struct Model {
    cap: usize,
    buf: VecDeque<u32>,
    closed: bool,
}

fn panics<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

fn program(ops: Vec<u8>) {
    let mut it = ops.into_iter();
    let mut next = move || it.next();
    let mut models = Vec::new();
    let mut chans: Vec<Chan<u32>> = Vec::new();
    for _ in 0..3 {
        let cap = (next().unwrap_or(0) % 4) as usize;
        models.push(Model {
            cap,
            buf: VecDeque::new(),
            closed: false,
        });
        chans.push(chan(cap));
    }
    let mut timers: Vec<(RecvChan<Instant>, Instant, Duration, bool)> = Vec::new();
    let mut v = 0u32;
    while let Some(op) = next() {
        let i = (next().unwrap_or(0) % 3) as usize;
        let (c, m) = (&chans[i], &mut models[i]);
        v += 1;
        match op % 10 {
            // send: only when it cannot block (room, or closed: it panics).
            0 => {
                if m.closed {
                    let e = panics(|| c.send(v)).expect_err("send on closed must panic");
                    assert!(e.contains("send on closed channel"), "{e}");
                } else if m.buf.len() < m.cap {
                    c.send(v);
                    m.buf.push_back(v);
                }
            }
            1 => match panics(|| c.try_send(v)) {
                Err(e) => {
                    assert!(m.closed, "try_send panicked on an open channel: {e}");
                    assert!(e.contains("send on closed channel"), "{e}");
                }
                Ok(Ok(())) => {
                    assert!(!m.closed && m.buf.len() < m.cap, "try_send succeeded");
                    m.buf.push_back(v);
                }
                Ok(Err(TrySendError::Full(x))) => {
                    assert_eq!(x, v);
                    assert!(!m.closed && m.buf.len() == m.cap, "try_send Full");
                }
            },
            // recv: only when it cannot block.
            2 => {
                if !m.buf.is_empty() || m.closed {
                    assert_eq!(c.recv(), m.buf.pop_front(), "recv");
                }
            }
            3 => match c.try_recv() {
                Ok(x) => assert_eq!(Some(x), m.buf.pop_front(), "try_recv"),
                Err(TryRecvError::Empty) => assert!(m.buf.is_empty() && !m.closed),
                Err(TryRecvError::Closed) => assert!(m.buf.is_empty() && m.closed),
            },
            4 => match panics(|| c.close()) {
                Ok(()) => {
                    assert!(!m.closed, "closed twice without a panic");
                    m.closed = true;
                }
                Err(e) => {
                    assert!(m.closed, "close panicked: {e}");
                    assert!(e.contains("close of closed channel"), "{e}");
                }
            },
            5 => {
                assert_eq!(c.len(), m.buf.len(), "len");
                assert_eq!(c.cap(), m.cap, "cap");
            }
            6 => {
                let j = (next().unwrap_or(0) % 3) as usize;
                let k = (next().unwrap_or(0) % 3) as usize;
                let with_default = next().unwrap_or(0) % 2 == 0;
                let recv_ready = |m: &Model| !m.buf.is_empty() || m.closed;
                let send_ready = |m: &Model| m.closed || m.buf.len() < m.cap;
                let any = recv_ready(&models[i]) || recv_ready(&models[j]) || send_ready(&models[k]);
                if !with_default && !any {
                    continue; // would block forever: nobody else sends
                }
                let (a, b, s) = (chans[i].clone(), chans[j].clone(), chans[k].clone());
                let out = panics(|| {
                    if with_default {
                        select! {
                            recv(a) -> x => (0, x),
                            recv(b) -> x => (1, x),
                            send(s, v) => (2, None),
                            default => (3, None),
                        }
                    } else {
                        select! {
                            recv(a) -> x => (0, x),
                            recv(b) -> x => (1, x),
                            send(s, v) => (2, None),
                        }
                    }
                });
                match out {
                    Err(e) => {
                        assert!(models[k].closed, "select panicked: {e}");
                        assert!(e.contains("send on closed channel"), "{e}");
                    }
                    Ok((arm @ (0 | 1), x)) => {
                        let m = &mut models[if arm == 0 { i } else { j }];
                        assert!(recv_ready(m), "a receive arm ran that was not ready");
                        assert_eq!(x, m.buf.pop_front(), "select recv");
                    }
                    Ok((2, _)) => {
                        let m = &mut models[k];
                        assert!(!m.closed && m.buf.len() < m.cap, "send arm not ready");
                        m.buf.push_back(v);
                    }
                    Ok(_) => assert!(!any, "default ran while an arm was ready"),
                }
            }
            7 => {
                if timers.len() < 4 {
                    let d = Duration::from_millis(u64::from(next().unwrap_or(0) % 8));
                    timers.push((gosan::time::after(d), gosan::time::now(), d, false));
                }
            }
            8 => {
                if let Some(t) = timers.get_mut(i) {
                    if t.3 {
                        continue; // an after() channel delivers once
                    }
                    let early = gosan::time::now() < t.1 + t.2;
                    if next().unwrap_or(0) % 2 == 0 {
                        let at = t.0.recv().expect("after() delivers");
                        assert!(at >= t.1 + t.2, "fired early");
                        t.3 = true;
                    } else {
                        match t.0.try_recv() {
                            Ok(at) => {
                                assert!(!early && at >= t.1 + t.2, "fired early");
                                t.3 = true;
                            }
                            Err(TryRecvError::Empty) => {}
                            Err(e) => panic!("after() channel {e:?}"),
                        }
                    }
                } else {
                    let d = Duration::from_millis(u64::from(next().unwrap_or(0) % 8));
                    gosan::time::sleep(d);
                }
            }
            _ => {
                // Hand-off: a helper sends on an empty open channel, main receives.
                if m.closed || !m.buf.is_empty() {
                    continue;
                }
                let tx = c.clone();
                go(move || tx.send(v));
                assert_eq!(c.recv(), Some(v), "hand-off");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let ops = data.to_vec();
    let r = gosan::run(move || program(ops));
    assert!(r.is_clean(), "{r}");
});
