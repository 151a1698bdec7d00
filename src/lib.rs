//! # gosan — Go's concurrency model for Rust, with Go's safety nets built in
//!
//! Goroutines on stackful coroutines, channels, `select!`, `sync`, `time` and
//! `context` exactly as Go defines them, run by a deterministic scheduler that
//! explores interleavings (`check`), replays any run from one token, and reports Go's
//! findings in Go's words: `fatal error: all goroutines are asleep - deadlock!`,
//! `panic: send on closed channel`, goroutine dumps with symbolized stacks — plus
//! goroutines leaked after main returned, which Go does not report.
//!
//! ```
//! let report = gosan::run(|| {
//!     let c = gosan::chan(0);
//!     let tx = c.clone();
//!     gosan::go(move || tx.send(42));
//!     assert_eq!(c.recv(), Some(42));
//! });
//! assert!(report.is_clean(), "{report}");
//! ```
//!
//! # `#[gosan::main]` and `#[gosan::test]`
//!
//! `#[gosan::main]` runs `main`'s body as goroutine 1 of a Go-like process and exits
//! like one: the report on stderr (or `log_path`), exit 0 when clean, 2 on a panic,
//! fatal error or deadlock, `exitcode` (66) on races or leaks. `GOSAN_OPTIONS` and
//! `GOSAN_DEBUG` apply on top of the attribute's keys.
//!
//! ```
//! #[gosan::main]
//! fn main() {
//!     let c = gosan::chan(1);
//!     c.send("hello");
//!     assert_eq!(c.recv(), Some("hello"));
//! }
//! ```
//!
//! `main` may return `Result<(), E>` (`E: Debug`), as with `#[tokio::main]`: `?`
//! works in the body, and an `Err` prints `Error: {e:?}` (std's words) after the
//! report and exits 1 — unless the run found something, whose exit code wins. Any
//! other return type is a compile error:
//!
//! ```compile_fail
//! #[gosan::main]
//! fn main() -> u8 {
//!     0
//! }
//! ```
//!
//! ```
//! #[gosan::main]
//! fn main() -> Result<(), std::num::ParseIntError> {
//!     let c = gosan::chan(1);
//!     c.send("42".parse::<i32>()?);
//!     assert_eq!(c.recv(), Some(42));
//!     Ok(())
//! }
//! ```
//!
//! `#[gosan::test]` makes a `#[test]` whose body runs under gosan and fails with the
//! whole report on any finding (race, deadlock, leak, panic).
//!
//! ## Keys
//! Each key is the [`Config`] method of the same name; an unknown or repeated key is
//! a compile error naming it. The examples run the attribute's body through the
//! function the attribute calls, so that each key is shown doing its job.
//!
//! - **`iterations = N`** (`#[gosan::test]` only): explore `N` schedules with
//!   [`check`] (derived seeds, alternating Random and PCT) and fail on the first one
//!   with a finding; without it the test is one run ([`run_with`]).
//!
//!   ```
//!   #[gosan::test(iterations = 20)]
//!   fn handoff() {
//!       let c = gosan::chan(0);
//!       let tx = c.clone();
//!       gosan::go(move || tx.send(1));
//!       assert_eq!(c.recv(), Some(1));
//!   }
//!   # // What the attribute runs (a `#[test]` fn is not compiled into a doc test):
//!   # let report = gosan::check(gosan::Config::new(), 20, || {
//!   #     let c = gosan::chan(0);
//!   #     let tx = c.clone();
//!   #     gosan::go(move || tx.send(1));
//!   #     assert_eq!(c.recv(), Some(1));
//!   # });
//!   # assert!(report.is_clean(), "{report}");
//!   ```
//!
//! - **`seed = N`**: the strategy's seed (default: fresh each run, printed in every
//!   report's `reproduce with` line). The same seed replays the same schedule.
//!
//!   ```
//!   #[gosan::main(seed = 7)]
//!   fn main() {
//!       let c = gosan::chan(2);
//!       for i in 0..2 {
//!           let tx = c.clone();
//!           gosan::go(move || tx.send(i));
//!       }
//!       let first = c.recv().unwrap();
//!       # let _ = first;
//!   }
//!   ```
//!
//! - **`strategy = "..."`**: the scheduling strategy, spelled as in `GOSAN_OPTIONS`
//!   (`"random"`, `"pct:3"` for PCT with depth 3, `"replay:<token>"`); a bad
//!   spelling panics naming `strategy`.
//!
//!   ```
//!   #[gosan::main(strategy = "pct:3", seed = 1)]
//!   fn main() {
//!       let wg = gosan::sync::WaitGroup::new();
//!       wg.add(1);
//!       let done = wg.clone();
//!       gosan::go(move || done.done());
//!       wg.wait();
//!   }
//!   ```
//!
//! - **`leak_check = bool`** (default `true`): after main returns, let the other
//!   goroutines run on and report those blocked for good (Go ends the run at main's
//!   return; `false` does that).
//!
//!   ```
//!   #[gosan::main(leak_check = false)]
//!   fn main() {
//!       let wg = gosan::sync::WaitGroup::new();
//!       wg.add(1); // never done
//!       let w = wg.clone();
//!       gosan::go(move || {
//!           w.wait(); // blocked for good: not reported with leak_check = false
//!       });
//!   }
//!   ```
//!
//! - **`procs = N`**: the number of Ps. Only `1`, the default, is supported today
//!   (the parallel scheduler does not exist yet): a literal other than 1 is a compile
//!   error naming `procs`, another expression is rejected when the run starts.
//!
//!   ```
//!   #[gosan::test(procs = 1, seed = 3)]
//!   fn single_p() {
//!       assert_eq!(gosan::goid(), 1);
//!   }
//!   # let report = gosan::run_with(gosan::Config::new().procs(1).seed(3), || {
//!   #     assert_eq!(gosan::goid(), 1);
//!   # });
//!   # assert!(report.is_clean(), "{report}");
//!   ```
//!
//! # Stacks
//! Reports name functions Go's way (`crate::module::Type::method`, a closure as its
//! parent plus `::{{closure}}`) with `file:line`, also in a crate built without frame
//! pointers (plain `cargo build`): a parked goroutine's stack is unwound with DWARF
//! unwind info when the report is built. Panics keep the user's frames plus one line
//! per gosan call the user made; `GOSAN_DEBUG=traceback=all` shows every frame.
//!
//! Crate layout (`ARCHITECTURE.md`): `gosan-runtime` (scheduler, channels, sync, time,
//! context), `gosan-detector` (reports, symbolization, happens-before engine),
//! `gosan-instrument` (shared-memory instrumentation, macros).

// The `#[gosan::main]` examples above need their `fn main`: the attribute is on it.
#![allow(clippy::needless_doctest_main)]

pub use gosan_detector::report::{
    Access, AccessKind, DeadlockReport, Exploration, Frame, GoroutineDump, GoroutineOrigin,
    LockOrderReport, PanicReport, RaceReport, Report, Shrunk,
};
pub use gosan_instrument::{race, RaceCell, Shared, SharedVec};
pub use gosan_macros::{main, test};
pub use gosan_runtime::{
    blocking, chan, check, go, goid, gosched, num_goroutine, run, run_with, select, Chan, Config,
    Format, OptionError, RecvChan, SendChan, Strategy, TryRecvError, TrySendError,
};

/// Go's `sync` package: `Mutex<T>`, `RwMutex<T>`, `WaitGroup`, `Once`, `Cond`,
/// `RawMutex`, `RawRwMutex`, `Locker`, and `atomic`.
pub mod sync {
    pub use gosan_runtime::sync::*;
}

/// Go's `time` package on a virtual clock (deterministic mode).
pub mod time {
    pub use gosan_runtime::time::*;
}

/// Fuzzer bytes as scheduling decisions: `gosan::fuzz::run(data, harness)` in a
/// cargo-fuzz target (README, "Fuzzing your concurrency harness").
pub mod fuzz {
    pub use gosan_runtime::fuzz::*;
}

/// Go's `context` package.
pub mod context {
    pub use gosan_runtime::context::*;
}

/// The entry points of `#[gosan::main]` and `#[gosan::test]`: the only door the
/// macros use. Not user API.
///
/// The runtime's internals are not reachable through the facade:
/// ```compile_fail
/// use gosan::run::test_run;
/// ```
/// ```compile_fail
/// use gosan::chan::Waiter;
/// ```
/// ```compile_fail
/// use gosan::select::SelectArm;
/// ```
/// ```compile_fail
/// use gosan::sync::WaitQ;
/// ```
/// ```compile_fail
/// use gosan::time::FUTILE_TICKS;
/// ```
#[doc(hidden)]
pub mod __private {
    pub use gosan_runtime::__private::{main, main_result, strategy, test_check, test_run};
}
