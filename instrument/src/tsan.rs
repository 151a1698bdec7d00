//! The ThreadSanitizer ABI on gosan's detector: the `__tsan_*` functions that LLVM's
//! `tsan` pass makes instrumented code call (`-Cpasses=forceattrs,tsan-module,tsan`,
//! which `cargo gosan` adds for your workspace crates), implemented by feeding
//! gosan's FastTrack engine (`gosan_runtime::__private::instrumented`) instead of the TSan
//! runtime.
//!
//! The functions are ordinary (mangled) Rust functions unless the `tsan` feature is on
//! — `cargo gosan`'s wrapper turns it on, in its own target directory — and then
//! they carry their C names (`#[no_mangle]`), so that a binary not built by
//! `cargo gosan` never defines `__tsan_read8` (which would clash with the real TSan
//! runtime of `-Zsanitizer=thread`) nor replaces `free`.
//!
//! # Fast path (every load and store of instrumented code)
//!
//! 1. No goroutine running on this thread (no run, scheduler context, plain
//!    threads): return. One thread-local read and a branch
//!    (`gosan_runtime::__private::instrumented::filter`).
//! 2. The address is on the running goroutine's own stack: return. Goroutine stacks
//!    are pooled and reused by later goroutines with no happens-before to the earlier
//!    ones, and Rust code cannot hand a stack reference to another goroutine without
//!    `unsafe` (`go` takes `'static` closures), so the goroutine's locals are never
//!    shared; TSan's pass skips non-escaping locals for the same reason.
//! 3. **Same epoch**: the word's shadow (direct-mapped: three dependent loads, see
//!    `gosan_detector::hb::table`) already records this kind of access at the
//!    goroutine's current epoch: return. FastTrack's same-epoch rule makes this exact
//!    — the detector would change nothing and report nothing — and it holds whoever's
//!    code made the access, so it comes before the classification below. Steps 1–3
//!    are inlined in the shim with one thread-local read for the run and goroutine
//!    (`gosan_runtime::__private::instrumented::filter`) and one for pending frees
//!    (with frees pending the shadow may be stale, so step 3 is skipped); everything
//!    after is out of line.
//! 4. **Whose code is this?** gosan's own generic code (`Chan<T>::send`,
//!    `Mutex<T>::lock`, `go::<F>`, the coroutine library's) is monomorphized — and so
//!    instrumented — inside your crate. Its accesses to gosan's internal state, and
//!    its internal atomics, must not be seen: they are not your program's memory, and
//!    their acquire/release pairs would add happens-before edges Go's memory model
//!    does not have (two senders on one channel would look ordered), hiding real
//!    races. TSan solves this with `ThreadIgnoreBegin/End` around its interceptors;
//!    gosan cannot put such a guard everywhere its generic code runs (drop glue and
//!    `Clone` of handles, `go` and the scheduler's spawn, code inlined into your
//!    function), and a per-thread counter would be wrong anyway, because a goroutine
//!    parks *inside* `send` and another goroutine then runs on the same thread. So the
//!    decision is made by **code address**: the return address the shim was called
//!    from is symbolized once (with inlined frames, from the debug info `cargo gosan`
//!    makes sure exists) and classified by the innermost function's crate —
//!    gosan's crates: ignore; `std`/`core`/`alloc` and gosan's own dependencies
//!    (`corosensei`, `smallvec`, …) or a generic impl on a type parameter: ask the
//!    caller (walk one frame-pointer frame up and classify that return address); any
//!    other crate: your code, record. Verdicts are cached per address in a
//!    direct-mapped table of atomic words, so the steady-state cost is one multiply,
//!    one load and one compare per frame looked at.
//! 5. Pending frees are flushed, then the access goes to the detector, its site
//!    interned by the return addresses step 4 read (no stack walk unless the site is
//!    new or `history_size > 0`; see `RaceRun::site_pc`). Instrumented
//!    accesses are not scheduling points (they would change the program's schedule
//!    space by orders of magnitude); gosan's own operations still are.
//!
//! # Atomics
//!
//! `__tsan_atomicN_*` perform the real operation with the requested memory order,
//! then report an atomic access (never racing with another atomic access, racing
//! with a plain one) with the happens-before of the order, keyed by address like
//! `gosan::sync::atomic` and `gosan::race::{acquire, release}`: an acquire load
//! acquires, a release store release-stores, a read-modify-write acquires and/or
//! release-merges (it continues a release sequence), a failed compare-exchange is a
//! load with the failure order. Fences: an acquire fence acquires the clocks of the
//! addresses the goroutine read with non-acquire atomics since its previous acquire
//! fence (so `Arc`'s `fetch_sub(Release)` + `fence(Acquire)` before dropping the
//! value orders the drop after every other owner's last use), and a release fence
//! makes the goroutine's next relaxed store or read-modify-write a release. 128-bit
//! atomics do not exist in stable Rust, so the pass never asks for
//! `__tsan_atomic128_*`.
//!
//! # Freed memory
//!
//! A block freed by one goroutine and reused by another's allocation must start with
//! no history, or the two unrelated owners race on paper. The allocator is not
//! instrumented (std is precompiled), so with the `tsan` feature this module
//! interposes glibc's `free` and `realloc` in the instrumented binary (as TSan's
//! interceptors do): while a gosan run is active on the thread, each freed block's
//! `[ptr, ptr + malloc_usable_size)` is queued in a thread-local buffer (no allocation,
//! no detector call inside `free`, which may run inside the detector itself), and the
//! queue is applied (`race::freed`) at the next instrumented access, before that
//! access is recorded — so any access to reused memory sees it forgotten. Limits:
//! Linux/glibc only; a program that replaces `malloc`/`free` itself (an unprefixed
//! jemalloc) cannot be linked with it; frees on threads without a run are not seen.
//!
//! # Function entry and exit
//!
//! `__tsan_func_entry`/`__tsan_func_exit` are empty: stacks come from the
//! frame-pointer walk gosan already does (every crate is built with
//! `-Cforce-frame-pointers=yes`). A per-goroutine shadow stack (exact stacks through
//! code without frame pointers) is a follow-up.

use gosan_runtime::__private::instrumented as ins;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{self, AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

/// Set by [`__tsan_init`] (the instrumented module's constructor): the binary contains
/// instrumented code, so the `free`/`realloc` interposers do their work. Relaxed: it
/// is written once before `main` and only gates work that is optional before then.
static INSTRUMENTED: AtomicBool = AtomicBool::new(false);

/// Called by the constructor `tsan-module` adds to every instrumented object.
#[cfg_attr(feature = "tsan", no_mangle)]
pub extern "C" fn __tsan_init() {
    INSTRUMENTED.store(true, Ordering::Relaxed);
}

/// Whether an instrumented object's constructor ran in this process.
pub fn instrumented() -> bool {
    INSTRUMENTED.load(Ordering::Relaxed)
}

// ── whose code is this? ─────────────────────────────────────────────────────────

/// What a code address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Verdict {
    /// The user's code: its accesses are recorded.
    User = 1,
    /// gosan's code monomorphized in the user's crate: ignored.
    Gosan = 2,
    /// `std`/`core`/`alloc`, gosan's dependencies, a generic impl: the caller decides.
    Neutral = 3,
}

impl Verdict {
    fn from_bits(b: u64) -> Option<Verdict> {
        match b {
            1 => Some(Verdict::User),
            2 => Some(Verdict::Gosan),
            3 => Some(Verdict::Neutral),
            _ => None,
        }
    }
}

/// gosan's crates (as they appear in function paths).
const GOSAN_CRATES: &[&str] = &[
    "gosan",
    "gosan_runtime",
    "gosan_detector",
    "gosan_instrument",
    "gosan_macros",
];

/// Crates whose code is decided by its caller: the standard library and gosan's own
/// dependencies (their generic code runs for gosan or for the user alike).
const NEUTRAL_CRATES: &[&str] = &[
    "core",
    "alloc",
    "std",
    "hashbrown",
    "std_detect",
    "compiler_builtins",
    "panic_unwind",
    "test",
    "corosensei",
    "smallvec",
    "dashmap",
    "backtrace",
    "addr2line",
    "gimli",
    "libc",
];

/// Classifies a demangled function path (`{:#}` form, no hash).
pub fn classify_name(name: &str) -> Verdict {
    let s = name.trim_start_matches(['<', '&', '*', '(', '[']);
    let s = s
        .strip_prefix("mut ")
        .or_else(|| s.strip_prefix("const "))
        .or_else(|| s.strip_prefix("dyn "))
        .unwrap_or(s);
    let Some((krate, _)) = s.split_once("::") else {
        return Verdict::Neutral; // `main`, C functions, a bare name: ask the caller
    };
    if GOSAN_CRATES.contains(&krate) {
        Verdict::Gosan
    } else if NEUTRAL_CRATES.contains(&krate) || !is_ident(krate) {
        // `T as core::…` (an impl on a type parameter or a primitive): generic glue.
        Verdict::Neutral
    } else {
        Verdict::User
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Classifies a return address from its symbols, innermost inlined frame first: the
/// first non-neutral frame decides; all neutral: neutral; no symbol: the user's.
fn classify_pc(pc: usize) -> Verdict {
    let mut verdict = None;
    let mut any = false;
    // A return address points after the call; the call is one byte earlier.
    backtrace::resolve(pc.saturating_sub(1) as *mut std::ffi::c_void, |sym| {
        if verdict.is_some() {
            return;
        }
        if let Some(name) = sym.name() {
            any = true;
            match classify_name(&format!("{name:#}")) {
                Verdict::Neutral => {}
                v => verdict = Some(v),
            }
        }
    });
    match verdict {
        Some(v) => v,
        None if any => Verdict::Neutral,
        None => Verdict::User,
    }
}

const CACHE_BITS: u32 = 14;

/// Verdicts by code address: `pc << 2 | verdict`, direct-mapped. Relaxed: each entry
/// is one self-describing word, nothing else is published through it.
static CACHE: [AtomicU64; 1 << CACHE_BITS] = [const { AtomicU64::new(0) }; 1 << CACHE_BITS];

/// Every verdict computed (the direct-mapped table may evict; this never does).
static SLOW: Mutex<Option<HashMap<usize, Verdict>>> = Mutex::new(None);

/// The verdict for return address `pc` (cached).
#[inline]
pub fn verdict(pc: usize) -> Verdict {
    let i = ((pc as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - CACHE_BITS)) as usize;
    let e = CACHE[i].load(Ordering::Relaxed);
    if e >> 2 == pc as u64 {
        if let Some(v) = Verdict::from_bits(e & 3) {
            return v;
        }
    }
    let v = verdict_slow(pc);
    CACHE[i].store(((pc as u64) << 2) | v as u64, Ordering::Relaxed);
    v
}

#[cold]
#[inline(never)]
fn verdict_slow(pc: usize) -> Verdict {
    let mut slow = SLOW.lock().unwrap_or_else(|e| e.into_inner());
    let map = slow.get_or_insert_with(HashMap::new);
    if let Some(&v) = map.get(&pc) {
        return v;
    }
    // Symbolize on a fresh OS thread: loading and walking DWARF wants more stack than
    // a goroutine may have left.
    let v = std::thread::scope(|s| s.spawn(|| classify_pc(pc)).join()).unwrap_or(Verdict::User);
    map.insert(pc, v);
    v
}

/// Frames looked at before deciding "the user's" by default.
const MAX_WALK: usize = 24;

/// Whether the access whose shim has frame pointer `fp` was made by the user's code
/// (see the module docs, step 3): `Some((pc, user_pc))` if so — `pc` the return
/// address into the instrumented code, `user_pc` the innermost one classified as the
/// user's (or the last one looked at when the walk ended undecided) — `None` for
/// gosan's code. Reads only inside the goroutine's stack `[lo, hi)`.
#[inline]
fn user_code(mut fp: usize, lo: usize, hi: usize) -> Option<(usize, usize)> {
    let word = std::mem::size_of::<usize>();
    let (mut first, mut last) = (0, 0);
    for _ in 0..MAX_WALK {
        if fp < lo || fp.checked_add(2 * word).is_none_or(|e| e > hi) || fp % word != 0 {
            break;
        }
        // SAFETY: `fp` and `fp + word` lie inside [lo, hi), the running goroutine's
        // mapped stack (checked just above).
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + word) as *const usize)) };
        if ret == 0 {
            break;
        }
        if first == 0 {
            first = ret;
        }
        last = ret;
        match verdict(ret) {
            Verdict::User => break,
            Verdict::Gosan => return None,
            Verdict::Neutral => {}
        }
        if next <= fp {
            break;
        }
        fp = next;
    }
    Some((first, last))
}

// ── the hooks' common paths ─────────────────────────────────────────────────────

thread_local! {
    /// Inside the detector on behalf of a shim: frees are the detector's own.
    static BUSY: Cell<bool> = const { Cell::new(false) };
    /// Frees queued by the interposers: (buffer, len, capacity), buffer from
    /// `__libc_malloc` (so growing it never calls back into `free`).
    static PENDING: Cell<(*mut [u64; 2], usize, usize)> =
        const { Cell::new((std::ptr::null_mut(), 0, 0)) };
}

/// Runs `f` (a detector call) with frees not queued: they are the detector's own.
#[inline(always)]
fn busy<R>(f: impl FnOnce() -> R) -> R {
    BUSY.set(true);
    let r = f();
    BUSY.set(false);
    r
}

/// Whether frees queued by the interposers wait to be applied (the shadow may be
/// stale until they are): one thread-local read.
#[inline(always)]
fn frees_pending() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    return PENDING.get().1 != 0;
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// The running goroutine `g`'s access, past the fast path, by the shim with frame
/// pointer `fp`: `Some((g, pc, user_pc))` (see [`user_code`]) when it is the user's
/// and must be recorded, after flushing pending frees.
#[inline(always)]
fn classified(fp: usize, g: ins::Running) -> Option<(ins::Running, usize, usize)> {
    let (pc, user_pc) = user_code(fp, g.lo, g.hi)?;
    flush_frees();
    Some((g, pc, user_pc))
}

/// The running goroutine when the access at `addr` by the shim with frame pointer
/// `fp` is the user's and must be recorded (after flushing pending frees), with the
/// return addresses of [`user_code`].
#[inline(always)]
fn recorded(fp: usize, addr: usize) -> Option<(ins::Running, usize, usize)> {
    let g = ins::current()?;
    if addr >= g.lo && addr < g.hi {
        return None;
    }
    classified(fp, g)
}

/// A plain access by the shim that inlines this: the fast path ([`ins::filter`]: no
/// goroutine, own stack, same epoch) inline, the rest out of line. The shim's frame
/// pointer is read only on the slow path (it is the shim's until it returns), so the
/// fast path keeps nothing in callee-saved registers.
#[inline(always)]
fn plain(addr: usize, size: u64, write: bool) {
    // SAFETY: called only from the shims below: `#[inline(never)]` functions with no
    // scheduling point, so no goroutine switch happens before `filter` returns.
    if unsafe { ins::filter(addr, size, write, !frees_pending()) } {
        return;
    }
    plain_slow(ins::frame_pointer(), addr, size, write);
}

/// A plain access the fast path let through: classify the code, then record.
#[inline(never)]
fn plain_slow(fp: usize, addr: usize, size: u64, write: bool) {
    if let Some((_, pc, user_pc)) = recorded(fp, addr) {
        busy(|| ins::access(fp, pc, user_pc, addr as u64, size, write, false));
    }
}

#[inline(always)]
fn range(fp: usize, addr: usize, len: usize, write: bool) {
    if len == 0 {
        return;
    }
    if let Some((_, pc, user_pc)) = recorded(fp, addr) {
        busy(|| ins::range(fp, pc, user_pc, addr as u64, len as u64, write));
    }
}

// ── plain loads and stores ──────────────────────────────────────────────────────

macro_rules! plain_hooks {
    ($($name:ident => $size:expr, $write:expr;)*) => {$(
        #[doc = concat!("Instrumented ", stringify!($size), "-byte access at `addr` (",
            stringify!($name), ").")]
        #[cfg_attr(feature = "tsan", no_mangle)]
        #[inline(never)]
        pub extern "C" fn $name(addr: *mut u8) {
            plain(addr as usize, $size, $write);
        }
    )*};
}

plain_hooks! {
    __tsan_read1 => 1, false;
    __tsan_read2 => 2, false;
    __tsan_read4 => 4, false;
    __tsan_read8 => 8, false;
    __tsan_read16 => 16, false;
    __tsan_write1 => 1, true;
    __tsan_write2 => 2, true;
    __tsan_write4 => 4, true;
    __tsan_write8 => 8, true;
    __tsan_write16 => 16, true;
    __tsan_unaligned_read2 => 2, false;
    __tsan_unaligned_read4 => 4, false;
    __tsan_unaligned_read8 => 8, false;
    __tsan_unaligned_read16 => 16, false;
    __tsan_unaligned_write2 => 2, true;
    __tsan_unaligned_write4 => 4, true;
    __tsan_unaligned_write8 => 8, true;
    __tsan_unaligned_write16 => 16, true;
    __tsan_volatile_read1 => 1, false;
    __tsan_volatile_read2 => 2, false;
    __tsan_volatile_read4 => 4, false;
    __tsan_volatile_read8 => 8, false;
    __tsan_volatile_read16 => 16, false;
    __tsan_volatile_write1 => 1, true;
    __tsan_volatile_write2 => 2, true;
    __tsan_volatile_write4 => 4, true;
    __tsan_volatile_write8 => 8, true;
    __tsan_volatile_write16 => 16, true;
    // `-tsan-compound-read-before-write`: a read then a write, reported as the write.
    __tsan_read_write1 => 1, true;
    __tsan_read_write2 => 2, true;
    __tsan_read_write4 => 4, true;
    __tsan_read_write8 => 8, true;
    __tsan_read_write16 => 16, true;
    __tsan_unaligned_read_write2 => 2, true;
    __tsan_unaligned_read_write4 => 4, true;
    __tsan_unaligned_read_write8 => 8, true;
    __tsan_unaligned_read_write16 => 16, true;
    // C++ vtable pointers (never emitted for Rust): an 8-byte load/store.
    __tsan_vptr_read => 8, false;
}

/// A C++ vtable-pointer store (never emitted for Rust): an 8-byte store.
#[cfg_attr(feature = "tsan", no_mangle)]
#[inline(never)]
pub extern "C" fn __tsan_vptr_update(addr: *mut u8, _new: *mut u8) {
    plain(addr as usize, 8, true);
}

/// `size` bytes read from `addr` (an access of an unusual size).
#[cfg_attr(feature = "tsan", no_mangle)]
#[inline(never)]
pub extern "C" fn __tsan_read_range(addr: *mut u8, size: usize) {
    range(ins::frame_pointer(), addr as usize, size, false);
}

/// `size` bytes written at `addr` (an access of an unusual size).
#[cfg_attr(feature = "tsan", no_mangle)]
#[inline(never)]
pub extern "C" fn __tsan_write_range(addr: *mut u8, size: usize) {
    range(ins::frame_pointer(), addr as usize, size, true);
}

/// Function entry: empty (stacks come from frame-pointer walks; see the module docs).
#[cfg_attr(feature = "tsan", no_mangle)]
pub extern "C" fn __tsan_func_entry(_pc: *mut u8) {}

/// Function exit: empty (see [`__tsan_func_entry`]).
#[cfg_attr(feature = "tsan", no_mangle)]
pub extern "C" fn __tsan_func_exit() {}

/// `memcpy` of instrumented code: copies, then reads `src` and writes `dst`.
///
/// # Safety
/// `memcpy`'s: `src` valid for `n` reads, `dst` for `n` writes, not overlapping.
#[cfg_attr(feature = "tsan", no_mangle)]
#[inline(never)]
pub unsafe extern "C" fn __tsan_memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract (that of `memcpy`).
    unsafe { std::ptr::copy_nonoverlapping(src, dst, n) };
    let fp = ins::frame_pointer();
    range(fp, src as usize, n, false);
    range(fp, dst as usize, n, true);
    dst
}

/// `memmove` of instrumented code: moves, then reads `src` and writes `dst`.
///
/// # Safety
/// `memmove`'s: `src` valid for `n` reads, `dst` for `n` writes.
#[cfg_attr(feature = "tsan", no_mangle)]
#[inline(never)]
pub unsafe extern "C" fn __tsan_memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract (that of `memmove`).
    unsafe { std::ptr::copy(src, dst, n) };
    let fp = ins::frame_pointer();
    range(fp, src as usize, n, false);
    range(fp, dst as usize, n, true);
    dst
}

/// `memset` of instrumented code: fills, then writes `dst`.
///
/// # Safety
/// `memset`'s: `dst` valid for `n` writes.
#[cfg_attr(feature = "tsan", no_mangle)]
#[inline(never)]
pub unsafe extern "C" fn __tsan_memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract (that of `memset`).
    unsafe { std::ptr::write_bytes(dst, c as u8, n) };
    range(ins::frame_pointer(), dst as usize, n, true);
    dst
}

// ── atomics ─────────────────────────────────────────────────────────────────────

/// TSan's `__tsan_memory_order`: relaxed, consume, acquire, release, acq_rel, seq_cst.
pub type Morder = i32;

fn acquires(mo: Morder) -> bool {
    matches!(mo, 1 | 2 | 4 | 5) || mo > 5
}

fn releases(mo: Morder) -> bool {
    mo >= 3
}

/// The order for a load (release parts dropped; consume is acquire).
fn load_order(mo: Morder) -> Ordering {
    match mo {
        0 | 3 => Ordering::Relaxed,
        1 | 2 | 4 => Ordering::Acquire,
        _ => Ordering::SeqCst,
    }
}

/// The order for a store (acquire parts dropped).
fn store_order(mo: Morder) -> Ordering {
    match mo {
        0..=2 => Ordering::Relaxed,
        3 | 4 => Ordering::Release,
        _ => Ordering::SeqCst,
    }
}

/// The order for a read-modify-write.
fn rmw_order(mo: Morder) -> Ordering {
    match mo {
        0 => Ordering::Relaxed,
        1 | 2 => Ordering::Acquire,
        3 => Ordering::Release,
        4 => Ordering::AcqRel,
        _ => Ordering::SeqCst,
    }
}

/// Per goroutine (keyed by run and goroutine id): what fences need.
#[derive(Default)]
struct FenceState {
    /// Addresses read by non-acquire atomics since the last acquire fence.
    reads: Vec<usize>,
    /// A release fence ran; the next relaxed store or RMW releases.
    release: bool,
}

/// Goroutines with fence state kept at most (a bound, not a limit users meet: past
/// it the table is cleared, forgetting pending fence edges).
const FENCE_GOROUTINES: usize = 4096;
/// Addresses a goroutine's pending acquire fence remembers (the most recent ones).
const FENCE_READS: usize = 16;

thread_local! {
    static FENCES: RefCell<HashMap<(usize, u64), FenceState>> = RefCell::new(HashMap::new());
}

fn with_fence_state<R>(goid: u64, f: impl FnOnce(&mut FenceState) -> R) -> Option<R> {
    let key = (ins::run_id(), goid);
    FENCES
        .try_with(|m| {
            let mut m = m.borrow_mut();
            if m.len() >= FENCE_GOROUTINES && !m.contains_key(&key) {
                m.clear();
            }
            f(m.entry(key).or_default())
        })
        .ok()
}

/// What an atomic operation did, for the detector.
#[derive(Clone, Copy)]
struct AtomicOp {
    /// Reported as a write (stores, read-modify-writes) or a read (loads, failed CAS).
    write: bool,
    /// It read a value (loads, RMWs, CAS): a later acquire fence may acquire it.
    reads: bool,
    /// Its order has acquire semantics.
    acquire: bool,
    /// Its order has release semantics.
    release: bool,
    /// A read-modify-write: a release merges into the address's clock (continuing
    /// the release sequence) instead of replacing it.
    rmw: bool,
}

impl AtomicOp {
    fn load(mo: Morder) -> AtomicOp {
        AtomicOp {
            write: false,
            reads: true,
            acquire: acquires(mo),
            release: false,
            rmw: false,
        }
    }
    fn store(mo: Morder) -> AtomicOp {
        AtomicOp {
            write: true,
            reads: false,
            acquire: false,
            release: releases(mo),
            rmw: false,
        }
    }
    fn rmw(mo: Morder) -> AtomicOp {
        AtomicOp {
            write: true,
            reads: true,
            acquire: acquires(mo),
            release: releases(mo),
            rmw: true,
        }
    }
    /// A compare-exchange: success order `mo` when it succeeded, else a load with
    /// failure order `fmo`.
    fn cas(ok: bool, mo: Morder, fmo: Morder) -> AtomicOp {
        if ok {
            AtomicOp::rmw(mo)
        } else {
            AtomicOp::load(fmo)
        }
    }
}

/// Reports atomic operation `op` on `size` bytes at `addr` by the shim with frame
/// pointer `fp`.
#[inline(always)]
fn atomic_done(fp: usize, addr: usize, size: u64, op: AtomicOp) {
    let Some((g, pc, user_pc)) = recorded(fp, addr) else {
        return;
    };
    busy(|| {
        ins::access(fp, pc, user_pc, addr as u64, size, op.write, true);
        let mut release = op.release;
        if (op.reads && !op.acquire) || (op.write && !op.release) {
            with_fence_state(g.goid, |st| {
                if op.reads && !op.acquire && !st.reads.contains(&addr) {
                    if st.reads.len() == FENCE_READS {
                        st.reads.remove(0);
                    }
                    st.reads.push(addr);
                }
                if op.write && !op.release && st.release {
                    st.release = false;
                    release = true;
                }
            });
        }
        if op.acquire {
            ins::acquire(addr);
        }
        if release {
            if op.rmw {
                ins::release_merge(addr);
            } else {
                ins::release(addr);
            }
        }
    });
}

/// A memory fence of instrumented code: performs it, then the edges described in
/// the module docs.
#[cfg_attr(feature = "tsan", no_mangle)]
#[inline(never)]
pub extern "C" fn __tsan_atomic_thread_fence(mo: Morder) {
    if mo != 0 {
        atomic::fence(rmw_order(mo));
    }
    let fp = ins::frame_pointer();
    let Some(g) = ins::current() else {
        return;
    };
    if mo == 0 || user_code(fp, g.lo, g.hi).is_none() {
        return;
    }
    flush_frees();
    busy(|| {
        let reads = with_fence_state(g.goid, |st| {
            if releases(mo) {
                st.release = true;
            }
            if acquires(mo) {
                std::mem::take(&mut st.reads)
            } else {
                Vec::new()
            }
        });
        for a in reads.unwrap_or_default() {
            ins::acquire(a);
        }
    });
}

/// A signal fence: a compiler fence, no happens-before between goroutines.
#[cfg_attr(feature = "tsan", no_mangle)]
pub extern "C" fn __tsan_atomic_signal_fence(mo: Morder) {
    if mo != 0 {
        atomic::compiler_fence(rmw_order(mo));
    }
}

macro_rules! atomic_hooks {
    ($t:ty, $at:ty, $size:expr,
     $load:ident, $store:ident, $xchg:ident,
     $add:ident, $sub:ident, $and:ident, $or:ident, $xor:ident, $nand:ident,
     $cas_strong:ident, $cas_weak:ident, $cas_val:ident) => {
        /// Atomic load of instrumented code.
        ///
        /// # Safety
        /// `a` is valid and aligned for an atomic access of its size, as LLVM
        /// guarantees for the atomic instruction it replaced.
        #[cfg_attr(feature = "tsan", no_mangle)]
        #[inline(never)]
        pub unsafe extern "C" fn $load(a: *const $t, mo: Morder) -> $t {
            // SAFETY: the caller's contract: a valid, aligned atomic location.
            let v = unsafe { &*(a as *const $at) }.load(load_order(mo));
            atomic_done(ins::frame_pointer(), a as usize, $size, AtomicOp::load(mo));
            v
        }

        /// Atomic store of instrumented code.
        ///
        /// # Safety
        /// As for the load.
        #[cfg_attr(feature = "tsan", no_mangle)]
        #[inline(never)]
        pub unsafe extern "C" fn $store(a: *mut $t, v: $t, mo: Morder) {
            atomic_done(ins::frame_pointer(), a as usize, $size, AtomicOp::store(mo));
            // SAFETY: the caller's contract: a valid, aligned atomic location.
            unsafe { &*(a as *const $at) }.store(v, store_order(mo));
        }

        atomic_hooks!(@rmw $t, $at, $size, $xchg, swap);
        atomic_hooks!(@rmw $t, $at, $size, $add, fetch_add);
        atomic_hooks!(@rmw $t, $at, $size, $sub, fetch_sub);
        atomic_hooks!(@rmw $t, $at, $size, $and, fetch_and);
        atomic_hooks!(@rmw $t, $at, $size, $or, fetch_or);
        atomic_hooks!(@rmw $t, $at, $size, $xor, fetch_xor);
        atomic_hooks!(@rmw $t, $at, $size, $nand, fetch_nand);

        /// Strong compare-exchange of instrumented code: on failure `*c` gets the
        /// current value; returns whether it succeeded.
        ///
        /// # Safety
        /// As for the load; `c` is valid for a read and a write.
        #[cfg_attr(feature = "tsan", no_mangle)]
        #[inline(never)]
        pub unsafe extern "C" fn $cas_strong(
            a: *mut $t,
            c: *mut $t,
            v: $t,
            mo: Morder,
            fmo: Morder,
        ) -> i32 {
            // SAFETY: the caller's contract: valid locations.
            let (at, cur) = unsafe { (&*(a as *const $at), *c) };
            let r = at.compare_exchange(cur, v, rmw_order(mo), load_order(fmo));
            atomic_done(ins::frame_pointer(), a as usize, $size, AtomicOp::cas(r.is_ok(), mo, fmo));
            match r {
                Ok(_) => 1,
                Err(now) => {
                    // SAFETY: the caller's contract: `c` is valid for writes.
                    unsafe { *c = now };
                    0
                }
            }
        }

        /// Weak compare-exchange of instrumented code (may fail spuriously, like the
        /// instruction it replaced).
        ///
        /// # Safety
        /// As for the strong one.
        #[cfg_attr(feature = "tsan", no_mangle)]
        #[inline(never)]
        pub unsafe extern "C" fn $cas_weak(
            a: *mut $t,
            c: *mut $t,
            v: $t,
            mo: Morder,
            fmo: Morder,
        ) -> i32 {
            // SAFETY: the caller's contract: valid locations.
            let (at, cur) = unsafe { (&*(a as *const $at), *c) };
            let r = at.compare_exchange_weak(cur, v, rmw_order(mo), load_order(fmo));
            atomic_done(ins::frame_pointer(), a as usize, $size, AtomicOp::cas(r.is_ok(), mo, fmo));
            match r {
                Ok(_) => 1,
                Err(now) => {
                    // SAFETY: the caller's contract: `c` is valid for writes.
                    unsafe { *c = now };
                    0
                }
            }
        }

        /// Compare-exchange of instrumented code returning the previous value (what
        /// LLVM's `cmpxchg` lowers to).
        ///
        /// # Safety
        /// As for the load.
        #[cfg_attr(feature = "tsan", no_mangle)]
        #[inline(never)]
        pub unsafe extern "C" fn $cas_val(a: *mut $t, c: $t, v: $t, mo: Morder, fmo: Morder) -> $t {
            // SAFETY: the caller's contract: a valid, aligned atomic location.
            let r = unsafe { &*(a as *const $at) }.compare_exchange(c, v, rmw_order(mo), load_order(fmo));
            atomic_done(ins::frame_pointer(), a as usize, $size, AtomicOp::cas(r.is_ok(), mo, fmo));
            match r {
                Ok(old) | Err(old) => old,
            }
        }
    };
    (@rmw $t:ty, $at:ty, $size:expr, $name:ident, $op:ident) => {
        #[doc = concat!("Atomic `", stringify!($op), "` of instrumented code; returns the previous value.")]
        ///
        /// # Safety
        /// `a` is valid and aligned for an atomic access of its size, as LLVM
        /// guarantees for the atomic instruction it replaced.
        #[cfg_attr(feature = "tsan", no_mangle)]
        #[inline(never)]
        pub unsafe extern "C" fn $name(a: *mut $t, v: $t, mo: Morder) -> $t {
            // SAFETY: the caller's contract: a valid, aligned atomic location.
            let old = unsafe { &*(a as *const $at) }.$op(v, rmw_order(mo));
            atomic_done(ins::frame_pointer(), a as usize, $size, AtomicOp::rmw(mo));
            old
        }
    };
}

atomic_hooks!(
    u8,
    AtomicU8,
    1,
    __tsan_atomic8_load,
    __tsan_atomic8_store,
    __tsan_atomic8_exchange,
    __tsan_atomic8_fetch_add,
    __tsan_atomic8_fetch_sub,
    __tsan_atomic8_fetch_and,
    __tsan_atomic8_fetch_or,
    __tsan_atomic8_fetch_xor,
    __tsan_atomic8_fetch_nand,
    __tsan_atomic8_compare_exchange_strong,
    __tsan_atomic8_compare_exchange_weak,
    __tsan_atomic8_compare_exchange_val
);
atomic_hooks!(
    u16,
    AtomicU16,
    2,
    __tsan_atomic16_load,
    __tsan_atomic16_store,
    __tsan_atomic16_exchange,
    __tsan_atomic16_fetch_add,
    __tsan_atomic16_fetch_sub,
    __tsan_atomic16_fetch_and,
    __tsan_atomic16_fetch_or,
    __tsan_atomic16_fetch_xor,
    __tsan_atomic16_fetch_nand,
    __tsan_atomic16_compare_exchange_strong,
    __tsan_atomic16_compare_exchange_weak,
    __tsan_atomic16_compare_exchange_val
);
atomic_hooks!(
    u32,
    AtomicU32,
    4,
    __tsan_atomic32_load,
    __tsan_atomic32_store,
    __tsan_atomic32_exchange,
    __tsan_atomic32_fetch_add,
    __tsan_atomic32_fetch_sub,
    __tsan_atomic32_fetch_and,
    __tsan_atomic32_fetch_or,
    __tsan_atomic32_fetch_xor,
    __tsan_atomic32_fetch_nand,
    __tsan_atomic32_compare_exchange_strong,
    __tsan_atomic32_compare_exchange_weak,
    __tsan_atomic32_compare_exchange_val
);
atomic_hooks!(
    u64,
    AtomicU64,
    8,
    __tsan_atomic64_load,
    __tsan_atomic64_store,
    __tsan_atomic64_exchange,
    __tsan_atomic64_fetch_add,
    __tsan_atomic64_fetch_sub,
    __tsan_atomic64_fetch_and,
    __tsan_atomic64_fetch_or,
    __tsan_atomic64_fetch_xor,
    __tsan_atomic64_fetch_nand,
    __tsan_atomic64_compare_exchange_strong,
    __tsan_atomic64_compare_exchange_weak,
    __tsan_atomic64_compare_exchange_val
);

// ── freed memory: free/realloc interposers (glibc) ──────────────────────────────

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod alloc_hooks {
    use super::{BUSY, INSTRUMENTED, PENDING};
    use std::ffi::c_void;
    use std::sync::atomic::Ordering;

    extern "C" {
        // glibc's own entry points, exported for interposers like this one: calling
        // them never comes back into `free`/`realloc` below.
        fn __libc_free(p: *mut c_void);
        fn __libc_realloc(p: *mut c_void, n: usize) -> *mut c_void;
    }

    /// Queues `[addr, addr + len)` as freed when a run is active on this thread and
    /// the detector is not the one freeing. Allocates nothing through `malloc`'s
    /// interposed paths.
    fn note_free(addr: u64, len: u64) {
        if len == 0 || BUSY.get() || !gosan_runtime::__private::instrumented::in_run() {
            return;
        }
        let (mut buf, n, mut cap) = PENDING.get();
        if n == cap {
            let new_cap = (cap * 2).max(64);
            // SAFETY: `buf` is null or this thread's buffer from `__libc_realloc`.
            let nb = unsafe { __libc_realloc(buf.cast(), new_cap * 16) };
            if nb.is_null() {
                return; // out of memory: this free is forgotten (never a crash)
            }
            buf = nb.cast();
            cap = new_cap;
        }
        // SAFETY: `n < cap` entries of 16 bytes were allocated at `buf`.
        unsafe { buf.add(n).write([addr, len]) };
        PENDING.set((buf, n + 1, cap));
    }

    /// `free` of the instrumented binary: queues the block as freed (see the module
    /// docs), then glibc's `free`.
    ///
    /// # Safety
    /// `free`'s: `p` is null or a live block from this `malloc`.
    #[cfg_attr(feature = "tsan", no_mangle)]
    pub unsafe extern "C" fn free(p: *mut c_void) {
        if !p.is_null() && INSTRUMENTED.load(Ordering::Relaxed) {
            // SAFETY: `p` is a live block (the caller's contract).
            let len = unsafe { libc::malloc_usable_size(p) };
            note_free(p as u64, len as u64);
        }
        // SAFETY: the caller's contract.
        unsafe { __libc_free(p) }
    }

    /// `realloc` of the instrumented binary: a block that moved (or was freed by a
    /// zero size) is queued as freed.
    ///
    /// # Safety
    /// `realloc`'s: `p` is null or a live block from this `malloc`.
    #[cfg_attr(feature = "tsan", no_mangle)]
    pub unsafe extern "C" fn realloc(p: *mut c_void, n: usize) -> *mut c_void {
        if p.is_null() || !INSTRUMENTED.load(Ordering::Relaxed) {
            // SAFETY: the caller's contract.
            return unsafe { __libc_realloc(p, n) };
        }
        // SAFETY: `p` is a live block (the caller's contract).
        let old = unsafe { libc::malloc_usable_size(p) };
        // SAFETY: the caller's contract.
        let r = unsafe { __libc_realloc(p, n) };
        if r != p && (!r.is_null() || n == 0) {
            note_free(p as u64, old as u64);
        }
        r
    }

    /// Applies the queued frees to the detector (called before recording an access).
    #[cold]
    #[inline(never)]
    pub(super) fn flush() {
        let (buf, n, _) = PENDING.get();
        PENDING.set((std::ptr::null_mut(), 0, 0));
        BUSY.set(true);
        for i in 0..n {
            // SAFETY: the first `n` entries of `buf` were written by `note_free`.
            let [addr, len] = unsafe { buf.add(i).read() };
            gosan_runtime::__private::instrumented::freed(addr, len);
        }
        BUSY.set(false);
        // SAFETY: `buf` came from `__libc_realloc` and is no longer referenced.
        unsafe { __libc_free(buf.cast()) };
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub use alloc_hooks::{free, realloc};

/// Applies frees queued by the interposers; one thread-local read when none are.
#[inline(always)]
fn flush_frees() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if PENDING.get().1 != 0 {
        alloc_hooks::flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified_by_their_crate() {
        use Verdict::*;
        for (name, v) in [
            ("gosan_runtime::chan::Chan<T>::send", Gosan),
            (
                "<gosan_runtime::chan::Chan<T> as core::clone::Clone>::clone",
                Gosan,
            ),
            ("gosan_runtime::sched::Sched::spawn::{{closure}}", Gosan),
            ("alloc::vec::Vec<T,A>::push", Neutral),
            (
                "<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop",
                Neutral,
            ),
            (
                "<&mut F as core::ops::function::FnOnce<A>>::call_once",
                Neutral,
            ),
            ("<T as core::convert::Into<U>>::into", Neutral),
            ("<[T] as core::slice::index::Index<I>>::index", Neutral),
            ("corosensei::coroutine::Coroutine<I,Y,R,S>::resume", Neutral),
            ("main", Neutral),
            ("my_app::counter::bump", User),
            ("<my_app::Account as core::ops::drop::Drop>::drop", User),
            ("my_app::tests::race::{{closure}}", User),
            ("gosan_user::main", User),
        ] {
            assert_eq!(classify_name(name), v, "{name}");
        }
    }

    #[test]
    fn memory_orders_map_to_valid_orderings() {
        for mo in 0..=5 {
            // Each is a valid ordering for its operation (std panics otherwise).
            let a = AtomicU64::new(1);
            a.load(load_order(mo));
            a.store(2, store_order(mo));
            a.fetch_add(1, rmw_order(mo));
            let _ = a.compare_exchange(3, 4, rmw_order(mo), load_order(mo));
        }
        assert!(acquires(2) && !acquires(3) && releases(3) && !releases(2));
        assert!(acquires(5) && releases(5) && acquires(4) && releases(4));
        assert!(!acquires(0) && !releases(0));
    }

    #[test]
    fn shims_outside_a_run_do_the_operation_and_nothing_else() {
        let mut x = 5u64;
        // SAFETY: `x` is a valid, aligned u64.
        unsafe {
            assert_eq!(__tsan_atomic64_fetch_add(&mut x, 2, 5), 5);
            assert_eq!(__tsan_atomic64_load(&x, 2), 7);
            let mut c = 1;
            assert_eq!(
                __tsan_atomic64_compare_exchange_strong(&mut x, &mut c, 9, 5, 5),
                0
            );
            assert_eq!(c, 7);
            assert_eq!(__tsan_atomic64_compare_exchange_val(&mut x, 7, 9, 5, 5), 7);
            assert_eq!(x, 9);
            let mut buf = [1u8; 8];
            __tsan_memset(buf.as_mut_ptr(), 3, 4);
            assert_eq!(buf, [3, 3, 3, 3, 1, 1, 1, 1]);
            let src = [9u8; 2];
            __tsan_memcpy(buf.as_mut_ptr(), src.as_ptr(), 2);
            __tsan_memmove(buf.as_mut_ptr().add(1), buf.as_ptr(), 4);
            assert_eq!(buf, [9, 9, 9, 3, 3, 1, 1, 1]);
        }
        __tsan_write8(&mut x as *mut u64 as *mut u8);
        __tsan_atomic_thread_fence(5);
    }
}
