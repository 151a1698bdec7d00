//! Go's `context` package (`src/context/context.go`): cancellation trees with
//! deadlines on the virtual clock.
//!
//! # Shape
//! [`background`] is the empty root: never canceled, no deadline, a nil `done`
//! channel. Every other context is a cancel context (`CtxState`, Go's `cancelCtx` /
//! `timerCtx`): a `done` channel closed on cancel, the first error, and its children.
//!
//! # Invariants
//! - `err` goes from `None` to `Some` once; `done` is closed right after, before any
//!   child is canceled (so a child's `done` never closes before its parent's).
//! - A child holds its parent strongly (`parent`), a parent holds its children weakly
//!   (`children`, in creation order so cancellation is deterministic). Cancelling a
//!   parent cancels every descendant synchronously, in the canceling goroutine or the
//!   firing timer: no helper goroutines. A child canceled by itself unregisters.
//! - A child of a canceled parent is canceled at once with the parent's error. A
//!   deadline later than the parent's is not kept: the child inherits the parent's
//!   (Go). A deadline already due cancels with `DeadlineExceeded` at once.
//! - The deadline timer is a heap entry holding the state weakly; it fires in scheduler
//!   context and cancels the tree from there. When the last handle of a state goes but a
//!   clone of its `done` channel is still held, the parent's children entry keeps the
//!   channel (weakly) and a pending deadline is re-armed on the channel itself, so the
//!   holder still sees it closed.
//!
//! # Race detector
//! Each cancel context has two clocks under `m`:
//! - `arm`: what `with_deadline`/`with_timeout` released when arming the deadline.
//! - `clock`: what the cancellation published. A goroutine's `cancel` release-merges
//!   into it; a deadline firing (scheduler context) joins `arm` into it; a parent's
//!   cancellation joins the parent's published clock into each child's.
//!
//! `done` is closed with the published clock (`Chan::close_with_clock`), so a receive
//! that observes the close happens after the cancellation (and, for a deadline, after
//! the arming), and `err()` returning `Some` acquires it, as Go's `Err()` does
//! through its mutex. Creating a child of a canceled parent observes the parent's
//! cancellation (Go's `propagateCancel` receives from the parent's `Done()`).
//!
//! # Protocol (who touches what)
//! `CtxState::m` is a `SpinLock` held for a few instructions, never across a channel
//! close, a child's lock or a scheduling point: `cancel` takes the children out under
//! the lock, then closes and recurses unlocked. Lock order: a child's lock is never
//! held while its parent's is taken, and the reverse only for insertion/removal.

use crate::chan::{chan, Chan, Inner, RecvChan};
use crate::lock::SpinLock;
use crate::race::{self, RaceClock};
use crate::sched::{self, timer::Fire};
use crate::time::{self, Duration, Instant};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Why a context is done (Go's `context.Canceled` and `context.DeadlineExceeded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextError {
    /// `context canceled`: a [`CancelFunc`] was called.
    Canceled,
    /// `context deadline exceeded`: the deadline passed.
    DeadlineExceeded,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContextError::Canceled => "context canceled",
            ContextError::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for ContextError {}

/// Go's `context.Context`: a cheap `Clone` handle.
#[derive(Clone)]
pub struct Context {
    /// `None` for [`background`].
    inner: Option<Arc<CtxState>>,
}

/// Go's `context.CancelFunc`: cancels its context and every descendant. Idempotent.
#[derive(Clone)]
pub struct CancelFunc {
    ctx: Arc<CtxState>,
}

/// A child as its parent sees it.
struct ChildRef {
    state: Weak<CtxState>,
    /// Closed on the parent's cancel even when `state` is gone but the channel is held.
    done: Weak<Inner<()>>,
}

/// Under `CtxState::m`.
struct Synced {
    err: Option<ContextError>,
    /// Registered children by creation id (deterministic order); emptied on cancel.
    children: BTreeMap<u64, ChildRef>,
    /// Whether a deadline timer of this context is pending in the heap.
    timer: bool,
    /// What arming the deadline released (see the module docs).
    arm: RaceClock,
    /// What the cancellation published.
    clock: RaceClock,
}

/// A copy of `c` (`RaceClock` is not `Clone`: copies go through the detector).
fn copy_clock(c: &mut RaceClock) -> RaceClock {
    let mut out = RaceClock::new();
    race::clock_into(c, &mut out);
    out
}

/// A cancel context (Go's `cancelCtx`, with the deadline of `timerCtx`).
struct CtxState {
    /// Creation order; the key in the parent's `children`.
    id: u64,
    /// The parent when it can be canceled (not background).
    parent: Option<Arc<CtxState>>,
    /// Own or inherited deadline (immutable).
    deadline: Option<Instant>,
    /// Closed once `err` is set.
    done: Chan<()>,
    m: SpinLock<Synced>,
}

/// Source of `CtxState::id`. Relaxed: only uniqueness and per-thread order matter.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl CtxState {
    fn new(parent: &Context, deadline: Option<Instant>) -> Arc<CtxState> {
        Arc::new(CtxState {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            parent: parent.inner.clone(),
            deadline,
            done: chan(0),
            m: SpinLock::new(Synced {
                err: None,
                children: BTreeMap::new(),
                timer: false,
                arm: RaceClock::new(),
                clock: RaceClock::new(),
            }),
        })
    }

    /// Registers `self` with its parent, or cancels it at once when the parent is
    /// already done (Go's `propagateCancel`).
    fn propagate(self: &Arc<Self>) {
        let Some(p) = &self.parent else {
            return; // background is never canceled
        };
        let parent_err = {
            let mut pm = p.m.lock();
            if pm.err.is_some() {
                // The creating goroutine observes the parent's cancellation.
                race::acquire(&mut pm.clock);
            } else {
                pm.children.insert(
                    self.id,
                    ChildRef {
                        state: Arc::downgrade(self),
                        done: self.done.downgrade().unwrap_or_else(|| {
                            fatal!("Context::propagate", "a made channel is not nil")
                        }),
                    },
                );
            }
            pm.err
        };
        if let Some(e) = parent_err {
            self.cancel(e, false, None);
        }
    }

    /// Sets `err` (first one wins), closes `done`, cancels the children; with
    /// `remove`, unregisters from the parent. Never parks: timers call it.
    ///
    /// `by`: `None` when the running goroutine cancels (it releases into `clock`),
    /// else the clock the canceler (a deadline timer, a canceled parent) published.
    ///
    /// Iterative over the descendants (depth first, in creation order, as the
    /// recursive form would go): a chain of thousands of contexts is canceled in
    /// constant stack (Go handles such depths).
    fn cancel(&self, err: ContextError, remove: bool, by: Option<&mut RaceClock>) {
        let Some((children, published)) = self.cancel_one(err, by) else {
            return;
        };
        let mut work: Vec<(ChildRef, RaceClock)> = Vec::new();
        push_children(&mut work, children, published);
        while let Some((child, mut clock)) = work.pop() {
            if let Some(s) = child.state.upgrade() {
                if let Some((grand, published)) = s.cancel_one(err, Some(&mut clock)) {
                    push_children(&mut work, grand, published);
                }
            } else if let Some(d) = child.done.upgrade() {
                Chan::close_with_clock(&d, &mut clock);
            }
        }
        if remove {
            if let Some(p) = &self.parent {
                let gone = p.m.lock().children.remove(&self.id);
                drop(gone);
            }
        }
    }

    /// This context's own part of [`cancel`](Self::cancel): sets `err`, closes
    /// `done`; returns its children and the clock it published, or `None` when it
    /// was already canceled.
    fn cancel_one(
        &self,
        err: ContextError,
        by: Option<&mut RaceClock>,
    ) -> Option<(BTreeMap<u64, ChildRef>, RaceClock)> {
        let (children, mut published) = {
            let mut m = self.m.lock();
            if m.err.is_some() {
                return None;
            }
            m.err = Some(err);
            m.timer = false;
            match by {
                None => race::release_merge(&mut m.clock),
                Some(src) => race::clock_into(src, &mut m.clock),
            }
            let published = copy_clock(&mut m.clock);
            (std::mem::take(&mut m.children), published)
        };
        if let Some(inner) = &self.done.inner {
            Chan::close_with_clock(inner, &mut published);
        }
        Some((children, published))
    }

    /// The error, with no edge (`Debug`: an observation).
    fn err(&self) -> Option<ContextError> {
        self.m.lock().err
    }

    /// The error; `Some` acquires what the cancellation published (`Err()`).
    fn err_acquire(&self) -> Option<ContextError> {
        let mut m = self.m.lock();
        if m.err.is_some() {
            race::acquire(&mut m.clock);
        }
        m.err
    }
}

/// Queues `children` on the cancel work stack, each with a copy of the parent's
/// published clock, in reverse so they pop in creation order.
fn push_children(
    work: &mut Vec<(ChildRef, RaceClock)>,
    children: BTreeMap<u64, ChildRef>,
    mut published: RaceClock,
) {
    for child in children.into_values().rev() {
        work.push((child, copy_clock(&mut published)));
    }
}

/// The deadline timer (Go's `timerCtx.timer`).
impl Fire for CtxState {
    fn live(&self, _gen: u64) -> bool {
        let m = self.m.lock();
        m.err.is_none() && m.timer
    }
    fn fire(&self, _gen: u64) {
        let mut armed = copy_clock(&mut self.m.lock().arm);
        self.cancel(ContextError::DeadlineExceeded, true, Some(&mut armed));
    }
}

/// A pending deadline moved onto a `done` channel whose context is gone (see the
/// module docs): closes it with the arming clock. Keeps itself alive while pending
/// (the heap holds it weakly); the cycle is cut when it fires or the channel goes.
struct OrphanDeadline {
    done: Weak<Inner<()>>,
    st: SpinLock<Orphan>,
}

struct Orphan {
    arm: RaceClock,
    keep: Option<Arc<OrphanDeadline>>,
}

impl Fire for OrphanDeadline {
    fn abandon(&self) {
        let keep = self.st.lock().keep.take();
        drop(keep);
    }
    fn live(&self, _gen: u64) -> bool {
        let live = self.done.strong_count() > 0;
        if !live {
            let keep = self.st.lock().keep.take();
            drop(keep);
        }
        live
    }
    fn fire(&self, _gen: u64) {
        let (mut arm, keep) = {
            let mut st = self.st.lock();
            (copy_clock(&mut st.arm), st.keep.take())
        };
        if let Some(d) = self.done.upgrade() {
            Chan::close_with_clock(&d, &mut arm);
        }
        drop(keep);
    }
}

impl Drop for CtxState {
    fn drop(&mut self) {
        self.unregister();
        if let Some(p) = self.parent.take() {
            drop_parent(p);
        }
    }
}

thread_local! {
    /// Parents whose drop was deferred by [`drop_parent`], and whether a drain loop
    /// runs on this thread.
    static DEFERRED: std::cell::RefCell<Vec<Arc<CtxState>>> =
        const { std::cell::RefCell::new(Vec::new()) };
    static DRAINING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Drops a context's parent without recursing: dropping the leaf of a chain of
/// thousands of contexts frees each ancestor in turn from one loop (the outermost
/// `drop_parent` on the thread), in constant stack.
fn drop_parent(p: Arc<CtxState>) {
    if DRAINING.with(|d| d.get()) {
        DEFERRED.with(|q| q.borrow_mut().push(p));
        return;
    }
    /// Ends the drain even when a drop panics; what is left is dropped later.
    struct Draining;
    impl Drop for Draining {
        fn drop(&mut self) {
            DRAINING.with(|d| d.set(false));
        }
    }
    DRAINING.with(|d| d.set(true));
    let _draining = Draining;
    drop(p);
    while let Some(next) = DEFERRED.with(|q| q.borrow_mut().pop()) {
        drop(next);
    }
}

impl CtxState {
    /// The body of `Drop`: unregisters from the parent, or hands a pending deadline
    /// to the `done` channel someone still holds.
    fn unregister(&mut self) {
        let Some(inner) = &self.done.inner else {
            return;
        };
        let held = Arc::strong_count(inner) > 1;
        if !held {
            if let Some(p) = &self.parent {
                let gone = p.m.lock().children.remove(&self.id);
                drop(gone);
            }
            return;
        }
        // Someone still holds `done`: the parent's entry stays (it closes the channel
        // on the parent's cancel) and a pending deadline moves onto the channel.
        let (timer, arm) = {
            let mut m = self.m.lock();
            (m.timer, copy_clock(&mut m.arm))
        };
        if let (true, Some(d)) = (timer, self.deadline) {
            if sched::in_run() {
                let orphan = Arc::new(OrphanDeadline {
                    done: Arc::downgrade(inner),
                    st: SpinLock::new(Orphan { arm, keep: None }),
                });
                orphan.st.lock().keep = Some(orphan.clone());
                let target: Weak<OrphanDeadline> = Arc::downgrade(&orphan);
                let target: Weak<dyn Fire> = target;
                sched::arm_timer(d.as_nanos(), target, 0, false);
            }
        }
    }
}

/// Go's `context.Background()`: never canceled, no deadline; its `done()` is the nil
/// channel.
pub fn background() -> Context {
    Context { inner: None }
}

/// Go's `context.WithCancel`: a child done when `cancel` is called or `parent` is done,
/// whichever happens first.
#[track_caller]
pub fn with_cancel(parent: &Context) -> (Context, CancelFunc) {
    time::require_run("gosan::context::with_cancel");
    sched::sched_point();
    let s = CtxState::new(parent, parent.deadline());
    s.propagate();
    pair(s)
}

/// Go's `context.WithTimeout`: `with_deadline(parent, now() + d)`.
#[track_caller]
pub fn with_timeout(parent: &Context, d: Duration) -> (Context, CancelFunc) {
    let deadline = Instant::from_nanos(sched::now_nanos().saturating_add(time::nanos_of(d)));
    with_deadline(parent, deadline)
}

/// Go's `context.WithDeadline`: also done with `DeadlineExceeded` at `deadline`
/// (virtual time). A parent with an earlier deadline makes this a plain
/// [`with_cancel`]; a deadline already due cancels the child at once.
#[track_caller]
pub fn with_deadline(parent: &Context, deadline: Instant) -> (Context, CancelFunc) {
    time::require_run("gosan::context::with_deadline");
    sched::sched_point();
    if parent.deadline().is_some_and(|p| p < deadline) {
        let s = CtxState::new(parent, parent.deadline());
        s.propagate();
        return pair(s);
    }
    let s = CtxState::new(parent, Some(deadline));
    s.propagate();
    if deadline.as_nanos() <= sched::now_nanos() {
        s.cancel(ContextError::DeadlineExceeded, true, None);
        return pair(s);
    }
    {
        let mut m = s.m.lock();
        if m.err.is_none() {
            m.timer = true;
            // Arming happens-before the deadline's firing.
            race::release_merge(&mut m.arm);
            let target: Weak<CtxState> = Arc::downgrade(&s);
            let target: Weak<dyn Fire> = target;
            sched::arm_timer(deadline.as_nanos(), target, 0, true);
        }
    }
    pair(s)
}

fn pair(s: Arc<CtxState>) -> (Context, CancelFunc) {
    (
        Context {
            inner: Some(s.clone()),
        },
        CancelFunc { ctx: s },
    )
}

impl Context {
    /// A channel closed when the context is done (Go's `Done()`); the nil channel for
    /// [`background`], so a `select!` arm on it never fires.
    pub fn done(&self) -> RecvChan<()> {
        match &self.inner {
            Some(s) => s.done.receiver(),
            None => RecvChan::nil(),
        }
    }

    /// Why the context is done, or `None` while it is not (Go's `Err()`). A scheduling
    /// point; a `None` answer is a yield, like a failed `try_recv`, so polling loops
    /// let the canceler (or the clock) run.
    pub fn err(&self) -> Option<ContextError> {
        let e = self.inner.as_ref().and_then(|s| s.err_acquire());
        if e.is_none() {
            // Not a `sched_point` first: that would reset the spin streak that lets
            // virtual time advance under a polling loop.
            sched::yield_now();
        } else {
            sched::sched_point();
        }
        e
    }

    /// The time at which the context will be canceled, if any (Go's `Deadline()`).
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.as_ref().and_then(|s| s.deadline)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("context.Background"),
            Some(s) => f
                .debug_struct("Context")
                .field("deadline", &s.deadline)
                .field("err", &s.err())
                .finish(),
        }
    }
}

impl CancelFunc {
    /// Cancels the context (`Canceled`) and its descendants, closing their `done`
    /// channels; later calls do nothing. Stops the deadline timer.
    pub fn cancel(&self) {
        sched::sched_point();
        self.ctx.cancel(ContextError::Canceled, true, None);
    }
}

impl fmt::Debug for CancelFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelFunc")
            .field("err", &self.ctx.err())
            .finish()
    }
}
