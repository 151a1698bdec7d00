//! gosan-runtime: Go's runtime for Rust, deterministic mode.
//!
//! - [`sched`]: goroutines as corosensei coroutines on pooled stacks
//!   ([`coro::stack`]), the deterministic scheduler and its strategies, virtual time.
//! - `chan`, [`select`](mod@select): Go's `hchan` — ring buffer, FIFO wait queues of
//!   parked goroutines (`recvq`/`sendq` of sudog-like waiters), close semantics.
//! - [`sync`], [`time`], [`context`]: Go's packages of the same names.
//! - [`run`](mod@run): `run`, `run_with`, `check` and report building.
//!
//! Failure classes are described in [`fatal`].

pub mod capture;
pub mod chan;
pub mod config;
pub mod context;
pub mod coro;
pub mod fatal;
pub mod instrumented;
pub mod lock;
pub mod overflow;
pub mod panic_hook;
pub mod race;
pub mod run;
pub mod sched;
pub mod select;
pub mod sync;
pub mod time;

pub use chan::{chan, Chan, RecvChan, SendChan, TryRecvError, TrySendError};
pub use config::{Config, Format, OptionError, Strategy};
pub use run::{check, run, run_with};
pub use sched::{go, goid, num_goroutine};

/// Yields the processor, like Go's `runtime.Gosched`: another runnable goroutine may
/// run; the caller is demoted by the PCT strategy so spin loops make progress.
pub fn gosched() {
    sched::yield_now();
}

/// Runs a blocking OS call. In deterministic mode (`procs = 1`) the whole run waits
/// for it, as it must on one thread; the parallel scheduler hands the P off.
pub fn blocking<F: FnOnce() -> R + Send, R: Send>(f: F) -> R {
    f()
}
