//! The runtime's three failure classes (Go's `HACKING.md` split):
//! - an error value with lowercase text (`TrySendError`, `ContextError`, option errors);
//! - a bug in the user's program: a Go panic text (`send on closed channel`) raised as
//!   a Rust panic in the goroutine, or a *fatal error* ([`throw`]) that ends the run
//!   even if user code catches the unwind (`sync: unlock of unlocked mutex`);
//! - a bug in gosan itself: [`internal`], which aborts with `gosan: internal error`.

/// Go's `throw`: records a fatal error in the run (it cannot be recovered) and unwinds
/// the goroutine. Outside a run it is an ordinary panic with the same text.
#[cold]
#[track_caller]
pub fn throw(msg: &str) -> ! {
    crate::sched::record_fatal(msg);
    std::panic::resume_unwind(Box::new(FatalError(msg.to_string())))
}

/// Payload of the unwind started by [`throw`].
#[derive(Debug)]
pub struct FatalError(pub String);

/// A broken runtime invariant: print and abort (never unwind through the scheduler).
#[cold]
pub fn internal(msg: &str) -> ! {
    eprintln!("gosan: internal error: {msg}");
    std::process::abort()
}
