//! Bug kernels (issue 11): small programs reduced from blocking and non-blocking bug
//! patterns of real Go code (the kinds GoBench's GoKer collects from Kubernetes,
//! etcd, gRPC, Docker…), written from scratch, each with its fix.
//!
//! Every kernel is checked with `gosan::check` over [`SCHEDULES`] schedules: the bug
//! must be found, as the finding class named in its test (global deadlock, partial
//! deadlock / wait-for cycle, lock order, leak, race, panic); the fix must be clean
//! over the same schedules. The kernels live in `tests/bugs/*.rs`, one file per family.

// Several kernels are found as races (or need the detector's edges): the suite runs
// with the detector compiled in (the default `race` feature).
#![cfg(feature = "race")]

#[path = "bugs/blocking_chan.rs"]
mod blocking_chan;
#[path = "bugs/blocking_sync.rs"]
mod blocking_sync;
#[path = "bugs/nonblocking.rs"]
mod nonblocking;

use gosan::{check, Config, Report};

/// Schedules explored per kernel (bug and fix alike).
pub const SCHEDULES: usize = 500;

/// Explores `f` over [`SCHEDULES`] schedules from a fixed base seed.
pub fn explore(f: fn()) -> Report {
    check(Config::new().seed(0x5eed), SCHEDULES, f)
}

/// The finding classes a kernel can be found as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Go's `all goroutines are asleep - deadlock!`.
    GlobalDeadlock,
    /// A goroutine blocked on a channel no live goroutine can complete, found while
    /// the program went on (`global: false`, why: no other handle).
    PartialDeadlock,
    /// A wait-for cycle among lock holders (`why` says so), found while the run went
    /// on or dumped with the global deadlock it turned into.
    WaitForCycle,
    /// `Report::lock_order`: a lock-order inversion.
    LockOrder,
    /// A goroutine blocked for good that outlives its caller: reported as a leak
    /// after main returned or, when the proof came while main still ran (its last
    /// handle dropped on the way out), as a partial deadlock — which of the two
    /// depends on the schedule, not on the bug.
    Leak,
    /// `WARNING: DATA RACE`.
    Race,
    /// A Go panic or fatal error (`message` given).
    Panic(&'static str),
}

/// Asserts that `r` found the bug as `class`.
#[track_caller]
pub fn found_as(r: &Report, class: Class) {
    assert!(!r.is_clean(), "bug not found in {SCHEDULES} schedules");
    let ok = match class {
        Class::GlobalDeadlock => r.deadlock.as_ref().is_some_and(|d| d.global),
        Class::PartialDeadlock => r.deadlock.as_ref().is_some_and(|d| {
            !d.global
                && d.goroutines
                    .iter()
                    .any(|g| g.why.as_deref() == Some("no other handle of this channel is alive"))
        }),
        Class::WaitForCycle => r.deadlock.as_ref().is_some_and(|d| {
            d.goroutines.iter().any(|g| {
                g.why
                    .as_deref()
                    .is_some_and(|w| w.starts_with("wait-for cycle"))
            })
        }),
        Class::LockOrder => !r.lock_order.is_empty(),
        Class::Leak => {
            !r.leaks.is_empty()
                || r.deadlock.as_ref().is_some_and(|d| {
                    !d.global
                        && d.goroutines.iter().any(|g| {
                            g.why.as_deref() == Some("no other handle of this channel is alive")
                        })
                })
        }
        Class::Race => !r.races.is_empty(),
        Class::Panic(m) => r.panic.as_ref().is_some_and(|p| p.message == m),
    };
    assert!(ok, "expected {class:?}, got:\n{r}");
}

/// Asserts that the fix is clean over every schedule.
#[track_caller]
pub fn clean(r: &Report) {
    assert!(r.is_clean(), "fix not clean:\n{r}");
}

/// Declares the two tests of the kernel module it is invoked in: its `bug` is found
/// as `class`, its `fix` is clean.
#[macro_export]
macro_rules! kernel {
    ($class:expr) => {
        #[test]
        fn bug_is_found() {
            $crate::found_as(&$crate::explore(bug), $class);
        }
        #[test]
        fn fix_is_clean() {
            $crate::clean(&$crate::explore(fix));
        }
    };
}
