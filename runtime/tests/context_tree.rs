//! Go's `context`: cancellation trees, deadlines on the virtual clock.

use gosan_runtime::context::{
    background, with_cancel, with_deadline, with_timeout, CancelFunc, Context, ContextError,
};
use gosan_runtime::time::{now, sleep, Duration};
use gosan_runtime::{chan, go, run, run_with, select, Chan, Config};
use std::sync::{Arc, Mutex};

const S: Duration = Duration::from_secs(1);

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

#[test]
fn handles_are_send_sync_clone() {
    assert_send_sync_clone::<Context>();
    assert_send_sync_clone::<CancelFunc>();
    assert_send_sync_clone::<ContextError>();
}

#[test]
fn cancel_closes_done_and_sets_canceled() {
    let r = run(|| {
        let (ctx, cancel) = with_cancel(&background());
        assert_eq!(ctx.err(), None);
        assert!(ctx.done().try_recv().is_err());
        cancel.cancel();
        assert_eq!(ctx.done().recv(), None, "done is closed");
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
        cancel.cancel(); // idempotent
        cancel.clone().cancel();
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn cancel_wakes_a_goroutine_waiting_on_done() {
    let r = run(|| {
        let (ctx, cancel) = with_cancel(&background());
        let out: Chan<Option<ContextError>> = chan(0);
        let o = out.clone();
        go(move || {
            ctx.done().recv();
            o.send(ctx.err());
        });
        sleep(S);
        cancel.cancel();
        assert_eq!(out.recv(), Some(Some(ContextError::Canceled)));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn parent_cancel_cancels_children_and_grandchildren() {
    // The sibling's hour-long deadline must not race the work (timer_race=0).
    let r = run_with(Config::new().timer_race(0.0), || {
        let (parent, cancel) = with_cancel(&background());
        let (child, _c1) = with_cancel(&parent);
        let (sibling, _c2) = with_timeout(&parent, 3600 * S);
        let (grandchild, _c3) = with_cancel(&child);
        let woke: Chan<&'static str> = chan(3);
        for (name, ctx) in [
            ("child", child.clone()),
            ("sibling", sibling.clone()),
            ("grandchild", grandchild.clone()),
        ] {
            let w = woke.clone();
            go(move || {
                ctx.done().recv();
                w.send(name);
            });
        }
        sleep(S);
        assert_eq!(woke.len(), 0);
        let start = now();
        cancel.cancel();
        let mut names: Vec<_> = (0..3).map(|_| woke.recv().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["child", "grandchild", "sibling"]);
        assert_eq!(now(), start, "synchronous: no time passes");
        for c in [&parent, &child, &sibling, &grandchild] {
            assert_eq!(c.err(), Some(ContextError::Canceled));
        }
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn cancelling_a_child_leaves_parent_and_siblings_alone() {
    let r = run(|| {
        let (parent, pcancel) = with_cancel(&background());
        let (child, ccancel) = with_cancel(&parent);
        let (sibling, _s) = with_cancel(&parent);
        let (grandchild, _g) = with_cancel(&child);
        ccancel.cancel();
        assert_eq!(child.err(), Some(ContextError::Canceled));
        assert_eq!(grandchild.err(), Some(ContextError::Canceled));
        assert_eq!(parent.err(), None);
        assert_eq!(sibling.err(), None);
        pcancel.cancel();
        assert_eq!(sibling.err(), Some(ContextError::Canceled));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn child_of_a_done_parent_is_done_at_once_with_its_error() {
    let r = run(|| {
        let (p, cancel) = with_cancel(&background());
        cancel.cancel();
        let (c, _) = with_cancel(&p);
        assert_eq!(c.err(), Some(ContextError::Canceled));
        assert_eq!(c.done().recv(), None);

        let (t, _) = with_timeout(&background(), S);
        t.done().recv();
        let (c2, _) = with_timeout(&t, 3600 * S);
        assert_eq!(c2.err(), Some(ContextError::DeadlineExceeded));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn with_timeout_fires_deadline_exceeded_at_the_exact_virtual_deadline() {
    let r = run(|| {
        let start = now();
        let (ctx, _cancel) = with_timeout(&background(), 5 * S);
        assert_eq!(ctx.deadline(), Some(start + 5 * S));
        assert_eq!(ctx.done().recv(), None);
        assert_eq!(now() - start, 5 * S);
        assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn cancel_before_the_deadline_wins() {
    let r = run(|| {
        let (ctx, cancel) = with_timeout(&background(), S);
        cancel.cancel();
        sleep(2 * S);
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn deadline_in_the_past_is_exceeded_at_once() {
    let r = run(|| {
        sleep(S);
        let start = now();
        let (ctx, _) = with_deadline(&background(), start - S / 2);
        assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
        let (ctx2, _) = with_deadline(&background(), start);
        assert_eq!(
            ctx2.err(),
            Some(ContextError::DeadlineExceeded),
            "a deadline of now is due"
        );
        let (ctx3, _) = with_timeout(&background(), Duration::ZERO);
        assert_eq!(ctx3.err(), Some(ContextError::DeadlineExceeded));
        assert_eq!(now(), start);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn select_on_done_versus_work() {
    // Exact timing: the deadline must not race the runnable worker (timer_race=0).
    let r = run_with(Config::new().timer_race(0.0), || {
        let start = now();
        let (ctx, _cancel) = with_timeout(&background(), 3 * S);
        let work: Chan<u32> = chan(0);
        let w = work.clone();
        go(move || {
            for i in 0.. {
                sleep(S);
                w.send(i);
            }
        });
        let mut got = Vec::new();
        loop {
            select! {
                recv(ctx.done()) -> v => { assert_eq!(v, None); break },
                recv(work) -> v => got.push(v.unwrap()),
            }
        }
        // Work at 1s and 2s; at 3s the timer (armed first) fires before the sleeper.
        assert_eq!(got, [0, 1]);
        assert_eq!(now() - start, 3 * S);
        assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
    });
    // The worker's third send (its sleep is due at 3s too, and a due timer fires at
    // the next scheduling point) can never complete: a partial deadlock or a leak,
    // never a global deadlock.
    assert!(
        r.deadlock.as_ref().is_none_or(|d| !d.global) && r.panic.is_none(),
        "{r}"
    );
}

#[test]
fn background_is_never_done_and_its_done_is_nil() {
    let r = run(|| {
        let bg = background();
        let took_default = select! {
            recv(bg.done()) -> _ => false,
            default => true,
        };
        assert!(took_default);
        assert_eq!(bg.done(), gosan_runtime::RecvChan::nil());
        assert_eq!(bg.err(), None);
        assert_eq!(bg.deadline(), None);
        assert_eq!(format!("{bg:?}"), "context.Background");
        let (c, _) = with_cancel(&bg);
        assert_eq!(c.deadline(), None);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn deadlines_are_inherited_when_the_parent_is_earlier() {
    let r = run(|| {
        let start = now();
        let (p, _pc) = with_timeout(&background(), 2 * S);
        let (later, _) = with_timeout(&p, 10 * S);
        assert_eq!(
            later.deadline(),
            Some(start + 2 * S),
            "the parent's earlier deadline"
        );
        let (earlier, _) = with_timeout(&p, S);
        assert_eq!(earlier.deadline(), Some(start + S));
        let (plain, _) = with_cancel(&p);
        assert_eq!(plain.deadline(), Some(start + 2 * S));

        earlier.done().recv();
        assert_eq!(now() - start, S);
        assert_eq!(earlier.err(), Some(ContextError::DeadlineExceeded));
        assert_eq!(
            p.err(),
            None,
            "a child's deadline does not touch the parent"
        );
        later.done().recv();
        assert_eq!(now() - start, 2 * S);
        assert_eq!(later.err(), Some(ContextError::DeadlineExceeded));
        assert_eq!(plain.err(), Some(ContextError::DeadlineExceeded));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn done_channel_outlives_its_context() {
    let r = run(|| {
        let start = now();
        let done = with_timeout(&background(), S).0.done();
        assert_eq!(done.recv(), None);
        assert_eq!(now() - start, S);

        let (p, cancel) = with_cancel(&background());
        let child_done = with_cancel(&p).0.done();
        cancel.cancel();
        assert_eq!(child_done.recv(), None, "the parent still closes it");
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn parent_timer_cancels_children_after_parent_handles_are_gone() {
    let r = run(|| {
        let (p, pc) = with_timeout(&background(), S);
        let (child, _cc) = with_cancel(&p);
        drop((p, pc));
        assert_eq!(child.done().recv(), None);
        assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn polling_err_lets_the_deadline_arrive() {
    let r = run(|| {
        let start = now();
        let (ctx, _c) = with_timeout(&background(), S);
        let mut polls = 0u64;
        while ctx.err().is_none() {
            polls += 1;
        }
        assert!(polls > 0);
        assert_eq!(now() - start, S);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn waiting_on_a_context_without_deadline_is_a_deadlock() {
    let r = run(|| {
        let (ctx, _cancel) = with_cancel(&background());
        ctx.done().recv();
    });
    let d = r.deadlock.as_ref().expect("deadlock");
    assert!(d.global);
    assert_eq!(d.goroutines[0].wait_reason, "chan receive");
}

#[test]
fn context_error_texts() {
    assert_eq!(ContextError::Canceled.to_string(), "context canceled");
    assert_eq!(
        ContextError::DeadlineExceeded.to_string(),
        "context deadline exceeded"
    );
    let e: Box<dyn std::error::Error> = Box::new(ContextError::Canceled);
    assert_eq!(e.to_string(), "context canceled");
}

#[test]
fn cancellation_order_is_deterministic_per_seed() {
    let once = |seed: u64| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let r = run_with(Config::new().seed(seed), move || {
            let (root, cancel) = with_timeout(&background(), 2 * S);
            let done: Chan<()> = chan(0);
            for i in 0..6 {
                let (ctx, _) = if i % 2 == 0 {
                    with_cancel(&root)
                } else {
                    with_timeout(&root, S * i)
                };
                let (l, done) = (l.clone(), done.clone());
                go(move || {
                    ctx.done().recv();
                    let e = ctx.err(); // a scheduling point: not under the std lock
                    l.lock().unwrap().push((i, now(), e));
                    done.send(());
                });
            }
            sleep(S / 2);
            let _ = &cancel;
            for _ in 0..6 {
                done.recv();
            }
        });
        assert!(r.is_clean(), "{r}");
        let log = log.lock().unwrap().clone();
        (r.schedule, log)
    };
    for seed in [5u64, 6] {
        assert_eq!(once(seed), once(seed));
    }
}
