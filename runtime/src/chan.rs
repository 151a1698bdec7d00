//! Channels, modelled on Go's `hchan` (`runtime/chan.go`; the seed book's channel
//! chapter).
//!
//! A channel is a lock, a ring buffer of `cap` slots, a `closed` flag and two FIFO
//! wait queues of parked goroutines: `recvq` (receivers waiting for a value) and
//! `sendq` (senders waiting for room or a receiver). A queued entry is a [`Waiter`]
//! (Go's `sudog`) that lives on the parked goroutine's own stack.
//!
//! # Invariants (under the channel lock)
//! - `sendq` non-empty ⇒ the buffer is full (or `cap == 0`) and no receiver waits;
//!   `recvq` non-empty ⇒ the buffer is empty and no sender waits. (Stale entries of
//!   an already-completed `select` are skipped, as Go skips `sudog`s whose
//!   `selectDone` is set.)
//! - A direct hand-off (a sender finding a waiting receiver, or the reverse) copies
//!   the value straight into the other goroutine's waiter, then readies it.
//! - A buffered receive that finds a waiting sender takes the head of the buffer and
//!   moves the sender's value to the tail, so FIFO order holds across the hand-off.
//! - `close` wakes every waiter: receivers get `None`, senders panic
//!   `send on closed channel` when they resume.
//!
//! # Protocol
//! The waiter protocol of `waitq.rs`: a goroutine enqueues its waiter, releases the
//! lock, then parks; whoever dequeues the waiter completes it (`completed`, value)
//! before readying the goroutine. A waiter is removed from its queue before its
//! goroutine's frame can return or unwind (`Dequeue` guard), so a queue never points
//! into a dead frame.

//!
//! # Orphaned channels (partial deadlocks on channels, issue 11)
//! A goroutine blocked in a plain `send`/`recv` can never proceed once **no other
//! handle of the channel exists and nothing else can reach the one it uses**. Each
//! `Chan`/`SendChan`/`RecvChan` holds one strong reference to `Inner`, timers and
//! contexts hold `Weak` ones (they may still send or close). The rule: the
//! goroutine's handle (the `&self` of the blocked call) lies on the goroutine's own
//! stack, `Arc::strong_count == 1` (that handle is the only one) and
//! `Arc::weak_count == 0` (no timer or context can act on it). Generalized to
//! several goroutines parked on the same channel: when every handle is one such
//! parked goroutine's own (strong count == the number of those waiters), all of
//! them are blocked forever — queued waiters all go the same direction (a queued
//! sender and a queued receiver would have met), so none can complete another.
//! Checked when a goroutine parks, and when a handle is dropped (`Drop`).
//!
//! Why no false positives: any send, receive or close needs a handle or an upgraded
//! `Weak`. There is no `Weak`, and every handle sits in the stack frame of a
//! goroutine parked on the channel, which no other goroutine can reach: goroutine
//! functions are `'static`, so none holds a reference into another's stack, and
//! each owner is parked (the stacks are disjoint, so the handles are distinct and
//! their number is the strong count). A handle reached through the heap (an `Arc`, a
//! struct in a `Mutex`, a `static`) is not on the stack, so it is never judged;
//! a `select!` is blocked forever only if every arm is (checked when it parks;
//! the drop trigger skips select waiters: conservative).
//!
//! While main runs this is recorded as a partial deadlock (`sched/partial.rs`);
//! after main returned, as the reason of the leak.

use crate::lock::SpinLock;
use crate::race::{self, RaceClock};
use crate::sched::{self, GRef, WaitReason};
use crate::waitq::{Dequeue, WaitQ, Waiter};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};

pub(crate) struct State<T> {
    pub(crate) buf: VecDeque<T>,
    pub(crate) closed: bool,
    pub(crate) recvq: WaitQ<T>,
    pub(crate) sendq: WaitQ<T>,
    pub(crate) race: ChanRace,
}

/// The channel's happens-before state (Go's `racenotify`/`racesync`): one clock per
/// buffer slot (one for an unbuffered channel), allocated on demand as the ring
/// positions reach them (a channel of capacity 10^8 costs nothing per slot until used;
/// Go's `racenotify` needs no per-slot memory either), the ring positions those clocks follow, and the clock `close`
/// releases into.
///
/// Edges: the k-th send release-stores slot `k mod C` after acquiring it, the k-th
/// receive acquires it then release-stores it, so send k → receive k and receive k →
/// send k + C. An unbuffered hand-off synchronizes both ways (receive → send
/// completes). `close` releases `close`; a receive that observes the close acquires it.
pub(crate) struct ChanRace {
    close: RaceClock,
    slots: Vec<RaceClock>,
    n: usize,
    sendx: usize,
    recvx: usize,
}

impl ChanRace {
    fn new(cap: usize) -> ChanRace {
        ChanRace {
            close: RaceClock::new(),
            slots: Vec::new(),
            n: cap.max(1),
            sendx: 0,
            recvx: 0,
        }
    }

    fn slot(&mut self, i: usize) -> &mut RaceClock {
        if i >= self.slots.len() {
            // Positions advance one at a time from 0, so the vector grows with the
            // channel's use, never to `n` up front.
            self.slots.resize_with(i + 1, RaceClock::new);
        }
        &mut self.slots[i]
    }

    fn advance_send(&mut self) {
        self.sendx = (self.sendx + 1) % self.n;
    }

    fn advance_recv(&mut self) {
        self.recvx = (self.recvx + 1) % self.n;
    }

    /// A value went straight from a sender to a receiver through slot `recvx` of a
    /// buffered channel: both positions move on.
    fn advance_both(&mut self) {
        self.advance_recv();
        self.sendx = self.recvx;
    }

    /// Go's `racenotify(c, idx, nil)`: the running goroutine passes through slot `i`.
    fn notify_self(&mut self, i: usize) {
        let c = self.slot(i);
        race::acquire(c);
        race::release(c);
    }

    /// Go's `racenotify(c, idx, sg)`: parked goroutine `g` passes through slot `i`.
    fn notify_for(&mut self, i: usize, g: GRef) {
        let c = self.slot(i);
        race::acquire_for(g, c);
        race::release_for(g, c);
    }

    /// Go's `racesync`: an unbuffered hand-off orders both sides (both goroutines
    /// learn each other's clock; no slot clock is needed).
    fn sync_with(&mut self, g: GRef) {
        race::exchange_with(g);
    }
}

pub(crate) struct Inner<T> {
    pub(crate) state: SpinLock<State<T>>,
    pub(crate) cap: usize,
}

impl<T> Inner<T> {
    /// The channel's address: Go's `c.raceaddr()`.
    pub(crate) fn addr(&self) -> u64 {
        self as *const Self as u64
    }
}

// Go's `racefree` of a freed channel: a channel allocated at this address later starts clean.
impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        race::freed(self.addr(), 8)
    }
}

// `Inner<T>` is `Send + Sync` when `T: Send`: its state sits behind a `SpinLock`
// and its wait queues are `Send` for `T: Send` (see `waitq.rs`).

// A panic never leaves a channel half-updated (state changes happen under the lock
// and the lock is released by its guard), so handles may cross `catch_unwind`.
impl<T> std::panic::RefUnwindSafe for Inner<T> {}

/// Go's `chan T`: a cheap `Clone` handle; `Chan::nil()` is the nil channel.
pub struct Chan<T> {
    pub(crate) inner: Option<Arc<Inner<T>>>,
}

/// `chan<- T`: the send side of a channel.
pub struct SendChan<T>(pub(crate) Chan<T>);

/// `<-chan T`: the receive side of a channel.
pub struct RecvChan<T>(pub(crate) Chan<T>);

/// `try_send` could not send without blocking.
#[derive(Clone, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// No receiver waiting and no room in the buffer; the value comes back.
    Full(T),
}

/// `try_recv` could not receive without blocking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing to receive yet.
    Empty,
    /// Closed and drained.
    Closed,
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full(..)")
    }
}
impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a full channel")
    }
}
impl<T> std::error::Error for TrySendError<T> {}
impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "receiving on an empty channel",
            TryRecvError::Closed => "receiving on a closed channel",
        })
    }
}
impl std::error::Error for TryRecvError {}

/// Largest buffer `chan` accepts, in bytes: Go's `maxAlloc` on 64-bit Linux.
const MAX_CHAN_BYTES: usize = 1 << 48;

/// `make(chan T, cap)`: unbuffered when `cap == 0`.
///
/// # Panics
/// `makechan: size out of range` (Go's text) when a buffer of `cap` values cannot
/// exist (`cap * size_of::<T>()`, at least one byte per value, above 2^48 bytes).
#[track_caller]
pub fn chan<T>(cap: usize) -> Chan<T> {
    if cap
        .checked_mul(std::mem::size_of::<T>().max(1))
        .is_none_or(|b| b > MAX_CHAN_BYTES)
    {
        makechan_out_of_range();
    }
    Chan {
        inner: Some(Arc::new(Inner {
            state: SpinLock::new(State {
                buf: VecDeque::with_capacity(cap.min(1024)),
                closed: false,
                recvq: WaitQ::new(),
                sendq: WaitQ::new(),
                race: ChanRace::new(cap),
            }),
            cap,
        })),
    }
}

#[cold]
#[track_caller]
fn makechan_out_of_range() -> ! {
    panic!("makechan: size out of range")
}

#[cold]
#[track_caller]
fn panic_send_closed() -> ! {
    panic!("send on closed channel")
}

/// Parks forever (nil channel, `select! {}`); returns only by unwinding at teardown.
#[cold]
#[track_caller]
pub(crate) fn block_forever(reason: WaitReason) -> ! {
    loop {
        sched::park_forever(reason);
    }
}

impl<T> Chan<T> {
    /// The nil channel: send and receive block forever, close panics.
    pub fn nil() -> Chan<T> {
        Chan { inner: None }
    }

    /// Whether this is the nil channel.
    pub fn is_nil(&self) -> bool {
        self.inner.is_none()
    }

    /// The exploration key of this channel's operations (`sched_point_on`).
    fn key(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.addr() as usize)
    }

    /// `c <- v`. Blocks until a receiver takes `v` or the buffer has room.
    ///
    /// # Panics
    /// `send on closed channel` if the channel is or becomes closed.
    #[track_caller]
    pub fn send(&self, v: T) {
        sched::sched_point_on(self.key());
        let Some(inner) = &self.inner else {
            block_forever(WaitReason::ChanSendNil)
        };
        // Go: a send reads the channel (so it races with an unordered close).
        race::access(inner.addr(), 8, false, false);
        let mut st = inner.state.lock();
        if Self::send_would_complete(inner, &st) {
            Self::send_now(inner, st, v);
            return;
        }
        let w = Waiter::new(sched::current(), Some(v));
        st.sendq.push(&w);
        self.mark_handle(&w, inner, &st);
        drop(st);
        let guard = Dequeue::new(|| {
            inner.state.lock().sendq.remove(&w);
        });
        sched::park(WaitReason::ChanSend);
        guard.disarm();
        if !w.completed.get() {
            panic_send_closed();
        }
    }

    /// `v, ok := <-c`: `None` once the channel is closed and drained.
    #[track_caller]
    pub fn recv(&self) -> Option<T> {
        sched::sched_point_on(self.key());
        let Some(inner) = &self.inner else {
            block_forever(WaitReason::ChanRecvNil)
        };
        let mut st = inner.state.lock();
        if let Some(v) = Self::recv_ready(inner, &mut st) {
            return v;
        }
        let w = Waiter::new(sched::current(), None);
        st.recvq.push(&w);
        self.mark_handle(&w, inner, &st);
        drop(st);
        let guard = Dequeue::new(|| {
            inner.state.lock().recvq.remove(&w);
        });
        sched::park(WaitReason::ChanRecv);
        guard.disarm();
        // SAFETY: the waiter was dequeued by its completer; only we touch it now.
        unsafe { (*w.slot.get()).take() }
    }

    /// A receive that completes now: `Some(Some(v))` a value, `Some(None)` closed and
    /// drained, `None` would block. Caller holds the lock.
    pub(crate) fn recv_ready(inner: &Inner<T>, st: &mut State<T>) -> Option<Option<T>> {
        let on = race::active();
        if let Some(w) = st.sendq.dequeue() {
            // SAFETY: a dequeued waiter is ours to complete, under the lock.
            let sent = unsafe { (*w.slot.get()).take() }
                .unwrap_or_else(|| fatal!("Chan::recv_ready", "a queued sender holds its value"));
            w.completed.set(true);
            let g = w.g;
            let v = if inner.cap == 0 {
                if on {
                    st.race.sync_with(g);
                }
                sent
            } else {
                let head = st
                    .buf
                    .pop_front()
                    .unwrap_or_else(|| fatal!("Chan::recv_ready", "sendq non-empty ⇒ buffer full"));
                st.buf.push_back(sent);
                if on {
                    let i = st.race.recvx;
                    st.race.notify_self(i);
                    st.race.notify_for(i, g);
                }
                st.race.advance_both();
                head
            };
            sched::ready(g);
            return Some(Some(v));
        }
        if let Some(v) = st.buf.pop_front() {
            if on {
                let i = st.race.recvx;
                st.race.notify_self(i);
            }
            st.race.advance_recv();
            return Some(Some(v));
        }
        if st.closed {
            race::acquire(&mut st.race.close);
            return Some(None);
        }
        None
    }

    /// Whether a receive would complete now (value, or closed).
    pub(crate) fn recv_would_complete(st: &State<T>) -> bool {
        !st.buf.is_empty() || st.closed || st.sendq.has_live()
    }

    /// Whether a send would complete now (or panic because the channel is closed).
    pub(crate) fn send_would_complete(inner: &Inner<T>, st: &State<T>) -> bool {
        st.closed || st.buf.len() < inner.cap || st.recvq.has_live()
    }

    /// Completes a send that [`send_would_complete`](Self::send_would_complete).
    #[track_caller]
    pub(crate) fn send_now(inner: &Inner<T>, st: crate::lock::SpinGuard<'_, State<T>>, v: T) {
        if st.closed {
            drop(st);
            panic_send_closed();
        }
        Self::deliver(inner, st, v, None);
    }

    /// Puts `v` into the channel (open, and a receiver waits or there is room): hands
    /// it to the first waiting receiver or appends it to the buffer, with the edges of
    /// the running goroutine as sender — or, for a timer firing, of `timer`.
    fn deliver(
        inner: &Inner<T>,
        mut st: crate::lock::SpinGuard<'_, State<T>>,
        v: T,
        timer: Option<&mut RaceClock>,
    ) {
        let on = race::active();
        if let Some(w) = st.recvq.dequeue() {
            // SAFETY: a dequeued waiter is ours to complete, under the lock.
            unsafe { *w.slot.get() = Some(v) };
            w.completed.set(true);
            let g = w.g;
            if on {
                match timer {
                    Some(t) if inner.cap == 0 => race::acquire_for(g, t),
                    Some(t) => {
                        let i = st.race.recvx;
                        race::clock_into(t, st.race.slot(i));
                        st.race.notify_for(i, g);
                    }
                    None if inner.cap == 0 => st.race.sync_with(g),
                    None => {
                        let i = st.race.recvx;
                        st.race.notify_self(i);
                        st.race.notify_for(i, g);
                    }
                }
            }
            if inner.cap > 0 {
                st.race.advance_both();
            }
            drop(st);
            sched::ready(g);
            return;
        }
        debug_check!(
            st.buf.len() < inner.cap,
            "Chan::deliver",
            "no receiver waits and the buffer is full"
        );
        st.buf.push_back(v);
        if on {
            let i = st.race.sendx;
            match timer {
                Some(t) => race::clock_into(t, st.race.slot(i)),
                None => st.race.notify_self(i),
            }
        }
        st.race.advance_send();
    }

    /// Sends without blocking: `Err(Full(v))` when it would block (a yield).
    ///
    /// # Panics
    /// `send on closed channel`, as Go's `select` with a default arm.
    #[track_caller]
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        sched::sched_point();
        let Some(inner) = &self.inner else {
            sched::yield_now();
            return Err(TrySendError::Full(v));
        };
        race::access(inner.addr(), 8, false, false);
        let st = inner.state.lock();
        if Self::send_would_complete(inner, &st) {
            Self::send_now(inner, st, v);
            return Ok(());
        }
        drop(st);
        sched::yield_now();
        Err(TrySendError::Full(v))
    }

    /// Receives without blocking: `Empty` (a yield) or `Closed` (closed and drained).
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        sched::sched_point();
        let r = match &self.inner {
            None => None,
            Some(inner) => {
                let mut st = inner.state.lock();
                Self::recv_ready(inner, &mut st)
            }
        };
        match r {
            Some(Some(v)) => Ok(v),
            Some(None) => Err(TryRecvError::Closed),
            None => {
                sched::yield_now();
                Err(TryRecvError::Empty)
            }
        }
    }

    /// `close(c)`: wakes every waiting receiver (`None`) and sender (panics).
    ///
    /// # Panics
    /// `close of nil channel`, `close of closed channel`.
    #[track_caller]
    pub fn close(&self) {
        sched::sched_point_on(self.key());
        let Some(inner) = &self.inner else {
            panic!("close of nil channel")
        };
        // Go: close writes the channel (so it races with an unordered send).
        race::access(inner.addr(), 8, true, false);
        if !Self::close_inner(inner) {
            panic!("close of closed channel");
        }
    }

    /// Closes from runtime code (a goroutine's context cancel): no scheduling point;
    /// `false` if it was already closed.
    pub(crate) fn close_inner(inner: &Inner<T>) -> bool {
        Self::close_impl(inner, None)
    }

    /// Closes on behalf of a timer (a context deadline), whose arming released
    /// `timer`: receivers that observe the close acquire it.
    pub(crate) fn close_with_clock(inner: &Inner<T>, timer: &mut RaceClock) -> bool {
        Self::close_impl(inner, Some(timer))
    }

    fn close_impl(inner: &Inner<T>, timer: Option<&mut RaceClock>) -> bool {
        let mut st = inner.state.lock();
        if st.closed {
            return false;
        }
        st.closed = true;
        match timer {
            Some(t) => race::clock_into(t, &mut st.race.close),
            None => race::release(&mut st.race.close),
        }
        let mut wake = Vec::new();
        while let Some(w) = st.recvq.dequeue() {
            // SAFETY: a dequeued waiter is ours to complete, under the lock.
            unsafe { *w.slot.get() = None };
            w.completed.set(false);
            wake.push(w.g);
        }
        while let Some(w) = st.sendq.dequeue() {
            w.completed.set(false);
            wake.push(w.g);
        }
        for &g in &wake {
            race::acquire_for(g, &mut st.race.close);
        }
        drop(st);
        for g in wake {
            sched::ready(g);
        }
        true
    }

    /// Number of buffered values (`len(c)`). A yield (so a loop spinning on
    /// `c.len() == 0` lets the sender run, under every strategy), not an access.
    pub fn len(&self) -> usize {
        sched::yield_now();
        self.inner.as_ref().map_or(0, |i| i.state.lock().buf.len())
    }

    /// Whether no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Buffer capacity (`cap(c)`); 0 for unbuffered and nil channels. A scheduling
    /// point, not an access.
    pub fn cap(&self) -> usize {
        sched::sched_point();
        self.inner.as_ref().map_or(0, |i| i.cap)
    }

    /// The send-only view (`chan<- T`).
    pub fn sender(&self) -> SendChan<T> {
        SendChan(self.clone())
    }

    /// The receive-only view (`<-chan T`).
    pub fn receiver(&self) -> RecvChan<T> {
        RecvChan(self.clone())
    }

    /// Receives until the channel is closed and drained (`for v := range c`).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { c: self }
    }

    pub(crate) fn downgrade(&self) -> Option<Weak<Inner<T>>> {
        self.inner.as_ref().map(Arc::downgrade)
    }

    /// Sends from runtime code without blocking or a scheduling point, on behalf of a
    /// timer whose arming released `timer`: `false` when the buffer is full or the
    /// channel closed. The receiver of the value acquires `timer` (arming happens
    /// before the firing, as in Go).
    pub(crate) fn offer_with_clock(inner: &Inner<T>, v: T, timer: &mut RaceClock) -> bool {
        let st = inner.state.lock();
        if st.closed || !Self::send_would_complete(inner, &st) {
            return false;
        }
        Self::deliver(inner, st, v, Some(timer));
        true
    }

    /// Drops every buffered value (a timer's stop/reset: no stale tick after it).
    pub(crate) fn drain(&self) {
        if let Some(i) = &self.inner {
            i.state.lock().buf.clear();
        }
    }
}

/// The orphaned-channel rule (module docs) for the handle at `handle`.
fn orphaned<T>(inner: &Arc<Inner<T>>, slot: Option<u32>, handle: usize) -> bool {
    Arc::strong_count(inner) == 1
        && Arc::weak_count(inner) == 0
        && sched::partial::on_goroutine_stack(slot, handle)
}

/// Whether no live goroutine can ever complete an operation through `c`, a handle
/// the running goroutine blocks on: nil, or orphaned (module docs).
pub(crate) fn handle_orphaned<T>(c: &Chan<T>) -> bool {
    match &c.inner {
        None => true,
        Some(inner) => orphaned(inner, None, c as *const Chan<T> as usize),
    }
}

const ORPHANED: &str = "no other handle of this channel is alive";

/// The goroutines parked in a plain send/receive on this channel through a handle
/// on their own stack, when those handles (plus `dropping` handles about to go) are
/// all the channel's handles and no timer or context holds a `Weak`: each of them is
/// blocked forever (module docs). Caller holds the channel lock.
fn orphaned_waiters<T>(
    inner: &Arc<Inner<T>>,
    st: &State<T>,
    dropping: usize,
) -> Option<Vec<(GRef, WaitReason)>> {
    let strong = Arc::strong_count(inner);
    if Arc::weak_count(inner) != 0 || strong > st.recvq.len() + st.sendq.len() + dropping {
        return None; // cheap: more handles than waiters
    }
    let mut v = Vec::new();
    for (q, reason) in [
        (&st.recvq, WaitReason::ChanRecv),
        (&st.sendq, WaitReason::ChanSend),
    ] {
        for w in q.live() {
            let h = w.handle.get();
            if h != 0 && sched::partial::on_goroutine_stack(Some(w.g.slot), h) {
                v.push((w.g, reason));
            }
        }
    }
    (!v.is_empty() && v.len() + dropping == strong).then_some(v)
}

/// Records each goroutine of `found` as blocked forever (the running one is about
/// to park).
fn record_orphans(found: Vec<(GRef, WaitReason)>) {
    let me = sched::partial::running_goid();
    for (g, reason) in found {
        let slot = (Some(g.id) != me).then_some(g.slot);
        sched::partial::record_orphan(slot, reason, ORPHANED);
    }
}

impl<T> Chan<T> {
    /// Records the handle a blocking send/receive goes through (its waiter `w` is
    /// queued; the lock is held); if the waiters now hold every handle, they are
    /// blocked forever — this goroutine included.
    fn mark_handle(&self, w: &Waiter<T>, inner: &Arc<Inner<T>>, st: &State<T>) {
        w.handle.set(self as *const Chan<T> as usize);
        if let Some(found) = orphaned_waiters(inner, st, 0) {
            record_orphans(found);
        }
    }
}

impl<T> Drop for Chan<T> {
    fn drop(&mut self) {
        // Dropping a handle may leave only the ones parked goroutines block on
        // (module docs).
        let Some(inner) = &self.inner else { return };
        if Arc::weak_count(inner) != 0 || !sched::in_run() {
            return;
        }
        let st = inner.state.lock();
        let found = orphaned_waiters(inner, &st, 1);
        drop(st);
        if let Some(found) = found {
            record_orphans(found);
        }
    }
}

impl<T> Clone for Chan<T> {
    fn clone(&self) -> Self {
        Chan {
            inner: self.inner.clone(),
        }
    }
}

impl<T> PartialEq for Chan<T> {
    /// Channels compare by identity, like Go's.
    fn eq(&self, o: &Self) -> bool {
        match (&self.inner, &o.inner) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}
impl<T> Eq for Chan<T> {}

impl<T> fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("Chan(nil)"),
            Some(i) => write!(f, "Chan({:p}, cap {})", Arc::as_ptr(i), i.cap),
        }
    }
}

impl<T> Default for Chan<T> {
    /// The nil channel, like Go's zero value.
    fn default() -> Self {
        Chan::nil()
    }
}

/// `for v := range c`.
pub struct Iter<'a, T> {
    c: &'a Chan<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.c.recv()
    }
}

impl<'a, T> IntoIterator for &'a Chan<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<'a, T> IntoIterator for &'a RecvChan<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.0.iter()
    }
}

impl<T> SendChan<T> {
    #[track_caller]
    pub fn send(&self, v: T) {
        self.0.send(v)
    }
    #[track_caller]
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        self.0.try_send(v)
    }
    #[track_caller]
    pub fn close(&self) {
        self.0.close()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn cap(&self) -> usize {
        self.0.cap()
    }
    pub fn nil() -> Self {
        SendChan(Chan::nil())
    }
}

impl<T> RecvChan<T> {
    #[track_caller]
    pub fn recv(&self) -> Option<T> {
        self.0.recv()
    }
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.0.try_recv()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn cap(&self) -> usize {
        self.0.cap()
    }
    pub fn iter(&self) -> Iter<'_, T> {
        self.0.iter()
    }
    pub fn nil() -> Self {
        RecvChan(Chan::nil())
    }
}

macro_rules! view_impls {
    ($($v:ident),*) => {$(
        impl<T> Clone for $v<T> {
            fn clone(&self) -> Self {
                $v(self.0.clone())
            }
        }
        impl<T> PartialEq for $v<T> {
            fn eq(&self, o: &Self) -> bool {
                self.0 == o.0
            }
        }
        impl<T> Eq for $v<T> {}
        impl<T> fmt::Debug for $v<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($v), self.0)
            }
        }
        impl<T> From<Chan<T>> for $v<T> {
            fn from(c: Chan<T>) -> Self {
                $v(c)
            }
        }
    )*};
}
view_impls!(SendChan, RecvChan);
