//! The goroutine record `G` (Go's `g` in `runtime2.go`), its state machine and wait
//! reasons, and the raw dumps made from it.
//!
//! # States
//! `Runnable` (in `runq`, or chosen and about to be resumed) → `Running` (the loop
//! resumed it) → `Waiting` (parked with a [`WaitReason`]; only `ready` or a timer
//! makes it `Runnable` again) → … → `Dead` (its slot and `G` record are reused).
//!
//! # Protocol (who touches which field)
//! - `run_loop.rs` writes every field when it (re)creates a `G` in `Sched::spawn`,
//!   sets `Running` before resuming and `Dead` when the coroutine returned; the
//!   coroutine itself (`coro`) is touched only by the loop and by teardown.
//! - `park.rs` sets `Runnable`/`Waiting`, `reason`, `forever` and `park_fp` on the
//!   running goroutine (and empties `unwound`), and `ready` sets `Runnable` on a
//!   `Waiting` one; a parked goroutine resumed with `Cmd::Dump` writes its own
//!   `unwound` (`park.rs`, "Dump protocol").
//! - `decide.rs` (PCT change points) and `park.rs` (`yield_now`) write `prio`;
//!   `timer.rs` readies sleepers.
//! - The detector (`race_ctx.rs`) reads `id`, `tid`, `lo`, `hi` of the running or a
//!   parked goroutine; the signal handler and the panic hook read the running
//!   goroutine's `lo`/`hi`/`id`/`created_loc` through [`overflow_info`].
//!
//! Invariant: a slot is in `runq` iff its state is `Runnable` and it is not the slot
//! about to be resumed. A `G` is boxed, so `*const G` stays valid while the slot
//! vector grows; records are never freed during a run.

use super::run_loop::{Cmd, Coro, Switch};
use super::Sched;
use crate::capture::{self, Pcs};
use corosensei::Yielder;
use gosan_detector::hb::Tid;
use std::panic::Location;

/// Go's wait reasons, as `goroutine N [reason]:` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitReason {
    ChanSend,
    ChanRecv,
    ChanSendNil,
    ChanRecvNil,
    Select,
    SelectNoCases,
    MutexLock,
    RwMutexRLock,
    RwMutexLock,
    WaitGroupWait,
    CondWait,
    Sleep,
    /// In `gosan::blocking` (Go's `[syscall]`).
    Syscall,
}

impl WaitReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WaitReason::ChanSend => "chan send",
            WaitReason::ChanRecv => "chan receive",
            WaitReason::ChanSendNil => "chan send (nil chan)",
            WaitReason::ChanRecvNil => "chan receive (nil chan)",
            WaitReason::Select => "select",
            WaitReason::SelectNoCases => "select (no cases)",
            WaitReason::MutexLock => "sync.Mutex.Lock",
            WaitReason::RwMutexRLock => "sync.RWMutex.RLock",
            WaitReason::RwMutexLock => "sync.RWMutex.Lock",
            WaitReason::WaitGroupWait => "sync.WaitGroup.Wait",
            WaitReason::CondWait => "sync.Cond.Wait",
            WaitReason::Sleep => "sleep",
            WaitReason::Syscall => "syscall",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GState {
    Runnable,
    Running,
    Waiting,
    Dead,
}

/// A goroutine record. Boxed so that raw pointers to it stay valid while the slot
/// vector grows; reused when its slot is.
pub(crate) struct G {
    pub(crate) id: u64,
    /// The goroutine's happens-before slot (meaningless when races are not detected).
    pub(crate) tid: Tid,
    pub(super) coro: Option<Coro>,
    pub(super) state: GState,
    pub(super) reason: WaitReason,
    /// Frame pointer at the park site: the dump walks from here, lazily.
    pub(super) park_fp: usize,
    /// The parked stack unwound with DWARF when a report needed it (`Cmd::Dump`,
    /// see `park.rs`); empty from each park until then.
    pub(super) unwound: Pcs,
    /// The goroutine's stack, `[lo, hi)`.
    pub(crate) lo: usize,
    pub(crate) hi: usize,
    pub(super) guarded: bool,
    pub(super) yielder: *const Yielder<Cmd, Switch>,
    pub(super) created_loc: &'static Location<'static>,
    /// Return addresses of the `go` statement's stack, innermost first: the first
    /// `created_len` entries (a fixed array, walked in place at every spawn).
    pub(super) created_pcs: [usize; CREATED_FRAMES],
    pub(super) created_len: u8,
    pub(super) prio: i64,
    /// `Sched::decisions` when it last got the CPU or became runnable: the fair
    /// pick (`decide.rs`) runs the queued goroutine with the oldest mark.
    pub(super) since: u64,
    /// Parked where nothing can ever wake it (nil channel, `select {}`).
    pub(super) forever: bool,
}

/// Frames of a goroutine's creation stack that are kept.
pub(super) const CREATED_FRAMES: usize = 8;

impl G {
    /// A dead record for a new slot; `Sched::spawn` fills it in.
    pub(super) fn blank(loc: &'static Location<'static>) -> G {
        G {
            id: 0,
            tid: Tid::new(0),
            coro: None,
            state: GState::Dead,
            reason: WaitReason::Sleep,
            park_fp: 0,
            unwound: Pcs::new(),
            lo: 0,
            hi: 0,
            guarded: false,
            yielder: std::ptr::null(),
            created_loc: loc,
            created_pcs: [0; CREATED_FRAMES],
            created_len: 0,
            prio: 0,
            since: 0,
            forever: false,
        }
    }

    pub(super) fn created_pcs(&self) -> Pcs {
        Pcs::from_slice(&self.created_pcs[..self.created_len as usize])
    }

    /// The dump of this goroutine as the running one (`running`), walked from `fp`,
    /// a frame pointer on its own stack.
    pub(super) fn running_dump(&self, pcs: Pcs) -> RawDump {
        RawDump {
            id: self.id,
            reason: "running",
            pcs,
            created_loc: (self.id != 1).then_some(self.created_loc),
            created_pcs: self.created_pcs(),
        }
    }
}

/// A goroutine's dump before symbolization.
#[derive(Clone)]
pub(crate) struct RawDump {
    pub(crate) id: u64,
    pub(crate) reason: &'static str,
    pub(crate) pcs: Pcs,
    pub(crate) created_loc: Option<&'static Location<'static>>,
    pub(crate) created_pcs: Pcs,
}

/// A panic or fatal error before symbolization.
#[derive(Clone)]
pub(crate) struct RawPanic {
    pub(crate) message: String,
    pub(crate) fatal: bool,
    pub(crate) goroutine: RawDump,
}

impl Sched {
    /// The dump of the parked goroutine in `slot`: its DWARF-unwound stack when
    /// `unwind_parked` (`park.rs`) ran since it parked, else the frame-pointer walk
    /// from its park site (complete only in code built with frame pointers).
    pub(super) fn dump(&self, slot: u32) -> RawDump {
        let g = &self.gs[slot as usize];
        let pcs = if g.unwound.is_empty() {
            // SAFETY: `park_fp` was taken on this goroutine's own stack `[lo, hi)`,
            // which stays mapped while the goroutine is parked (it is not `Dead`).
            unsafe { capture::walk(g.park_fp, g.lo, g.hi, capture::MAX_FRAMES) }
        } else {
            g.unwound.clone()
        };
        RawDump {
            id: g.id,
            reason: g.reason.as_str(),
            pcs,
            created_loc: (g.id != 1).then_some(g.created_loc),
            created_pcs: g.created_pcs(),
        }
    }
}

/// The goroutine's stack bounds, id and creation site (SIGSEGV handler, panic hook).
///
/// # Safety
/// `g` must be [`current_g_ptr`](super::current_g_ptr)'s non-null value on this
/// thread.
pub(crate) unsafe fn overflow_info(g: *const G) -> (usize, usize, u64, &'static Location<'static>) {
    // SAFETY: per the contract, the running goroutine's record.
    unsafe { ((*g).lo, (*g).hi, (*g).id, (*g).created_loc) }
}
