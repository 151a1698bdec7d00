//! gosan-runtime: Go's runtime for Rust, deterministic mode.
//!
//! - `sched`: goroutines as corosensei coroutines on pooled stacks (`coro::stack`),
//!   the deterministic scheduler and its strategies, virtual time.
//! - `chan`, `select`: Go's `hchan` — ring buffer, FIFO wait queues of parked
//!   goroutines (`waitq`: Go's `sudog`/`waitq`, shared with `sync`), close semantics.
//! - [`sync`], [`time`], [`context`]: Go's packages of the same names.
//! - `run`: [`run()`], [`run_with`], [`check`] and report building.
//! - `race`: the detector's hooks (Go's `race.go`), through the one race context of
//!   `sched`.
//!
//! # Public surface
//! The user API is what the facade `gosan` re-exports: the items at this crate's
//! root and the modules [`sync`], [`time`], [`context`], plus the `select!` macro.
//! Everything else is `pub(crate)`. Gosan's other crates and macros reach the few
//! entry points they need through [`__private`] (`#[doc(hidden)]`, not user API).
//!
//! # Failure classes
//! 1. An error value with lowercase text (`TrySendError`, `ContextError`, option
//!    errors).
//! 2. A bug in the user's program: a Go panic text raised as a Rust panic in the
//!    goroutine (`send on closed channel`), or a Go *fatal error* that ends the run
//!    even if caught (`sync: unlock of unlocked mutex`, `fatal::throw`).
//! 3. A bug in gosan itself — a broken runtime invariant: `fatal!` prints
//!    `fatal error: gosan: <function>: <what>` and `please report this bug`, and
//!    exits with status 2; it never blames the user's goroutine.

#[macro_use]
mod fatal;

mod capture;
mod chan;
mod config;
pub mod context;
mod coro;
mod deadlock;
pub mod fuzz;
mod instrumented;
mod lock;
mod overflow;
mod panic_hook;
mod race;
mod run;
mod sched;
mod select;
mod shrink;
pub mod sync;
pub mod time;
mod waitq;

pub use chan::{chan, Chan, RecvChan, SendChan, TryRecvError, TrySendError};
pub use config::{Config, Format, OptionError, Strategy};
pub use run::{check, run, run_with};
pub use sched::{go, goid, num_goroutine};

/// Yields the processor, like Go's `runtime.Gosched`: another runnable goroutine may
/// run; the caller is demoted by the PCT strategy so spin loops make progress.
pub fn gosched() {
    sched::yield_now();
}

/// Runs a blocking OS call (a std channel receive, a file read, a `std::sync`
/// lock) without stopping the run: `f` runs on a helper OS thread while the calling
/// goroutine parks (`goroutine N [syscall]:`), the other goroutines run on, and the
/// deadlock checker waits for the call instead of calling anyone blocked forever.
/// `f`'s panic resumes in the caller. Outside a goroutine, `f` just runs.
///
/// When the run ends while `f` is still running, its goroutine's teardown waits for
/// `f` to return (`f` borrows from the goroutine's frame).
pub fn blocking<F: FnOnce() -> R + Send, R: Send>(f: F) -> R {
    sched::blocking(f)
}

/// Entry points for gosan's own crates and macros — not user API, no stability.
///
/// Every function here is safe to call in any order, from any thread, inside or
/// outside a run: outside a run (or on a thread that is not running one) the hooks
/// do nothing, and misuse is a clear panic, never undefined behaviour.
#[doc(hidden)]
pub mod __private {
    /// The detector hooks `gosan-instrument` calls (`Shared`, `SharedVec`,
    /// `RaceCell`, `gosan::race::*`). Addresses are only recorded, never read.
    pub mod race {
        pub use crate::race::{
            access, access_inline, acquire_annotation, freed, read, read_range, release_annotation,
            release_merge_annotation, write, write_range, InlineShadow,
        };
    }

    /// Scheduling hooks for `gosan-instrument`: a scheduling point before each
    /// instrumented access, and [`NoSwitch`](sched::NoSwitch) around closures that
    /// hold references into shared memory.
    pub mod sched {
        pub use crate::sched::{sched_point, sched_point_on, NoSwitch};
    }

    /// What the `select!` macro expands to.
    pub mod select {
        pub use crate::select::{
            no_arm_fired, select, select_forever, RecvArm, SelectArm, SendArm,
        };
    }

    // The entry points of `#[gosan::main]` / `#[gosan::test]` (via `gosan::__private`).
    pub use crate::run::{main, main_result, strategy, test_check, test_run};

    /// The unwind payload of a Go fatal error (`fatal::throw`), for tests that catch
    /// one.
    pub use crate::fatal::FatalError;

    /// The runtime side of compiler instrumentation, for `gosan-instrument`'s TSan
    /// ABI shims (`cargo gosan`).
    pub mod instrumented {
        pub use crate::instrumented::*;
    }

    /// The file a runner reads to turn findings into exit 66 (`cargo gosan`).
    pub use crate::run::RACE_MARKER_ENV;

    // Option parsing, for the fuzz targets.
    pub use crate::config::{parse_debug, parse_options};

    /// Test hook: breaks a runtime invariant on purpose, so tests can check how gosan
    /// reports its own bugs (`fatal error: gosan: …`, exit status 2). Never returns.
    pub fn break_invariant_for_test() -> ! {
        fatal!(
            "__private::break_invariant_for_test",
            "a runtime invariant was broken on purpose by a test"
        )
    }
}
