//! `Once` (Go's `sync.Once`): runs a function exactly once.
//!
//! Follows Go's `src/sync/once.go`: a `done` flag checked first, then a slow path
//! under a [`RawMutex`] `m` that re-checks `done`, runs `f` and sets `done` before
//! unlocking. Concurrent callers therefore wait in `m.lock()` and show
//! `sync.Mutex.Lock` in a dump, as in Go; a `call_once` from inside `f` deadlocks, as
//! in Go.
//!
//! Panics: Go's `defer o.done.Store(1)` counts a panicking `f` as done; so does this
//! (the unwind is caught, `done` set, `m` unlocked, the unwind resumed). The one
//! exception is the end-of-run teardown unwinding through `f` (it was parked, not
//! finished): then `done` stays false, so a `static` Once used by the next run still
//! runs its `f`.
//!
//! # Race detector
//! `clock`: `f` finishing release-stores into it (before `done` is set), and every
//! `call_once` return acquires it, the caller that ran `f` included: `f`
//! happens-before every return (the Go memory model's once rule). `m`'s own edges
//! come on top, as in Go.
//!
//! # Invariants
//! `done` goes false → true once, only while `m` is held, after `f` returned or
//! panicked; it never goes back.

use super::RawMutex;
use crate::lock::SpinLock;
use crate::race::{self, RaceClock};
use crate::sched::{self, Teardown};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

/// Go's `sync.Once`.
pub struct Once {
    done: AtomicBool,
    m: RawMutex,
    /// What `f` released when it finished (see the module docs).
    clock: SpinLock<RaceClock>,
}

impl Once {
    /// A Once that has not run yet (Go's zero value).
    pub const fn new() -> Once {
        Once {
            done: AtomicBool::new(false),
            m: RawMutex::new(),
            clock: SpinLock::new(RaceClock::new()),
        }
    }

    /// Runs `f` if no call of this Once ran (or is running) one; otherwise waits
    /// until that one finished. Every return happens after `f` finished.
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        sched::sched_point();
        // Acquire: synchronizes with the Release stores in `call_once_slow`, so `f`'s
        // effects are visible after this fast-path return.
        if self.done.load(Ordering::Acquire) {
            self.acquire();
            return;
        }
        self.call_once_slow(f);
    }

    /// A `call_once` returns: it happens after `f` finished.
    fn acquire(&self) {
        race::acquire(&mut self.clock.lock());
    }

    /// `f` finished: publish what it did.
    fn release(&self) {
        race::release(&mut self.clock.lock());
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn call_once_slow<F: FnOnce()>(&self, f: F) {
        self.m.lock();
        // Relaxed: `done` is only written while `m` is held, and we hold it.
        if self.done.load(Ordering::Relaxed) {
            self.acquire();
            self.m.unlock();
            return;
        }
        match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(()) => {
                self.release();
                self.acquire();
                // Release: pairs with the Acquire load in `call_once`.
                self.done.store(true, Ordering::Release);
                self.m.unlock();
            }
            Err(payload) => {
                if !payload.is::<Teardown>() {
                    self.release();
                    // Release: pairs with the Acquire load in `call_once`.
                    self.done.store(true, Ordering::Release);
                }
                // No scheduling point while an unwind is in flight.
                self.m.unlock_now();
                panic::resume_unwind(payload)
            }
        }
    }

    /// Whether an `f` has finished (returned or panicked). Not a scheduling point.
    /// A `true` answer happens after `f` finished (std's guarantee), as a
    /// `call_once` return does.
    pub fn is_completed(&self) -> bool {
        // Acquire: as in `call_once`.
        let done = self.done.load(Ordering::Acquire);
        if done {
            self.acquire();
        }
        done
    }
}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            // Relaxed, no edge: an observation.
            .field("done", &self.done.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
