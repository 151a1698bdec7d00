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
//! Crate layout (`ARCHITECTURE.md`): `gosan-runtime` (scheduler, channels, sync, time,
//! context), `gosan-detector` (reports, symbolization, happens-before engine),
//! `gosan-instrument` (shared-memory instrumentation, macros).

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
    pub use gosan_runtime::__private::{main, strategy, test_check, test_run};
}
