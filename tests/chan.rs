//! Channels as Go's hchan: rendezvous, ring buffer, FIFO wait queues, close, nil.

use gosan::{chan, check, go, run, run_with, Chan, Config, Strategy, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};

fn clean(r: gosan::Report) {
    assert!(r.is_clean(), "{r}");
}

#[test]
fn unbuffered_send_waits_for_the_receiver() {
    // A send on an unbuffered channel completes only once a receiver took the value.
    let r = check(Config::new(), 100, || {
        let c: Chan<i32> = chan(0);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (c2, l2) = (c.clone(), log.clone());
        go(move || {
            c2.send(7);
            l2.lock().unwrap().push("sent");
        });
        gosan::gosched();
        log.lock().unwrap().push("before recv");
        assert_eq!(c.recv(), Some(7));
        gosan::time::sleep(std::time::Duration::from_millis(1));
        assert_eq!(*log.lock().unwrap(), vec!["before recv", "sent"]);
    });
    clean(r);
}

#[test]
fn buffered_channel_is_a_fifo_ring() {
    clean(run(|| {
        let c: Chan<i32> = chan(3);
        c.send(1);
        c.send(2);
        c.send(3);
        assert_eq!((c.len(), c.cap()), (3, 3));
        assert_eq!(c.try_send(4), Err(TrySendError::Full(4)));
        assert_eq!(c.recv(), Some(1));
        c.send(4);
        assert_eq!((c.recv(), c.recv(), c.recv()), (Some(2), Some(3), Some(4)));
        assert_eq!(c.try_recv(), Err(TryRecvError::Empty));
    }));
}

#[test]
fn blocked_senders_keep_fifo_order_through_the_buffer() {
    let r = check(Config::new(), 200, || {
        let c: Chan<i32> = chan(1);
        for i in 0..4 {
            let c = c.clone();
            go(move || c.send(i));
            // in virtual time a sleep returns once every other goroutine is blocked:
            // sender i has filled the buffer or queued itself before i+1 starts
            gosan::time::sleep(std::time::Duration::from_millis(1));
        }
        let got: Vec<i32> = (0..4).map(|_| c.recv().unwrap()).collect();
        assert_eq!(got, vec![0, 1, 2, 3]);
    });
    clean(r);
}

#[test]
fn close_wakes_every_receiver_with_none() {
    let r = check(Config::new(), 100, || {
        let c: Chan<i32> = chan(0);
        let done: Chan<Option<i32>> = chan(3);
        for _ in 0..3 {
            let (c, done) = (c.clone(), done.clone());
            go(move || done.send(c.recv()));
        }
        c.close();
        for _ in 0..3 {
            assert_eq!(done.recv(), Some(None));
        }
    });
    clean(r);
}

#[test]
fn receive_drains_buffer_after_close() {
    clean(run(|| {
        let c: Chan<i32> = chan(2);
        c.send(1);
        c.send(2);
        c.close();
        assert_eq!(c.recv(), Some(1));
        assert_eq!(c.try_recv(), Ok(2));
        assert_eq!(c.recv(), None);
        assert_eq!(c.try_recv(), Err(TryRecvError::Closed));
    }));
}

#[test]
fn range_over_channel_stops_at_close() {
    clean(run(|| {
        let c: Chan<i32> = chan(0);
        let tx = c.sender();
        go(move || {
            for i in 0..5 {
                tx.send(i);
            }
            tx.close();
        });
        let rx = c.receiver();
        let mut got = Vec::new();
        for v in &rx {
            got.push(v);
        }
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        let mut again = Vec::new();
        for v in &c {
            again.push(v);
        }
        assert!(again.is_empty());
    }));
}

fn panic_message(r: &gosan::Report) -> &str {
    &r.panic.as_ref().expect("expected a panic").message
}

#[test]
fn send_on_closed_channel_panics_with_go_text() {
    let r = run(|| {
        let c: Chan<i32> = chan(1);
        c.close();
        c.send(1);
    });
    assert_eq!(panic_message(&r), "send on closed channel");
    assert!(!r.panic.as_ref().unwrap().fatal);
    assert!(
        r.to_string()
            .starts_with("panic: send on closed channel\n\ngoroutine 1 [running]:\n"),
        "{r}"
    );
}

#[test]
fn blocked_sender_panics_when_channel_is_closed() {
    let r = run(|| {
        let c: Chan<i32> = chan(0);
        let c2 = c.clone();
        go(move || c2.send(1));
        gosan::time::sleep(std::time::Duration::from_millis(1)); // sender is parked now
        c.close();
        gosan::time::sleep(std::time::Duration::from_millis(1));
    });
    assert_eq!(panic_message(&r), "send on closed channel");
    assert_eq!(r.panic.as_ref().unwrap().goroutine.id, 2);
}

#[test]
fn try_send_on_closed_channel_panics() {
    let r = run(|| {
        let c: Chan<i32> = chan(1);
        c.close();
        let _ = c.try_send(1);
    });
    assert_eq!(panic_message(&r), "send on closed channel");
}

#[test]
fn close_of_closed_and_nil_channel_panic_with_go_text() {
    let r = run(|| {
        let c: Chan<i32> = chan(0);
        c.close();
        c.close();
    });
    assert_eq!(panic_message(&r), "close of closed channel");
    let r = run(|| Chan::<i32>::nil().close());
    assert_eq!(panic_message(&r), "close of nil channel");
}

#[test]
fn recovered_panic_is_not_a_finding() {
    clean(run(|| {
        let c: Chan<i32> = chan(0);
        c.close();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.close()));
        let msg = caught.unwrap_err();
        assert_eq!(msg.downcast_ref::<&str>(), Some(&"close of closed channel"));
    }));
}

#[test]
fn nil_channel_blocks_forever() {
    let r = run(|| {
        let c: Chan<i32> = Chan::nil();
        assert!(c.is_nil());
        assert_eq!((c.len(), c.cap()), (0, 0));
        assert_eq!(c.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(c.try_send(1), Err(TrySendError::Full(1)));
        c.recv();
    });
    let d = r.deadlock.expect("nil receive blocks forever");
    assert_eq!(d.goroutines[0].wait_reason, "chan receive (nil chan)");
}

#[test]
fn try_send_on_unbuffered_without_receiver_is_full() {
    clean(run(|| {
        let c: Chan<i32> = chan(0);
        assert_eq!(c.try_send(1), Err(TrySendError::Full(1)));
        assert_eq!(c.try_recv(), Err(TryRecvError::Empty));
    }));
}

#[test]
fn try_send_hands_off_to_a_waiting_receiver() {
    clean(run(|| {
        let c: Chan<i32> = chan(0);
        let out: Chan<Option<i32>> = chan(1);
        let (c2, o2) = (c.clone(), out.clone());
        go(move || o2.send(c2.recv()));
        // spin with try_send: failed tries yield, so the receiver gets to park
        while let Err(TrySendError::Full(_)) = c.try_send(9) {}
        assert_eq!(out.recv(), Some(Some(9)));
    }));
}

#[test]
fn spin_on_try_recv_terminates_under_every_strategy() {
    for s in [
        Strategy::Random,
        Strategy::RoundRobin,
        Strategy::Pct { depth: 3 },
    ] {
        for seed in 0..20 {
            let r = run_with(Config::new().seed(seed).strategy(s.clone()), || {
                let c: Chan<i32> = chan(1);
                let c2 = c.clone();
                go(move || c2.send(5));
                loop {
                    match c.try_recv() {
                        Ok(v) => {
                            assert_eq!(v, 5);
                            break;
                        }
                        Err(TryRecvError::Empty) => continue,
                        Err(TryRecvError::Closed) => unreachable!(),
                    }
                }
            });
            assert!(r.is_clean(), "{s:?} seed {seed}: {r}");
        }
    }
}

#[test]
fn directional_views_and_equality() {
    clean(run(|| {
        let c: Chan<&'static str> = chan(1);
        let (tx, rx) = (c.sender(), c.receiver());
        assert_eq!(c, c.clone());
        assert_ne!(c, chan(1));
        assert_eq!(Chan::<i32>::nil(), Chan::nil());
        tx.send("hi");
        assert_eq!((tx.len(), rx.cap()), (1, 1));
        assert_eq!(rx.recv(), Some("hi"));
        tx.close();
        assert_eq!(rx.recv(), None);
    }));
}

#[test]
fn values_are_moved_not_copied_and_dropped_once() {
    let counter = Arc::new(());
    let c2 = counter.clone();
    clean(run(move || {
        let c: Chan<Arc<()>> = chan(4);
        for _ in 0..3 {
            c.send(c2.clone());
        }
        drop(c.recv());
        // two values left in the buffer are dropped with the channel
    }));
    assert_eq!(Arc::strong_count(&counter), 1);
}

#[test]
fn channel_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Chan<String>>();
    assert_send_sync::<gosan::SendChan<String>>();
    assert_send_sync::<gosan::RecvChan<String>>();
}
