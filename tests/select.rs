//! `select!`: ready-arm choice, blocking on all arms, default, nil arms, syntax.

use gosan::{chan, check, go, run, run_with, select, Chan, Config};
use std::collections::HashSet;

#[test]
fn both_ready_arms_get_chosen_over_seeds() {
    let mut seen = HashSet::new();
    for seed in 0..64 {
        let r = run_with(Config::new().seed(seed), || {
            let a: Chan<i32> = chan(1);
            let b: Chan<i32> = chan(1);
            a.send(1);
            b.send(2);
            let got = select! {
                recv(a) -> v => v.unwrap(),
                recv(b) -> v => v.unwrap(),
            };
            assert!(got == 1 || got == 2);
            // report which arm ran through the goroutine-visible channel state
            assert_eq!(a.len() + b.len(), 1);
            if got == 2 {
                panic!("arm b");
            }
        });
        seen.insert(r.panic.map(|p| p.message));
    }
    assert_eq!(
        seen.len(),
        2,
        "both arms must be chosen over 64 seeds: {seen:?}"
    );
}

#[test]
fn choice_is_roughly_uniform() {
    let mut first = 0;
    let n = 400;
    for seed in 0..n {
        let r = run_with(Config::new().seed(seed), || {
            let a: Chan<i32> = chan(1);
            let b: Chan<i32> = chan(1);
            a.send(1);
            b.send(2);
            select! {
                recv(a) -> _v => {},
                recv(b) -> _v => panic!("b"),
            }
        });
        if r.panic.is_none() {
            first += 1;
        }
    }
    assert!(
        (120..=280).contains(&first),
        "arm a chosen {first}/{n} times"
    );
}

#[test]
fn same_seed_same_choice() {
    let pick = |seed| {
        run_with(Config::new().seed(seed), || {
            let cs: Vec<Chan<usize>> = (0..5).map(|_| chan(1)).collect();
            for (i, c) in cs.iter().enumerate() {
                c.send(i);
            }
            let v = select! {
                recv(cs[0]) -> v => v, recv(cs[1]) -> v => v, recv(cs[2]) -> v => v,
                recv(cs[3]) -> v => v, recv(cs[4]) -> v => v,
            };
            panic!("{}", v.unwrap());
        })
        .panic
        .unwrap()
        .message
    };
    for seed in 0..10 {
        assert_eq!(pick(seed), pick(seed));
    }
}

#[test]
fn blocks_on_all_arms_until_one_is_ready() {
    let r = check(Config::new(), 200, || {
        let a: Chan<i32> = chan(0);
        let b: Chan<&'static str> = chan(0);
        let b2 = b.clone();
        go(move || b2.send("from b"));
        let got = select! {
            recv(a) -> _v => "from a",
            recv(b) -> v => v.unwrap(),
        };
        assert_eq!(got, "from b");
        // the stale waiter on `a` must be gone: a later send on `a` must not be lost
        let a2 = a.clone();
        go(move || a2.send(5));
        assert_eq!(a.recv(), Some(5));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn send_arm_hands_off_to_a_waiting_receiver() {
    let r = check(Config::new(), 200, || {
        let a: Chan<i32> = chan(0);
        let out: Chan<i32> = chan(1);
        let (a2, o2) = (a.clone(), out.clone());
        go(move || o2.send(a2.recv().unwrap()));
        let never: Chan<i32> = chan(0);
        select! {
            send(a, 41 + 1) => {},
            recv(never) -> _v => unreachable!(),
        }
        assert_eq!(out.recv(), Some(42));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn two_selects_on_the_same_channels_rendezvous() {
    let r = check(Config::new(), 300, || {
        let c: Chan<i32> = chan(0);
        let d: Chan<i32> = chan(0);
        let (c2, d2) = (c.clone(), d.clone());
        go(move || {
            select! {
                send(c2, 1) => {},
                send(d2, 2) => {},
            }
        });
        let v = select! {
            recv(c) -> v => v,
            recv(d) -> v => v,
        };
        assert!(matches!(v, Some(1) | Some(2)));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn default_runs_when_nothing_is_ready() {
    assert!(run(|| {
        let a: Chan<i32> = chan(0);
        let mut ran = 0;
        select! {
            recv(a) -> _v => unreachable!(),
            default => { ran += 1; }
        }
        assert_eq!(ran, 1);
        let only_default = select! { default => 7 };
        assert_eq!(only_default, 7);
    })
    .is_clean());
}

#[test]
fn closed_channel_arm_is_ready_with_none() {
    assert!(run(|| {
        let a: Chan<i32> = chan(0);
        a.close();
        let v = select! {
            recv(a) -> v => v,
            default => Some(99),
        };
        assert_eq!(v, None);
    })
    .is_clean());
}

#[test]
fn close_wakes_a_blocked_select() {
    let r = check(Config::new(), 100, || {
        let a: Chan<i32> = chan(0);
        let a2 = a.clone();
        go(move || a2.close());
        let never: Chan<i32> = chan(0);
        let v = select! {
            recv(never) -> _v => Some(-1),
            recv(a) -> v => v,
        };
        assert_eq!(v, None);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn send_arm_on_closed_channel_panics() {
    let r = run(|| {
        let a: Chan<i32> = chan(1);
        a.close();
        select! {
            send(a, 1) => {},
            default => {},
        }
    });
    assert_eq!(r.panic.unwrap().message, "send on closed channel");
}

#[test]
fn nil_arm_is_never_ready() {
    let r = check(Config::new(), 50, || {
        let nil: Chan<i32> = Chan::nil();
        let a: Chan<i32> = chan(1);
        a.send(3);
        let v = select! {
            recv(nil) -> _v => unreachable!(),
            send(Chan::nil(), 1) => unreachable!(),
            recv(a) -> v => v,
        };
        assert_eq!(v, Some(3));
    });
    assert!(r.is_clean(), "{r}");
    let r = run(|| {
        let nil: Chan<i32> = Chan::nil();
        select! { recv(nil) -> _v => {} }
    });
    assert_eq!(r.deadlock.unwrap().goroutines[0].wait_reason, "select");
}

#[test]
fn channel_and_value_expressions_are_evaluated_once_in_order() {
    assert!(run(|| {
        let order = std::cell::RefCell::new(Vec::new());
        let a: Chan<i32> = chan(1);
        let b: Chan<i32> = chan(1);
        let pick = |name: &'static str, c: &Chan<i32>| {
            order.borrow_mut().push(name);
            c.clone()
        };
        select! {
            recv(pick("a", &a)) -> _v => {},
            send(pick("b", &b), { order.borrow_mut().push("value"); 1 }) => {},
        }
        assert_eq!(*order.borrow(), vec!["a", "b", "value"]);
    })
    .is_clean());
}

#[test]
fn accepted_channel_expressions_and_control_flow() {
    struct T {
        c: Chan<i32>,
    }
    assert!(run(|| {
        let c: Chan<i32> = chan(8);
        let t = T { c: c.clone() };
        let rx = c.receiver();
        let tx = c.sender();
        let mut total = 0;
        for i in 0..6 {
            c.send(i);
            select! {
                recv(c) -> v => { total += v.unwrap(); continue; }
                default => {}
            }
        }
        tx.send(10);
        select! { recv(&rx) -> v => total += v.unwrap(), }
        tx.send(20);
        select! { recv(t.c) -> v => total += v.unwrap() }
        select! { send(&tx, 30) => {} }
        select! { recv(c.receiver()) -> v => total += v.unwrap() }
        #[allow(clippy::never_loop)] // the point: `break` inside an arm leaves the loop
        let out = loop {
            c.send(1);
            select! {
                recv(rx) -> _v => break total,
            }
        };
        assert_eq!(out, 15 + 10 + 20 + 30);
    })
    .is_clean());
}

#[test]
fn empty_select_blocks_forever() {
    let r = run(|| select! {});
    assert_eq!(
        r.deadlock.unwrap().goroutines[0].wait_reason,
        "select (no cases)"
    );
}
