//! `gosan::blocking` (Go's `entersyscall`/`exitsyscall` with P hand-off, on one
//! thread): the call runs on a helper OS thread while its goroutine parks
//! (`[syscall]`), so the other goroutines run, and the run's idle path knows the
//! goroutine is not blocked forever.
//!
//! # Protocol
//! - The goroutine registers the call (`Sched::blocking_pending += 1`), starts the
//!   helper thread and parks with [`WaitReason::Syscall`]. The helper runs `f`
//!   (catching its panic), stores the result in the goroutine's frame, sets the
//!   call's [`Done`] and sends the goroutine's [`GRef`] on the run's completion
//!   channel.
//! - The scheduler drains that channel ([`drain`]) when nobody is runnable (`idle`:
//!   it *waits* for a completion while calls are pending, before advancing virtual
//!   time or declaring a deadlock) and in `yield_now` (a spinner waiting for the
//!   result lets it in); each completion readies its goroutine if it is parked in a
//!   blocking call (one whose helper finished before it parked never parked: its
//!   completion must not wake a later `sleep` or receive).
//! - `f` borrows the goroutine's frame, so the frame must outlive the helper's use of
//!   it: a [`Join`] guard waits for [`Done`] on every way out of `blocking`, the
//!   teardown unwind included. That guard is what makes erasing `f`'s lifetime sound.

use super::g::GState;
use super::park::{current, park, ready};
use super::{current_g_ptr, sched_ptr, GRef, Sched, WaitReason};
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};

/// The run's completion channel for blocking calls.
pub(super) struct Completions {
    tx: mpsc::Sender<GRef>,
    rx: mpsc::Receiver<GRef>,
}

/// Set by the helper once `f` returned and its result is stored.
#[derive(Default)]
struct Done {
    m: Mutex<bool>,
    cv: Condvar,
}

impl Done {
    fn set(&self) {
        *self.m.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cv.notify_all();
    }
    fn is_set(&self) -> bool {
        *self.m.lock().unwrap_or_else(PoisonError::into_inner)
    }
    /// Blocks the OS thread until [`set`](Self::set). The mutex orders the helper's
    /// store of the result before the goroutine's read of it.
    fn wait(&self) {
        let mut d = self.m.lock().unwrap_or_else(PoisonError::into_inner);
        while !*d {
            d = self.cv.wait(d).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Waits for the helper on every way out of [`blocking`] (see the module docs).
struct Join<'a>(&'a Done);

impl Drop for Join<'_> {
    fn drop(&mut self) {
        let s = sched_ptr();
        if s.is_null() || self.0.is_set() {
            self.0.wait();
            return;
        }
        // SAFETY: this thread's run; a plain read of the counters' handle (the
        // watchdog skips a run waiting for a helper thread: teardown of a goroutine
        // in `blocking`).
        let waiting = unsafe { (*s).counters.clone() };
        waiting
            .waiting
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.0.wait();
        waiting
            .waiting
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A pointer the helper writes the result through.
struct OutPtr<R>(*mut Option<std::thread::Result<R>>);
// SAFETY: the pointee is written by the helper only, while the goroutine does not
// touch it (it is parked, then waits on `Done` before reading); `R: Send`.
unsafe impl<R: Send> Send for OutPtr<R> {}

/// See `gosan::blocking`.
pub fn blocking<F: FnOnce() -> R + Send, R: Send>(f: F) -> R {
    let s = sched_ptr();
    // SAFETY: this thread's run when non-null; plain reads.
    let usable = !s.is_null()
        && !current_g_ptr().is_null()
        && unsafe { !(*s).tearing_down && (*s).no_switch == 0 };
    if !usable {
        return f(); // outside a goroutine there is nobody else to run
    }
    let me = current();
    // SAFETY: this thread's run; short exclusive access.
    let tx = unsafe {
        let sr = &mut *s;
        sr.blocking_pending += 1;
        sr.completions
            .get_or_insert_with(|| {
                let (tx, rx) = mpsc::channel();
                Completions { tx, rx }
            })
            .tx
            .clone()
    };
    let done = Arc::new(Done::default());
    let mut out: Option<std::thread::Result<R>> = None;
    let join = Join(&done);
    let out_ptr = OutPtr(&mut out);
    let helper_done = done.clone();
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
        let out_ptr = out_ptr;
        let r = std::panic::catch_unwind(AssertUnwindSafe(f));
        // SAFETY: `out` lives in `blocking`'s frame, which `join` keeps alive until
        // `Done` is set below; nobody else touches it meanwhile.
        unsafe { *out_ptr.0 = Some(r) };
        helper_done.set();
        let _ = tx.send(me); // the run may be gone: then nobody needs the wake-up
    });
    // SAFETY: only the lifetime is erased. Everything `job` borrows (`f`'s captures,
    // `out`) lives in this frame, and `join` waits for `Done` — set after the
    // helper's last use of them — before the frame is left, unwinding included.
    let job: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(job) };
    if let Err(e) = std::thread::Builder::new()
        .name("gosan-blocking".into())
        .spawn(job)
    {
        // `job` was dropped unrun: nothing will set `Done`.
        std::mem::forget(join);
        // SAFETY: this thread's run; short exclusive access.
        unsafe { (*s).blocking_pending -= 1 };
        panic!("gosan::blocking: cannot start a helper thread: {e}");
    }
    while !done.is_set() {
        park(WaitReason::Syscall);
    }
    drop(join);
    match out {
        Some(Ok(r)) => r,
        Some(Err(p)) => std::panic::resume_unwind(p),
        None => fatal!("blocking", "the helper stored a result before Done"),
    }
}

/// Readies the goroutines whose blocking call completed; with `wait`, first blocks
/// the OS thread until at least one completes (when any is pending). Returns whether
/// one was readied.
///
/// # Safety
/// `s` is this thread's live scheduler, used through short borrows.
pub(super) unsafe fn drain(s: *mut Sched, wait: bool) -> bool {
    // SAFETY: per the contract.
    let sr = unsafe { &mut *s };
    if sr.blocking_pending == 0 {
        return false;
    }
    let Some(c) = &sr.completions else {
        return false;
    };
    let mut got = Vec::new();
    if wait {
        // Waiting for a helper thread is not being stuck (the watchdog skips it).
        sr.counters
            .waiting
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Ok(g) = c.rx.recv() {
            got.push(g);
        }
        sr.counters
            .waiting
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
    while let Ok(g) = c.rx.try_recv() {
        got.push(g);
    }
    sr.blocking_pending -= got.len();
    let mut any = false;
    for g in got {
        // Only a goroutine parked in a blocking call is woken. When the helper
        // finished before its goroutine looked at `Done`, the goroutine returned
        // without parking and its completion is stale: readying it now would end a
        // later, unrelated park early (a `sleep` returning before its time). A
        // goroutine parked in another blocking call re-checks its own `Done` and
        // parks again, so a stale completion never wakes it for good.
        let waits_here = sr.gs.get(g.slot as usize).is_some_and(|gr| {
            gr.id == g.id && gr.state == GState::Waiting && gr.reason == WaitReason::Syscall
        });
        if waits_here {
            ready(g);
            any = true;
        }
    }
    any
}
