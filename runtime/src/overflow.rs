//! Stack overflow of a goroutine: a clear report naming the goroutine and where it
//! was created, then exit 2 (Go's `fatal error: stack overflow`), never a bare
//! SIGSEGV and never silent corruption.
//!
//! A guarded stack's overflow faults on its guard page. The SIGSEGV/SIGBUS handler
//! runs on an alternate signal stack (installed per thread here if std has not), checks
//! whether the fault address lies in the running goroutine's guard zone, and if so
//! writes the report with `write(2)` only (async-signal-safe: no allocation, no locks;
//! the creation site is a `&'static Location`) and `_exit(2)`s. Any other fault goes
//! to the previously installed handler (std's own stack-overflow check, or the
//! default action). Slab stacks (beyond the guard budget) are checked by their zero red zone at
//! every switch ([`report_and_exit`] from the loop).

use std::panic::Location;
use std::sync::Once;

static mut PREV_SEGV: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();
static mut PREV_BUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();

thread_local! {
    static ALTSTACK_SET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

const ALTSTACK_SIZE: usize = 64 * 1024;

/// Installs the handler (once per process) and an alternate signal stack on this
/// thread if it has none.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: installing a handler with a zeroed sigaction filled here; the
        // previous actions are saved once, before any other thread reads them.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(
                libc::SIGSEGV,
                &sa,
                (&raw mut PREV_SEGV).cast::<libc::sigaction>(),
            );
            libc::sigaction(
                libc::SIGBUS,
                &sa,
                (&raw mut PREV_BUS).cast::<libc::sigaction>(),
            );
        }
    });
    if !ALTSTACK_SET.with(|a| a.get()) {
        ALTSTACK_SET.with(|a| a.set(true));
        // SAFETY: querying then (if disabled) installing an alternate stack for this
        // thread; the memory is leaked on purpose (it must outlive the thread's use).
        unsafe {
            let mut old: libc::stack_t = std::mem::zeroed();
            libc::sigaltstack(std::ptr::null(), &mut old);
            if old.ss_flags & libc::SS_DISABLE != 0 {
                let mem = Box::leak(vec![0u8; ALTSTACK_SIZE].into_boxed_slice());
                let st = libc::stack_t {
                    ss_sp: mem.as_mut_ptr().cast(),
                    ss_flags: 0,
                    ss_size: ALTSTACK_SIZE,
                };
                libc::sigaltstack(&st, std::ptr::null_mut());
            }
        }
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let g = crate::sched::current_g_ptr();
    if !g.is_null() {
        // SAFETY: `g` is this thread's running goroutine (CUR_G), whose record lives
        // while it runs.
        let (lo, hi, id, loc) = unsafe { crate::sched::overflow_info(g) };
        let red_top = lo + crate::coro::stack::GUARD_SIZE;
        let page = 4096;
        // A fault in the guard page, or any fault while the stack pointer is below
        // the usable stack (a slab stack's overflow runs past its red zone until it
        // touches unmapped memory).
        let sp = interrupted_sp(ctx);
        if (addr >= lo.saturating_sub(page) && addr < red_top) || (sp != 0 && sp < red_top) {
            report_and_exit(id, loc, hi - red_top);
        }
    }
    // Not ours: hand over to the previous handler.
    // SAFETY: PREV_* were written once by `install` before this handler could run.
    unsafe {
        let prev: &libc::sigaction = if sig == libc::SIGBUS {
            &*(&raw const PREV_BUS).cast::<libc::sigaction>()
        } else {
            &*(&raw const PREV_SEGV).cast::<libc::sigaction>()
        };
        let h = prev.sa_sigaction;
        if h == libc::SIG_DFL || h == libc::SIG_IGN {
            libc::sigaction(sig, prev, std::ptr::null_mut());
            return; // the fault repeats under the default action
        }
        if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(h);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
            f(sig);
        }
    }
}

/// The stack pointer of the interrupted code, from the signal's ucontext (0 when
/// unknown on this target).
fn interrupted_sp(ctx: *mut libc::c_void) -> usize {
    if ctx.is_null() {
        return 0;
    }
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    // SAFETY: for SA_SIGINFO handlers the third argument is the interrupted ucontext.
    unsafe {
        (*(ctx as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RSP as usize] as usize
    }
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    // SAFETY: as above.
    unsafe {
        (*(ctx as *const libc::ucontext_t)).uc_mcontext.sp as usize
    }
    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    {
        0
    }
}

/// Writes Go's stack-overflow report for goroutine `id` and exits with status 2.
/// Async-signal-safe: `write(2)` of static text and digits formatted on the stack.
pub(crate) fn report_and_exit(id: u64, loc: &'static Location<'static>, limit: usize) -> ! {
    fn w(s: &[u8]) {
        // SAFETY: writing a valid buffer to stderr.
        unsafe { libc::write(2, s.as_ptr().cast(), s.len()) };
    }
    fn num(mut n: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        w(&buf[i..]);
    }
    w(b"runtime: goroutine stack exceeds ");
    num(limit as u64);
    w(b"-byte limit\nfatal error: stack overflow\n\ngoroutine ");
    num(id);
    w(b" [running]:\n");
    if id == 1 {
        w(b"main goroutine\n");
    } else {
        w(b"created by gosan::go at\n\t");
        w(loc.file().as_bytes());
        w(b":");
        num(loc.line() as u64);
        w(b"\n");
    }
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(2) }
}
