//! The watchdog: a loop with no gosan operation in it (a spin on a std atomic, a
//! std `Mutex` held across a channel send) cannot be preempted on the one thread, so
//! a process-wide watchdog thread notices a run that reached no scheduling point for
//! `watchdog=` seconds and ends the process with a report carrying the stuck
//! goroutine's stack (Go's SIGQUIT dump), exit status 2.
//!
//! # Protocol
//! - A run with the watchdog on registers its [`Counters`] (progress bumped at every
//!   scheduling step, `park.rs`/`run_loop.rs`; `waiting` set while the run's thread
//!   waits for a `gosan::blocking` call: not stuck) and its thread; `run_main`'s
//!   guard unregisters it (under the registry's mutex) before the thread can end,
//!   so a signalled thread is alive.
//! - The watchdog thread samples each run every `limit / 4`; a run whose counter did
//!   not move for `limit` (and was not waiting) is stuck: the thread stores the run's
//!   id in [`TARGET`] and sends `SIGURG` to the run's thread.
//! - The `SIGURG` handler (alternate stack) runs on the stuck thread: when it is the
//!   target and a goroutine runs, it walks the interrupted frame-pointer chain into
//!   [`PCS`] (async-signal-safe: memory reads and atomic stores only), publishes it
//!   ([`CAPTURED`], Release) and sleeps forever. The watchdog thread (Acquire) then
//!   symbolizes and prints the report and `_exit(2)`s; if symbolizing hangs (the stuck
//!   thread held an allocator lock), a deadman `_exit(2)`s after [`DEADMAN`].

use super::Sched;
use crate::capture;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

/// What a run shares with the watchdog thread.
#[derive(Default)]
pub(super) struct Counters {
    /// Bumped at every scheduling step and switch (`Sched::tick`, one writer).
    pub(super) progress: AtomicU64,
    /// Set while the run's thread waits for a `gosan::blocking` call.
    pub(super) waiting: AtomicBool,
}

/// A watched run.
struct Entry {
    id: u64,
    thread: libc::pthread_t,
    counters: Arc<Counters>,
    limit: Duration,
    last: u64,
    since: Instant,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The run the watchdog signalled (0: none). Written by the watchdog thread before
/// `pthread_kill`; read by the handler (the signal orders them).
static TARGET: AtomicU64 = AtomicU64::new(0);
/// The stuck goroutine's frames, written by the handler.
static PCS: [AtomicUsize; capture::MAX_FRAMES] =
    [const { AtomicUsize::new(0) }; capture::MAX_FRAMES];
/// Number of frames in [`PCS`] + 1 once captured (0 before). Release by the handler
/// pairs with the Acquire in the watchdog thread.
static CAPTURED: AtomicUsize = AtomicUsize::new(0);
/// The stuck goroutine's id and creation site, written by the handler before the
/// Release store of [`CAPTURED`].
static GOID: AtomicU64 = AtomicU64::new(0);
static CREATED: AtomicUsize = AtomicUsize::new(0);

const DEADMAN: Duration = Duration::from_secs(10);

/// Registration of one run; unregisters on drop.
pub(super) struct Watch {
    id: u64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut r = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        r.retain(|e| e.id != self.id);
    }
}

/// Watches the run `s` until the returned guard is dropped.
pub(super) fn watch(s: &Sched, limit: Duration) -> Option<Watch> {
    if limit.is_zero() {
        return None;
    }
    start();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut r = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    r.push(Entry {
        id,
        // SAFETY: pthread_self has no preconditions.
        thread: unsafe { libc::pthread_self() },
        counters: s.counters.clone(),
        limit,
        last: 0,
        since: Instant::now(),
    });
    Some(Watch { id })
}

fn start() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction filled here; SIGURG (ignored by default, used
        // for preemption by Go too) is gosan's from now on.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigurg as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGURG, &sa, std::ptr::null_mut());
        }
        let _ = std::thread::Builder::new()
            .name("gosan-watchdog".into())
            .spawn(watchdog_loop);
    });
}

fn watchdog_loop() {
    loop {
        let mut tick = Duration::from_millis(250);
        let mut stuck = None;
        {
            let mut r = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            for e in r.iter_mut() {
                tick = tick.min(e.limit / 4).max(Duration::from_millis(5));
                // Relaxed: samples of counters; only change matters.
                let p = e.counters.progress.load(Ordering::Relaxed);
                let w = e.counters.waiting.load(Ordering::Relaxed);
                if p != e.last || w {
                    e.last = p;
                    e.since = now;
                } else if now - e.since >= e.limit {
                    stuck = Some((e.id, e.thread, e.limit));
                    break;
                }
            }
            if let Some((id, thread, _)) = stuck {
                TARGET.store(id, Ordering::Relaxed);
                // SAFETY: the thread is registered, so alive (it unregisters before
                // it ends, under this lock).
                unsafe { libc::pthread_kill(thread, libc::SIGURG) };
            }
        }
        if let Some((_, _, limit)) = stuck {
            report(limit);
        }
        std::thread::sleep(tick);
    }
}

/// Waits for the handler's capture, prints the report and exits 2.
fn report(limit: Duration) -> ! {
    let _ = std::thread::Builder::new()
        .name("gosan-deadman".into())
        .spawn(|| {
            std::thread::sleep(DEADMAN);
            // SAFETY: _exit has no preconditions.
            unsafe { libc::_exit(2) }
        });
    let start = Instant::now();
    let n = loop {
        // Acquire: pairs with the handler's Release store (PCS, GOID, CREATED).
        let n = CAPTURED.load(Ordering::Acquire);
        if n > 0 || start.elapsed() > Duration::from_secs(2) {
            break n.saturating_sub(1);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let id = GOID.load(Ordering::Relaxed);
    let pcs: Vec<usize> = PCS[..n].iter().map(|p| p.load(Ordering::Relaxed)).collect();
    let frames = gosan_detector::report::symbolize::symbolize(&pcs, "");
    let mut text = format!(
        "fatal error: gosan: watchdog: goroutine {id} reached no scheduling point for {}s \
         (a loop without gosan operations, or a std lock or channel; use gosan's primitives \
         or gosan::blocking)\n\ngoroutine {id} [running]:\n",
        limit.as_secs_f64()
    );
    for f in &frames {
        text.push_str(&format!("{}(...)\n\t{}:{}\n", f.function, f.file, f.line));
    }
    let created = CREATED.load(Ordering::Relaxed);
    if created != 0 && id != 1 {
        // SAFETY: the handler stored a `&'static Location` as an address.
        let loc = unsafe { &*(created as *const std::panic::Location<'static>) };
        text.push_str(&format!(
            "created by gosan::go at\n\t{}:{}\n",
            loc.file(),
            loc.line()
        ));
    }
    eprint!("{text}");
    // SAFETY: _exit has no preconditions; the stuck thread cannot unwind.
    unsafe { libc::_exit(2) }
}

extern "C" fn on_sigurg(_sig: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if TARGET.load(Ordering::Relaxed) == 0 {
        return; // not ours: SIGURG is otherwise ignored
    }
    let g = super::current_g_ptr();
    if !g.is_null() {
        // SAFETY: `g` is this thread's running goroutine (CUR_G).
        let (lo, hi, id, loc) = unsafe { super::overflow_info(g) };
        let (pc, fp) = interrupted_pc_fp(ctx);
        let mut n = 0;
        if pc != 0 {
            PCS[0].store(pc + 1, Ordering::Relaxed); // +1: symbolized as a return address
            n = 1;
        }
        // SAFETY: `[lo, hi)` is the running goroutine's live stack.
        unsafe {
            capture::frames(fp, lo, hi, capture::MAX_FRAMES - n, |r| {
                PCS[n].store(r, Ordering::Relaxed);
                n += 1;
            })
        };
        GOID.store(id, Ordering::Relaxed);
        CREATED.store(loc as *const _ as usize, Ordering::Relaxed);
        // Release: pairs with the Acquire in `report`.
        CAPTURED.store(n + 1, Ordering::Release);
    } else {
        CAPTURED.store(1, Ordering::Release);
    }
    loop {
        // SAFETY: nanosleep is async-signal-safe; the watchdog thread exits the
        // process.
        unsafe {
            let ts = libc::timespec {
                tv_sec: 1,
                tv_nsec: 0,
            };
            libc::nanosleep(&ts, std::ptr::null_mut());
        }
    }
}

/// The interrupted program counter and frame pointer (0, 0 when unknown).
fn interrupted_pc_fp(ctx: *mut libc::c_void) -> (usize, usize) {
    if ctx.is_null() {
        return (0, 0);
    }
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    // SAFETY: for SA_SIGINFO handlers the third argument is the interrupted ucontext.
    unsafe {
        let g = &(*(ctx as *const libc::ucontext_t)).uc_mcontext.gregs;
        (
            g[libc::REG_RIP as usize] as usize,
            g[libc::REG_RBP as usize] as usize,
        )
    }
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    // SAFETY: as above.
    unsafe {
        let m = &(*(ctx as *const libc::ucontext_t)).uc_mcontext;
        (m.pc as usize, m.regs[29] as usize)
    }
    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    {
        (0, 0)
    }
}
