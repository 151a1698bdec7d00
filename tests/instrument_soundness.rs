//! Issue 6, "no UB reachable from safe code", for the instrumented cells: each case
//! that used to alias `&T` with `&mut T`, reallocate under a live slice or race
//! between OS threads is now a clear panic naming the object's creation site (or,
//! where nothing overlaps, a correct result). The thread cases run in child processes
//! (this test binary, re-executed) so that a regression shows up as a failed
//! assertion on the child's exit status, never as this runner dying of SIGSEGV.

use gosan::{go, run, Chan, RaceCell, Report, Shared, SharedVec};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

/// 1-based line of the line in this file that ends with `marker`.
fn line_of(marker: &str) -> usize {
    1 + include_str!("instrument_soundness.rs")
        .lines()
        .position(|l| l.ends_with(marker))
        .unwrap_or_else(|| panic!("marker {marker}"))
}

/// The run's panic message, which must exist.
fn panic_message(r: &Report) -> String {
    match &r.panic {
        Some(p) => {
            assert!(!p.fatal, "an ordinary panic, not a fatal error:\n{r}");
            p.message.clone()
        }
        None => panic!("expected the run to panic, got:\n{r}"),
    }
}

/// `msg` names `kind<ty>`, its creation site at the line marked `marker`, and
/// the conflict `what`.
#[track_caller]
fn assert_conflict(msg: &str, kind_ty: &str, marker: &str, what: &str) {
    let site = format!(
        "gosan: {kind_ty} created at tests/instrument_soundness.rs:{}:",
        line_of(marker)
    );
    assert!(msg.starts_with(&site), "want prefix {site:?}, got {msg:?}");
    assert!(msg.contains(&format!(" {what}: ")), "want {what:?}: {msg}");
}

fn payload_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// ── re-entrancy inside a run: the run's report carries the panic ────────────────

/// The reporter's case: a `&u64` into the vector kept across a `with_mut` of a
/// clone that replaces the vector (it used to print freed memory).
#[test]
fn with_mut_through_a_clone_inside_with_panics() {
    let printed = std::sync::Arc::new(AtomicUsize::new(0));
    let p = printed.clone();
    let r = run(move || {
        let x = Shared::new(vec![1u64; 4]); // site: reporter
        let x2 = x.clone();
        x.with(|v| {
            let f = &v[0];
            x2.with_mut(|m| *m = vec![7; 1000]);
            p.store(*f as usize, Ordering::Relaxed);
        });
    });
    let msg = panic_message(&r);
    assert_conflict(
        &msg,
        "Shared<alloc::vec::Vec<u64>>",
        "// site: reporter",
        "already borrowed",
    );
    assert_eq!(printed.load(Ordering::Relaxed), 0, "the closure went on");
    // the report points at the offending call
    let top = &r.panic.as_ref().unwrap().goroutine.stack;
    assert!(
        top.iter()
            .any(|f| f.file.ends_with("tests/instrument_soundness.rs")),
        "{r}"
    );
}

#[test]
fn with_inside_with_mut_panics() {
    let r = run(|| {
        let x = Shared::new(String::from("a")); // site: with in with_mut
        x.with_mut(|s| {
            s.push('b');
            x.with(|t| t.len())
        });
    });
    assert_conflict(
        &panic_message(&r),
        "Shared<alloc::string::String>",
        "// site: with in with_mut",
        "already mutably borrowed",
    );
}

#[test]
fn with_mut_inside_with_mut_panics() {
    let r = run(|| {
        let x = Shared::new(vec![0u8]); // site: with_mut in with_mut
        let y = x.clone();
        x.with_mut(|a| y.with_mut(|b| std::mem::swap(a, b)));
    });
    assert_conflict(
        &panic_message(&r),
        "Shared<alloc::vec::Vec<u8>>",
        "// site: with_mut in with_mut",
        "already mutably borrowed",
    );
}

#[test]
fn get_set_update_inside_with_mut_panic() {
    for op in 0..3 {
        let r = run(move || {
            let x = Shared::new(5i64); // site: copy ops
            x.with_mut(|v| {
                *v += 1;
                match op {
                    0 => {
                        x.get();
                    }
                    1 => x.set(9),
                    _ => x.update(|n| *n += 1),
                }
            });
        });
        assert_conflict(
            &panic_message(&r),
            "Shared<i64>",
            "// site: copy ops",
            "already mutably borrowed",
        );
    }
}

#[test]
fn set_inside_with_panics() {
    let r = run(|| {
        let x = Shared::new(1u32); // site: set in with
        x.with(|v| x.set(*v + 1));
    });
    assert_conflict(
        &panic_message(&r),
        "Shared<u32>",
        "// site: set in with",
        "already borrowed",
    );
}

/// Shared borrows nest (as `RefCell`'s do), and every borrow ends with its call.
#[test]
fn nested_reads_are_allowed_and_borrows_end() {
    let r = run(|| {
        let x = Shared::new(vec![1, 2, 3]);
        let n = x.with(|a| x.with(|b| a.len() + b.len()));
        assert_eq!(n, 6);
        let c = Shared::new(4u8);
        assert_eq!(c.with(|v| *v + c.get()), 8);
        x.with_mut(|v| v.push(4));
        c.set(1);
        assert_eq!(x.with(|v| v.len()), 4);
        // across goroutines: each borrow ended before the next one began
        let done: Chan<()> = gosan::chan(0);
        let (x2, d2) = (x.clone(), done.clone());
        go(move || {
            x2.with_mut(|v| v.push(5));
            d2.send(());
        });
        done.recv();
        assert_eq!(x.with(|v| v.len()), 5);
    });
    assert!(r.is_clean(), "{r}");
}

/// A borrow panic is an ordinary panic: `catch_unwind` recovers it (Go's `recover`)
/// and the value is usable again afterwards, so the run is clean.
#[test]
fn recovered_borrow_panic_releases_the_borrow() {
    let r = run(|| {
        let x = Shared::new(1u64);
        let caught = catch_unwind(AssertUnwindSafe(|| x.with(|v| x.set(*v + 1))));
        let msg = payload_text(&*caught.unwrap_err());
        assert!(msg.contains("already borrowed"), "{msg}");
        x.set(7);
        assert_eq!(x.get(), 7);
    });
    assert!(r.is_clean(), "{r}");
}

// ── SharedVec ───────────────────────────────────────────────────────────────────

/// A `push` inside `with` could reallocate the vector under the slice the closure
/// holds.
#[test]
fn push_inside_shared_vec_with_panics() {
    let r = run(|| {
        let v = SharedVec::new(); // site: push in with
        v.push(1u64);
        let v2 = v.clone();
        v.with(|s| {
            let first = &s[0];
            for i in 0..100 {
                v2.push(i);
            }
            assert_eq!(*first, 1);
        });
    });
    assert_conflict(
        &panic_message(&r),
        "SharedVec<u64>",
        "// site: push in with",
        "already borrowed",
    );
}

#[test]
fn set_inside_shared_vec_with_panics() {
    let r = run(|| {
        let v = SharedVec::new(); // site: set in vec with
        v.push(String::from("a"));
        v.with(|s| v.set(0, s[0].clone() + "b"));
    });
    assert_conflict(
        &panic_message(&r),
        "SharedVec<alloc::string::String>",
        "// site: set in vec with",
        "already borrowed",
    );
}

#[test]
fn reads_inside_shared_vec_with_are_allowed() {
    let r = run(|| {
        let v = SharedVec::new();
        v.push(3u32);
        v.push(4);
        let total = v.with(|s| s.iter().sum::<u32>() + v.get(1) + v.len() as u32);
        assert_eq!(total, 3 + 4 + 4 + 2);
        v.set(0, 9);
        assert_eq!(v.get(0), 9);
    });
    assert!(r.is_clean(), "{r}");
}

/// `set` drops the old element after releasing the vector: a destructor that
/// reads the same vector works (it would otherwise hit its own exclusive borrow).
#[test]
fn shared_vec_set_drops_the_old_element_outside_the_borrow() {
    struct Peek(Option<SharedVec<Peek>>, std::sync::Arc<AtomicUsize>);
    impl Drop for Peek {
        fn drop(&mut self) {
            if let Some(v) = self.0.take() {
                self.1.store(v.len() + 100, Ordering::Relaxed);
            }
        }
    }
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    let r = run(move || {
        let v = SharedVec::new();
        v.push(Peek(Some(v.clone()), s2.clone()));
        v.set(0, Peek(None, s2.clone()));
        assert_eq!(v.len(), 1);
    });
    assert!(r.is_clean(), "{r}");
    assert_eq!(seen.load(Ordering::Relaxed), 101);
}

// ── RaceCell ────────────────────────────────────────────────────────────────────

#[test]
fn race_cell_with_mut_inside_with_panics() {
    let r = run(|| {
        let c = RaceCell::new(vec![1u8]); // site: cell with_mut in with
        c.with(|p| {
            // SAFETY: a shared borrow of the cell is held for the closure.
            let first = unsafe { &(&*p)[0] };
            // SAFETY: never reached: the cell is borrowed, so with_mut panics.
            c.with_mut(|q| unsafe { (&mut *q).clear() });
            assert_eq!(*first, 1);
        });
    });
    assert_conflict(
        &panic_message(&r),
        "RaceCell<alloc::vec::Vec<u8>>",
        "// site: cell with_mut in with",
        "already borrowed",
    );
}

#[test]
fn race_cell_with_inside_with_mut_panics() {
    let r = run(|| {
        let c = RaceCell::new(0u64); // site: cell with in with_mut
                                     // SAFETY: the exclusive borrow is held for the closure.
        c.with_mut(|p| unsafe { *p = c.with(|q| *q) + 1 });
    });
    assert_conflict(
        &panic_message(&r),
        "RaceCell<u64>",
        "// site: cell with in with_mut",
        "already mutably borrowed",
    );
}

#[test]
fn race_cell_nested_reads_and_into_inner() {
    let r = run(|| {
        let c = RaceCell::new(2u64);
        // SAFETY: shared borrows are held while the pointers are read.
        let n = c.with(|p| c.with(|q| unsafe { *p + *q }));
        assert_eq!(n, 4);
        // SAFETY: the exclusive borrow is held.
        c.with_mut(|p| unsafe { *p = 10 });
        assert_eq!(c.into_inner(), 10);
    });
    assert!(r.is_clean(), "{r}");
}

// ── outside a run: the same rules ───────────────────────────────────────────────

#[test]
fn outside_a_run_values_work_and_rules_hold() {
    let x = Shared::new(vec![1u64]); // site: outside
    x.with_mut(|v| v.push(2));
    assert_eq!(x.with(|v| v.len()), 2);
    let err = catch_unwind(AssertUnwindSafe(|| x.with(|_| x.with_mut(|v| v.clear())))).unwrap_err();
    assert_conflict(
        &payload_text(&*err),
        "Shared<alloc::vec::Vec<u64>>",
        "// site: outside",
        "already borrowed",
    );
    // released by the unwind; then moved into a run and read back
    let y = x.clone();
    let r = run(move || y.with_mut(|v| v.push(3)));
    assert!(r.is_clean(), "{r}");
    assert_eq!(x.with(|v| v.clone()), [1, 2, 3]);
}

// ── threads and concurrent runs (child processes) ────────────────────────────────

const CHILD_ENV: &str = "GOSAN_SOUNDNESS_CHILD";

/// Runs the ignored test `test` in a child process; its exit code and stdout.
fn child(test: &str) -> (Option<i32>, String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

const THREADS: usize = 4;
const TWO_THREADS: &str = "used from two threads at once: ";

/// `f` either completes (true) or panics with the thread-rule message (false); any
/// other panic fails the child.
fn attempt(f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => true,
        Err(p) => {
            let msg = payload_text(&*p);
            assert!(msg.contains(TWO_THREADS), "unexpected panic: {msg}");
            false
        }
    }
}

#[test]
#[ignore = "run as a child process by std_threads_hammering_one_value"]
fn child_std_threads() {
    if !is_child() {
        return;
    }
    // Expected panics are counted, not printed; any other one is.
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info
            .payload_as_str()
            .is_some_and(|m| m.contains(TWO_THREADS))
        {
            prev(info)
        }
    }));
    const ITERS: usize = 20_000;
    let shared = Shared::new(Vec::<u64>::new());
    let vec = SharedVec::<u64>::new();
    let cell = RaceCell::new(0u64);
    let ok = [(); 3].map(|_| AtomicUsize::new(0));
    let refused = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (shared, vec, cell, ok, refused) =
                (shared.clone(), vec.clone(), &cell, &ok, &refused);
            s.spawn(move || {
                for i in 0..ITERS {
                    let results = [
                        attempt(|| {
                            shared.with_mut(|v| v.push(t as u64));
                            ok[0].fetch_add(1, Ordering::Relaxed);
                        }),
                        attempt(|| {
                            vec.push(i as u64);
                            ok[1].fetch_add(1, Ordering::Relaxed);
                        }),
                        attempt(|| {
                            // SAFETY: the exclusive borrow is held for the closure.
                            cell.with_mut(|p| unsafe { *p += 1 });
                            ok[2].fetch_add(1, Ordering::Relaxed);
                        }),
                        attempt(|| {
                            std::hint::black_box(shared.with(|v| v.len()) + vec.len());
                        }),
                    ];
                    let n = results.iter().filter(|&&r| !r).count();
                    refused.fetch_add(n, Ordering::Relaxed);
                }
            });
        }
    });
    // SAFETY: a shared borrow of the cell is held while `p` is read.
    let cell_value = cell.with(|p| unsafe { *p });
    let lens = [shared.with(|v| v.len()), vec.len(), cell_value as usize];
    let ok = ok.map(|n| n.into_inner());
    println!(
        "RESULT lens={lens:?} ok={ok:?} refused={}",
        refused.load(Ordering::Relaxed)
    );
}

/// Four std threads pushing into clones of one `Shared<Vec<u64>>` (and one
/// `SharedVec`, one `RaceCell`) used to crash with SIGSEGV. Now every access either
/// completes or is refused with the thread-rule panic, and no completed update is
/// lost.
#[test]
fn std_threads_hammering_one_value() {
    let (code, out, err) = child("child_std_threads");
    assert_eq!(code, Some(0), "child failed:\n{out}\n{err}");
    let line = out
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no RESULT line:\n{out}\n{err}"));
    let field = |name: &str| {
        line.split(' ')
            .find_map(|f| f.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in {line}"))
            .to_string()
    };
    assert_eq!(field("lens="), field("ok="), "{line}");
}

static LAZY: LazyLock<Shared<Vec<u64>>> = LazyLock::new(|| Shared::new(Vec::new()));
static LAZY_PUSHES: AtomicUsize = AtomicUsize::new(0);

fn push_lazy() {
    for i in 0..5_000u64 {
        LAZY.with_mut(|v| v.push(i));
        LAZY_PUSHES.fetch_add(1, Ordering::Relaxed);
        LAZY.with(|v| std::hint::black_box(v.len()));
    }
}

#[test]
#[ignore = "run as a child process by concurrent_runs_sharing_a_lazy_static"]
fn child_concurrent_runs() {
    if !is_child() {
        return;
    }
    let reports: Vec<Report> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    run(|| {
                        // one goroutine, then main after it: ordered, so race-free
                        let done: Chan<()> = gosan::chan(0);
                        let d2 = done.clone();
                        go(move || {
                            push_lazy();
                            d2.send(());
                        });
                        done.recv();
                        push_lazy();
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut refused = 0;
    for r in &reports {
        if let Some(p) = &r.panic {
            assert!(p.message.contains(TWO_THREADS), "unexpected:\n{r}");
            refused += 1;
        } else {
            assert!(r.is_clean(), "{r}");
        }
    }
    println!(
        "RESULT len={} pushes={} refused_runs={refused}",
        LAZY.with(|v| v.len()),
        LAZY_PUSHES.load(Ordering::Relaxed)
    );
}

/// Four concurrent `gosan::run`s (as parallel libtest threads run tests) sharing one
/// `LazyLock<Shared<_>>`: each run is clean or ends with the thread-rule panic in its
/// report; no push is lost or torn.
#[test]
fn concurrent_runs_sharing_a_lazy_static() {
    let (code, out, err) = child("child_concurrent_runs");
    assert_eq!(code, Some(0), "child failed:\n{out}\n{err}");
    let line = out
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no RESULT line:\n{out}\n{err}"));
    let field = |name: &str| {
        line.split(' ')
            .find_map(|f| f.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in {line}"))
            .to_string()
    };
    assert_eq!(field("len="), field("pushes="), "{line}");
}
