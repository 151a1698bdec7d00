//! The panic hook: a panic inside a goroutine is Go's `panic`, printed by gosan's
//! report (or recovered by the user's `catch_unwind`, then silent like Go's
//! `recover`), never by std's "thread panicked at" message.
//!
//! The hook runs at the panic site, before unwinding, so it is where the panicking
//! goroutine's stack still exists: it captures raw PCs (DWARF unwinding through
//! `backtrace`, since std's own frames may lack frame pointers; panics are the cold
//! path) and leaves them for the goroutine's root to pick up.

use crate::capture::{Pcs, MAX_FRAMES};
use std::cell::RefCell;
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

thread_local! {
    static LAST_PANIC_PCS: RefCell<Pcs> = RefCell::new(Pcs::new());
    /// The message of the last unwinding panic in a goroutine of this thread: what a
    /// panic that cannot unwind (a destructor panicking during an unwind) names.
    static LAST_PANIC_MSG: RefCell<String> = const { RefCell::new(String::new()) };
}

/// gosan's hook's data address (see [`install`]), 0 before the first install.
static OURS: AtomicUsize = AtomicUsize::new(0);
/// Serializes gosan's own take/set of the hook (runs on parallel threads).
static INSTALL: Mutex<()> = Mutex::new(());

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Makes sure gosan's hook is installed, at the start of every run: when a user's
/// `std::panic::set_hook` replaced it since, gosan's hook is installed again on top,
/// chaining to the user's hook outside gosan goroutines (so reports keep their
/// stacks and the user's hook still sees every other panic).
///
/// Which hook is installed is told by the address of its box: gosan's captures the
/// previous hook, so it is never zero-sized and its address is its own while it is
/// installed.
pub(crate) fn install() {
    if std::thread::panicking() {
        return; // std refuses to touch the hook from a panicking thread
    }
    let _serial = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);
    let cur = std::panic::take_hook();
    if hook_addr(&cur) == OURS.load(Ordering::Relaxed) {
        std::panic::set_hook(cur);
        return;
    }
    let hook: Hook = Box::new(move |info| gosan_hook(info, &cur));
    // Relaxed: read and written only under `INSTALL`.
    OURS.store(hook_addr(&hook), Ordering::Relaxed);
    std::panic::set_hook(hook);
}

fn hook_addr(h: &Hook) -> usize {
    &**h as *const (dyn Fn(&PanicHookInfo<'_>) + Sync + Send) as *const () as usize
}

fn gosan_hook(info: &PanicHookInfo<'_>, prev: &Hook) {
    let g = crate::sched::current_g_ptr();
    if !g.is_null() {
        // SAFETY: `g` is this thread's running goroutine (CUR_G).
        let (lo, hi, id, _) = unsafe { crate::sched::overflow_info(g) };
        // The texts of `core::panicking::panic_in_cleanup` and
        // `panic_cannot_unwind` (`PanicHookInfo::can_unwind` is unstable):
        // Rust aborts right after this hook.
        if let Some(
            why @ ("panic in a destructor during cleanup"
            | "panic in a function that cannot unwind"),
        ) = payload_str(info)
        {
            cannot_unwind(id, why);
        }
        LAST_PANIC_MSG.with(|m| {
            if let Ok(mut m) = m.try_borrow_mut() {
                m.clear();
                m.push_str(payload_str(info).unwrap_or("(non-string panic payload)"));
            }
        });
        let mut pcs = Pcs::new();
        backtrace::trace(|frame| {
            // Stop at the goroutine's root: frames beyond belong to the
            // scheduler's own stack.
            let sp = frame.sp() as usize;
            if sp != 0 && (sp < lo || sp >= hi) {
                return false;
            }
            pcs.push(frame.ip() as usize);
            pcs.len() < MAX_FRAMES + 16
        });
        LAST_PANIC_PCS.with(|p| *p.borrow_mut() = pcs);
    } else {
        prev(info)
    }
}

/// The PCs captured at the last panic on this thread (innermost first).
pub(crate) fn take_panic_pcs() -> Pcs {
    LAST_PANIC_PCS.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

/// A panic that cannot unwind in a goroutine: a destructor panicked while the
/// goroutine was already unwinding (its panic, or teardown's unwind at the end of a
/// run). Rust aborts the process right after this hook; gosan reports it as Go
/// reports a panic during panicking — both messages and the goroutine's stack — and
/// exits 2 instead of dying of SIGABRT with no report.
#[cold]
fn cannot_unwind(goid: u64, why: &str) -> ! {
    let inner = LAST_PANIC_MSG.with(|m| m.try_borrow().map(|m| m.clone()).unwrap_or_default());
    let pcs = take_panic_pcs();
    // The run's own findings first, when teardown was under way (they were taken
    // before it started); else the run was still going and has none to lose but
    // this one.
    if let Some(report) = crate::run::AbortReport::text() {
        eprint!("{report}");
        if !report.ends_with('\n') {
            eprintln!();
        }
    }
    let frames = gosan_detector::report::symbolize::symbolize(&pcs, "");
    let mut text = format!(
        "panic: {inner}\n\tpanic: {why}\nfatal error: gosan: a destructor panicked while goroutine {goid} was unwinding; Rust cannot continue\n\ngoroutine {goid} [running]:\n"
    );
    for f in &frames {
        text.push_str(&format!("{}(...)\n\t{}:{}\n", f.function, f.file, f.line));
    }
    eprint!("{text}");
    std::process::exit(2)
}

/// The panic's message when it is a string (`PanicHookInfo::payload_as_str` needs
/// Rust 1.91, above the workspace's MSRV).
fn payload_str<'a>(info: &'a PanicHookInfo<'_>) -> Option<&'a str> {
    let p = info.payload();
    p.downcast_ref::<&'static str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
}
