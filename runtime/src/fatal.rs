//! The runtime's failure paths (Go's `HACKING.md` split between `panic` and `throw`):
//! - a bug in the user's program that Go reports as a *fatal error*: [`throw`]
//!   records it in the run (it cannot be recovered) and unwinds the goroutine
//!   (`sync: unlock of unlocked mutex`); ordinary Go panics (`send on closed
//!   channel`) are plain Rust panics raised where the misuse happens;
//! - a bug in gosan itself — a broken runtime invariant: `fatal!` prints
//!   `fatal error: gosan: <function>: <what>` and `please report this bug`, and exits
//!   the process with status 2 at once. It never unwinds (unwinding through the
//!   scheduler would run user destructors on broken state) and never prints
//!   `panic:`: the user's goroutine is not to blame. It is the one path for every
//!   runtime invariant check; user misuse stays a clear panic naming the misuse.

use std::fmt;
use std::io::Write;

/// Go's `throw`: records a fatal error in the run (it cannot be recovered) and unwinds
/// the goroutine. Outside a run it is an ordinary panic with the same text.
#[cold]
#[track_caller]
pub(crate) fn throw(msg: &str) -> ! {
    crate::sched::record_fatal(msg);
    std::panic::resume_unwind(Box::new(FatalError(msg.to_string())))
}

/// Payload of the unwind started by `throw` (a Go fatal error such as
/// `sync: unlock of unlocked mutex`).
#[derive(Debug)]
pub struct FatalError(pub String);

/// A broken runtime invariant (a gosan bug): `fatal!("function", "what {}", x)`
/// reports it and exits with status 2; see the module docs. Evaluates to `!`.
macro_rules! fatal {
    ($func:expr, $($what:tt)+) => {
        $crate::fatal::gosan_bug($func, ::core::format_args!($($what)+))
    };
}

/// A runtime invariant checked in debug builds only (where a `debug_assert!` would
/// be): `fatal!` unless `cond` holds.
macro_rules! debug_check {
    ($cond:expr, $func:expr, $($what:tt)+) => {
        if cfg!(debug_assertions) && !$cond {
            fatal!($func, $($what)+)
        }
    };
}

/// The one exit of `fatal!`: out of line, never inlined into a hot path.
#[cold]
#[inline(never)]
pub(crate) fn gosan_bug(func: &str, what: fmt::Arguments<'_>) -> ! {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "fatal error: gosan: {func}: {what}");
    let _ = writeln!(
        e,
        "\nThis is a bug in gosan, not in your program: please report this bug, with the\noutput above and the GOSAN_OPTIONS line (seed= or replay=) that reproduces the run."
    );
    let _ = e.flush();
    std::process::exit(2)
}
