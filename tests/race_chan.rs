//! Race/no-race pairs for every channel edge of the Go memory model (each no-race
//! test passes only because the edge exists; its twin races without it), explored
//! over many schedules with `check`.

// Race-detector tests: they need the detector compiled in (the default `race` feature).
#![cfg(feature = "race")]

use gosan::{chan, check, go, select, Chan, Config, Report, Shared};

const N: usize = 300;

fn clean(r: Report) {
    assert!(r.is_clean(), "expected no finding:\n{r}");
}

fn racy(r: Report) {
    assert!(!r.races.is_empty(), "expected a data race, got:\n{r}");
}

#[test]
fn send_happens_before_the_matching_receive_completes() {
    clean(check(Config::new(), N, || {
        let x = Shared::new(0);
        let c: Chan<()> = chan(1);
        let (x2, c2) = (x.clone(), c.clone());
        go(move || {
            x2.set(1);
            c2.send(());
        });
        c.recv();
        assert_eq!(x.get(), 1);
    }));
}

#[test]
fn write_after_the_send_races_with_the_receiver() {
    racy(check(Config::new(), N, || {
        let x = Shared::new(0);
        let c: Chan<()> = chan(1);
        let (x2, c2) = (x.clone(), c.clone());
        go(move || {
            c2.send(());
            x2.set(1);
        });
        c.recv();
        x.get();
    }));
}

#[test]
fn unbuffered_receive_happens_before_the_send_completes() {
    clean(check(Config::new(), N, || {
        let x = Shared::new(0);
        let c: Chan<()> = chan(0);
        let done: Chan<()> = chan(1);
        let (x2, c2, d2) = (x.clone(), c.clone(), done.clone());
        go(move || {
            x2.set(1);
            c2.recv();
            d2.send(());
        });
        c.send(());
        x.get(); // ordered: the receive (after the write) → this send's completion
        done.recv();
    }));
}

#[test]
fn buffered_send_does_not_wait_for_the_receive() {
    racy(check(Config::new(), N, || {
        let x = Shared::new(0);
        let c: Chan<()> = chan(1);
        let done: Chan<()> = chan(1);
        let (x2, c2, d2) = (x.clone(), c.clone(), done.clone());
        go(move || {
            x2.set(1);
            c2.recv();
            d2.send(());
        });
        c.send(());
        x.get();
        done.recv();
    }));
}

/// A buffered channel of capacity C as a semaphore: the k-th receive happens before
/// the (k+C)-th send completes. With C = 1 it is a mutex.
fn semaphore(cap: usize) -> Report {
    check(Config::new(), N, move || {
        let x = Shared::new(0);
        let sem: Chan<()> = chan(cap);
        let done: Chan<()> = chan(2);
        for _ in 0..2 {
            let (x, sem, done) = (x.clone(), sem.clone(), done.clone());
            go(move || {
                sem.send(());
                x.update(|v| *v += 1);
                sem.recv();
                done.send(());
            });
        }
        done.recv();
        done.recv();
    })
}

#[test]
fn kth_receive_happens_before_the_k_plus_cap_th_send() {
    clean(semaphore(1));
}

#[test]
fn semaphore_of_two_admits_two_writers() {
    racy(semaphore(2));
}

#[test]
fn close_happens_before_a_receive_that_observes_it() {
    clean(check(Config::new(), N, || {
        let x = Shared::new(0);
        let c: Chan<i32> = chan(0);
        let (x2, c2) = (x.clone(), c.clone());
        go(move || {
            x2.set(1);
            c2.close();
        });
        assert_eq!(c.recv(), None);
        x.get();
    }));
}

#[test]
fn len_is_not_synchronization() {
    racy(check(Config::new(), N, || {
        let x = Shared::new(0);
        let c: Chan<i32> = chan(1);
        let (x2, c2) = (x.clone(), c.clone());
        go(move || {
            x2.set(1);
            c2.send(1);
        });
        while c.is_empty() {
            gosan::gosched();
        }
        x.get();
    }));
}

#[test]
fn send_concurrent_with_close_is_a_race_on_the_channel() {
    let r = check(Config::new(), N, || {
        let c: Chan<i32> = chan(1);
        let c2 = c.clone();
        let done: Chan<()> = chan(1);
        let d2 = done.clone();
        go(move || {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c2.send(1)));
            d2.send(());
        });
        c.close();
        done.recv();
    });
    racy(r);
}

#[test]
fn send_then_close_in_one_goroutine_is_not_a_race() {
    clean(check(Config::new(), N, || {
        let c: Chan<i32> = chan(1);
        let c2 = c.clone();
        go(move || {
            c2.send(1);
            c2.close();
        });
        while c.recv().is_some() {}
    }));
}

#[test]
fn select_receive_arm_synchronizes_like_a_receive() {
    clean(check(Config::new(), N, || {
        let x = Shared::new(0);
        let a: Chan<()> = chan(0);
        let b: Chan<()> = chan(0);
        let (x2, a2) = (x.clone(), a.clone());
        go(move || {
            x2.set(1);
            a2.send(());
        });
        select! {
            recv(a) -> _v => {},
            recv(b) -> _v => unreachable!(),
        }
        x.get();
    }));
}

#[test]
fn select_send_arm_synchronizes_like_a_send() {
    clean(check(Config::new(), N, || {
        let x = Shared::new(0);
        let a: Chan<()> = chan(0);
        let (x2, a2) = (x.clone(), a.clone());
        go(move || {
            a2.recv();
            x2.get();
        });
        x.set(1);
        select! {
            send(a, ()) => {},
        }
    }));
}

#[test]
fn select_default_is_not_synchronization() {
    racy(check(Config::new(), N, || {
        let x = Shared::new(0);
        let a: Chan<()> = chan(0);
        let x2 = x.clone();
        let a2 = a.clone();
        go(move || {
            x2.set(1);
            let _ = a2;
        });
        select! {
            recv(a) -> _v => {},
            default => {},
        }
        x.get();
    }));
}

#[test]
fn detection_off_reports_nothing() {
    clean(check(Config::new().detect_races(false), 50, || {
        let x = Shared::new(0);
        let x2 = x.clone();
        go(move || x2.set(1));
        x.get();
    }));
}
