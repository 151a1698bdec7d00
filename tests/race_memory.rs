//! Instrumented memory: `Shared<T>`, `SharedVec<T>`, `RaceCell<T>`, the raw
//! annotations, the seed book's race examples and their fixes, `#[gosan::test]`.

// Race-detector tests: they need the detector compiled in (the default `race` feature).
#![cfg(feature = "race")]

use gosan::{chan, check, go, Chan, Config, RaceCell, Report, Shared, SharedVec};
use std::sync::Arc;

const N: usize = 300;

fn clean(r: Report) {
    assert!(r.is_clean(), "expected no finding:\n{r}");
}

fn racy(r: Report) {
    assert!(!r.races.is_empty(), "expected a data race, got:\n{r}");
}

/// The book's `num += a` from two goroutines, joined by a channel.
#[test]
fn book_num_plus_equals_races() {
    racy(check(Config::new(), N, || {
        let num = Shared::new(0i64);
        let done: Chan<()> = chan(2);
        for a in [1, -1] {
            let (num, done) = (num.clone(), done.clone());
            go(move || {
                num.update(|n| *n += a);
                done.send(());
            });
        }
        done.recv();
        done.recv();
        num.get();
    }));
}

/// The book's fix of `append` to a shared slice: results collected over a channel.
#[test]
fn book_append_races_and_channel_fix_is_clean() {
    racy(check(Config::new(), N, || {
        let dst = SharedVec::new();
        let done: Chan<()> = chan(5);
        for s in 1..=5 {
            let (dst, done) = (dst.clone(), done.clone());
            go(move || {
                dst.push(s * 2);
                done.send(());
            });
        }
        for _ in 0..5 {
            done.recv();
        }
    }));
    clean(check(Config::new(), N, || {
        let dst = SharedVec::new();
        let c: Chan<i32> = chan(0);
        for s in 1..=5 {
            let c = c.clone();
            go(move || c.send(s * 2));
        }
        for _ in 0..5 {
            dst.push(c.recv().unwrap());
        }
        assert_eq!(dst.len(), 5);
    }));
}

#[test]
fn shared_vec_elements_are_separate_locations() {
    clean(check(Config::new(), N, || {
        let v = SharedVec::new();
        v.push(0);
        v.push(0);
        let done: Chan<()> = chan(2);
        for i in 0..2 {
            let (v, done) = (v.clone(), done.clone());
            go(move || {
                v.set(i, 1); // different elements: no race
                done.send(());
            });
        }
        done.recv();
        done.recv();
        assert_eq!((v.get(0), v.get(1)), (1, 1));
    }));
    racy(check(Config::new(), N, || {
        let v = SharedVec::new();
        v.push(0);
        let v2 = v.clone();
        go(move || v2.set(0, 1));
        v.get(0);
    }));
}

#[test]
fn shared_vec_index_out_of_range_panics_like_go() {
    let r = gosan::run(|| {
        let v: SharedVec<i32> = SharedVec::new();
        v.push(1);
        v.get(5);
    });
    assert_eq!(
        r.panic.unwrap().message,
        "runtime error: index out of range [5] with length 1"
    );
}

#[test]
fn race_cell_for_unsafe_code() {
    racy(check(Config::new(), N, || {
        let c = Arc::new(RaceCell::new(0u64));
        let c2 = c.clone();
        go(move || {
            c2.with_mut(|p| {
                // SAFETY: `p` points at the cell's value; goroutines run one at a
                // time, and the cell's closures cannot switch, so nothing else
                // accesses it now (the detector's verdict is what is under test).
                unsafe { *p += 1 }
            })
        });
        // SAFETY: as above.
        c.with(|p| unsafe { *p });
    }));
    clean(check(Config::new(), N, || {
        let c = Arc::new(RaceCell::new(0u64));
        let done: Chan<()> = chan(0);
        let (c2, d2) = (c.clone(), done.clone());
        go(move || {
            // SAFETY: as above.
            c2.with_mut(|p| unsafe { *p += 1 });
            d2.send(());
        });
        done.recv();
        // SAFETY: as above.
        assert_eq!(c.with(|p| unsafe { *p }), 1);
    }));
}

#[test]
fn raw_annotations_release_acquire() {
    // A hand-made flag: release/acquire annotations on its address order the data.
    fn program(annotate: bool) -> Report {
        check(Config::new(), N, move || {
            let data = Arc::new(RaceCell::new(0u64));
            let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (d2, f2) = (data.clone(), flag.clone());
            go(move || {
                // SAFETY: goroutines run one at a time.
                d2.with_mut(|p| unsafe { *p = 42 });
                if annotate {
                    gosan::race::release(Arc::as_ptr(&f2));
                }
                f2.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                gosan::gosched();
            }
            if annotate {
                gosan::race::acquire(Arc::as_ptr(&flag));
            }
            // SAFETY: as above.
            assert_eq!(data.with(|p| unsafe { *p }), 42);
        })
    }
    clean(program(true));
    racy(program(false));
}

#[test]
fn raw_read_write_annotations() {
    racy(check(Config::new(), N, || {
        let x = Arc::new(0u64);
        let x2 = x.clone();
        go(move || gosan::race::write(Arc::as_ptr(&x2)));
        gosan::race::read(Arc::as_ptr(&x));
    }));
    racy(check(Config::new(), N, || {
        let buf = Arc::new([0u8; 64]);
        let b2 = buf.clone();
        // overlapping byte ranges race, disjoint ones do not
        go(move || gosan::race::write_range(b2.as_ptr(), 16));
        // SAFETY: offset 8 is inside the 64-byte buffer.
        gosan::race::read_range(unsafe { buf.as_ptr().add(8) }, 16);
    }));
    clean(check(Config::new(), N, || {
        let buf = Arc::new([0u8; 64]);
        let b2 = buf.clone();
        go(move || gosan::race::write_range(b2.as_ptr(), 16));
        // SAFETY: offset 16 is inside the 64-byte buffer.
        gosan::race::read_range(unsafe { buf.as_ptr().add(16) }, 16);
    }));
}

#[test]
fn blocking_inside_a_shared_closure_is_a_clear_error() {
    let r = gosan::run(|| {
        let x = Shared::new(0);
        let c: Chan<i32> = chan(0);
        x.with(|_| c.recv());
    });
    let p = r.panic.expect("must panic");
    assert!(p.message.contains("must not block"), "{}", p.message);
}

#[test]
fn goroutine_slot_reuse_does_not_hide_a_race() {
    // Many finished goroutines before the racing pair: their slots get reused.
    racy(check(Config::new(), 100, || {
        let done: Chan<()> = chan(0);
        for _ in 0..50 {
            let d = done.clone();
            go(move || d.send(()));
            done.recv();
        }
        let x = Shared::new(0);
        let x2 = x.clone();
        go(move || x2.set(1));
        go(move || {
            let _ = x.get();
        });
    }));
}

#[gosan::test]
fn gosan_test_attribute_runs_clean_code() {
    let c: Chan<i32> = chan(1);
    c.send(1);
    assert_eq!(c.recv(), Some(1));
}

#[gosan::test(iterations = 50, strategy = "pct:2")]
fn gosan_test_attribute_with_check() {
    let x = Shared::new(0);
    let done: Chan<()> = chan(0);
    let (x2, d2) = (x.clone(), done.clone());
    go(move || {
        x2.set(1);
        d2.send(());
    });
    done.recv();
    assert_eq!(x.get(), 1);
}

#[test]
#[ignore = "run as a child process by gosan_test_fails_with_the_report"]
fn racy_child() {
    if std::env::var_os("GOSAN_RACE_MARKER").is_none() {
        return;
    }
    gosan::__private::test_check(Config::new(), 200, || {
        let x = Shared::new(0);
        let x2 = x.clone();
        go(move || x2.set(1));
        x.get();
    });
}

#[test]
fn gosan_test_fails_with_the_report_and_marks_races() {
    let marker = std::env::temp_dir().join(format!("gosan-marker-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["racy_child", "--exact", "--ignored", "--nocapture"])
        .env("GOSAN_RACE_MARKER", &marker)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("WARNING: DATA RACE"), "{text}");
    assert!(text.contains("Found 1 data race(s)"), "{text}");
    let m = std::fs::read_to_string(&marker).expect("marker written");
    assert!(m.contains("racy_child: 1 data race(s)"), "{m}");
    let _ = std::fs::remove_file(&marker);
}
