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
use std::sync::Once;

thread_local! {
    static LAST_PANIC_PCS: RefCell<Pcs> = RefCell::new(Pcs::new());
}

/// Installs the hook once per process, chaining to the previous one outside gosan
/// goroutines.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let g = crate::sched::current_g_ptr();
            if !g.is_null() {
                // SAFETY: `g` is this thread's running goroutine (CUR_G).
                let (lo, hi, _, _) = unsafe { crate::sched::overflow_info(g) };
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
        }));
    });
}

/// The PCs captured at the last panic on this thread (innermost first).
pub(crate) fn take_panic_pcs() -> Pcs {
    LAST_PANIC_PCS.with(|p| std::mem::take(&mut *p.borrow_mut()))
}
