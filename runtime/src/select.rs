//! `select!`: Go's `selectgo` (`runtime/select.go`) over type-erased arms.
//!
//! 1. Every arm's channel and send value are evaluated once, in source order (the
//!    macro binds them before calling [`select`]).
//! 2. Pass 1: the arms that can complete now are collected; one is chosen uniformly
//!    at random (a recorded decision, so replay repeats it) and completed. Go gets the
//!    same distribution from a random poll order.
//! 3. None ready: with a `default` arm, that runs (a yield); otherwise the goroutine
//!    enqueues one [`Waiter`] per non-nil arm, all sharing one [`SelectSync`], and
//!    parks (`select`; `select (no cases)` when every arm is nil or there is none).
//!    The waiters are queued in a random order (recorded choices, Go's
//!    `lockorder`), so when one partner could complete several arms (two arms on one
//!    channel) each gets its chance.
//! 4. The first partner to dequeue one of those waiters claims the select (sets
//!    `done`, records the case); the others become stale and are skipped. On waking,
//!    the goroutine removes its remaining waiters and collects the fired arm's result.
//!
//! A blocked select whose every arm is a nil or orphaned channel (`chan.rs`'s rule)
//! is reported as blocked forever when it parks.
//!
//! Deterministic mode runs one goroutine at a time, so each arm locks its own channel
//! in turn; the parallel scheduler will lock all channels in address order as Go does.

use crate::chan::{self, Chan, RecvChan, SendChan};
use crate::sched::{self, WaitReason};
use crate::waitq::{SelectSync, Waiter};

/// Anything `recv(...)` accepts: a channel, its receive view, or a reference to one.
pub trait AsRecv {
    type Item;
    fn as_recv_chan(&self) -> &Chan<Self::Item>;
}

/// Anything `send(...)` accepts: a channel, its send view, or a reference to one.
pub trait AsSend {
    type Item;
    fn as_send_chan(&self) -> &Chan<Self::Item>;
}

impl<T> AsRecv for Chan<T> {
    type Item = T;
    fn as_recv_chan(&self) -> &Chan<T> {
        self
    }
}
impl<T> AsRecv for RecvChan<T> {
    type Item = T;
    fn as_recv_chan(&self) -> &Chan<T> {
        &self.0
    }
}
impl<C: AsRecv + ?Sized> AsRecv for &C {
    type Item = C::Item;
    fn as_recv_chan(&self) -> &Chan<C::Item> {
        (**self).as_recv_chan()
    }
}
impl<T> AsSend for Chan<T> {
    type Item = T;
    fn as_send_chan(&self) -> &Chan<T> {
        self
    }
}
impl<T> AsSend for SendChan<T> {
    type Item = T;
    fn as_send_chan(&self) -> &Chan<T> {
        &self.0
    }
}
impl<C: AsSend + ?Sized> AsSend for &C {
    type Item = C::Item;
    fn as_send_chan(&self) -> &Chan<C::Item> {
        (**self).as_send_chan()
    }
}

/// One arm of a `select!`, type-erased.
pub trait SelectArm {
    fn is_nil(&self) -> bool;
    /// Whether the arm can complete now (a send on a closed channel counts: it panics).
    fn ready(&self) -> bool;
    /// Completes a ready arm now.
    fn complete(&mut self);
    /// Queues this arm's waiter for a blocking select.
    fn enqueue(&mut self, sel: &SelectSync, case: usize);
    /// Removes this arm's waiter if still queued.
    fn dequeue(&mut self);
    /// This arm's waiter was completed while parked: collect the result.
    fn woke(&mut self);
    /// Whether this arm was the one chosen.
    fn fired(&self) -> bool;
    /// The race detector's view of evaluating the arm (a send reads its channel).
    fn race_evaluated(&self, _loc: &'static std::panic::Location<'static>) {}
    /// Whether no live goroutine can ever complete this arm: a nil channel, or an
    /// orphaned one (`chan.rs`'s rule). `false` when unknown.
    fn orphaned(&self) -> bool {
        false
    }
}

/// `recv(c) -> v`.
pub struct RecvArm<'a, T> {
    ch: &'a Chan<T>,
    waiter: Option<Waiter<T>>,
    value: Option<Option<T>>,
}

impl<'a, T> RecvArm<'a, T> {
    pub fn new<C: AsRecv<Item = T> + ?Sized>(c: &'a C) -> Self {
        RecvArm {
            ch: c.as_recv_chan(),
            waiter: None,
            value: None,
        }
    }
    /// The received value: `None` when the channel was closed.
    pub fn take(&mut self) -> Option<T> {
        self.value
            .take()
            .unwrap_or_else(|| fatal!("RecvArm::take", "take() on an arm that did not fire"))
    }
}

impl<T> SelectArm for RecvArm<'_, T> {
    fn is_nil(&self) -> bool {
        self.ch.inner.is_none()
    }
    fn orphaned(&self) -> bool {
        chan::handle_orphaned(self.ch)
    }
    fn ready(&self) -> bool {
        self.ch
            .inner
            .as_ref()
            .is_some_and(|i| Chan::recv_would_complete(&i.state.lock()))
    }
    fn complete(&mut self) {
        let inner = self
            .ch
            .inner
            .as_ref()
            .unwrap_or_else(|| fatal!("SelectArm::complete", "a ready arm is not nil"));
        let mut st = inner.state.lock();
        let r = Chan::recv_ready(inner, &mut st)
            .unwrap_or_else(|| fatal!("RecvArm::complete", "complete() on a ready arm"));
        self.value = Some(r);
    }
    fn enqueue(&mut self, sel: &SelectSync, case: usize) {
        let inner = self
            .ch
            .inner
            .as_ref()
            .unwrap_or_else(|| fatal!("SelectArm::enqueue", "nil arms are not enqueued"));
        let w: &Waiter<T> =
            self.waiter
                .insert(Waiter::in_select(sched::current(), None, sel, case));
        inner.state.lock().recvq.push(w);
    }
    fn dequeue(&mut self) {
        if let (Some(inner), Some(w)) = (self.ch.inner.as_ref(), self.waiter.as_ref()) {
            inner.state.lock().recvq.remove(w);
        }
    }
    fn woke(&mut self) {
        let w = self
            .waiter
            .as_ref()
            .unwrap_or_else(|| fatal!("SelectArm::woke", "a fired arm was enqueued"));
        // SAFETY: the waiter was dequeued by its completer; only we touch it now.
        self.value = Some(unsafe { (*w.slot.get()).take() });
    }
    fn fired(&self) -> bool {
        self.value.is_some()
    }
}

/// `send(c, v)`.
pub struct SendArm<'a, T> {
    ch: &'a Chan<T>,
    value: Option<T>,
    waiter: Option<Waiter<T>>,
    fired: bool,
}

impl<'a, T> SendArm<'a, T> {
    pub fn new<C: AsSend<Item = T> + ?Sized>(c: &'a C, v: T) -> Self {
        SendArm {
            ch: c.as_send_chan(),
            value: Some(v),
            waiter: None,
            fired: false,
        }
    }
}

impl<T> SelectArm for SendArm<'_, T> {
    fn is_nil(&self) -> bool {
        self.ch.inner.is_none()
    }
    fn orphaned(&self) -> bool {
        chan::handle_orphaned(self.ch)
    }
    fn ready(&self) -> bool {
        self.ch
            .inner
            .as_ref()
            .is_some_and(|i| Chan::send_would_complete(i, &i.state.lock()))
    }
    fn complete(&mut self) {
        let inner = self
            .ch
            .inner
            .as_ref()
            .unwrap_or_else(|| fatal!("SelectArm::complete", "a ready arm is not nil"));
        let v = self
            .value
            .take()
            .unwrap_or_else(|| fatal!("SendArm::complete", "send arm holds its value"));
        self.fired = true;
        Chan::send_now(inner, inner.state.lock(), v);
    }
    fn enqueue(&mut self, sel: &SelectSync, case: usize) {
        let inner = self
            .ch
            .inner
            .as_ref()
            .unwrap_or_else(|| fatal!("SelectArm::enqueue", "nil arms are not enqueued"));
        let v = self.value.take();
        let w: &Waiter<T> = self
            .waiter
            .insert(Waiter::in_select(sched::current(), v, sel, case));
        inner.state.lock().sendq.push(w);
    }
    fn dequeue(&mut self) {
        if let (Some(inner), Some(w)) = (self.ch.inner.as_ref(), self.waiter.as_ref()) {
            inner.state.lock().sendq.remove(w);
        }
    }
    fn woke(&mut self) {
        self.fired = true;
        let w = self
            .waiter
            .as_ref()
            .unwrap_or_else(|| fatal!("SelectArm::woke", "a fired arm was enqueued"));
        if !w.completed.get() {
            panic!("send on closed channel");
        }
    }
    fn fired(&self) -> bool {
        self.fired
    }
    fn race_evaluated(&self, loc: &'static std::panic::Location<'static>) {
        if let Some(inner) = &self.ch.inner {
            crate::race::access_loc(loc, inner.addr(), 8, false, false);
        }
    }
}

/// Removes every queued waiter of a blocked select if its frame unwinds (teardown):
/// step 4 of the waiter protocol (`waitq.rs`) for a select's several waiters.
struct Unqueue<'a, 'b> {
    arms: &'a mut [&'b mut dyn SelectArm],
    armed: bool,
}

impl Drop for Unqueue<'_, '_> {
    fn drop(&mut self) {
        if self.armed {
            for a in self.arms.iter_mut() {
                a.dequeue();
            }
        }
    }
}

/// Runs one `select!`: afterwards exactly one arm reports `fired()`, or none when
/// the default arm is to run.
#[track_caller]
pub fn select(arms: &mut [&mut dyn SelectArm], has_default: bool) {
    sched::sched_point();
    if crate::race::ENABLED {
        let loc = std::panic::Location::caller();
        for a in arms.iter() {
            a.race_evaluated(loc);
        }
    }
    let mut ready: smallvec::SmallVec<[usize; 8]> = smallvec::SmallVec::new();
    for (i, a) in arms.iter().enumerate() {
        if a.ready() {
            ready.push(i);
        }
    }
    if !ready.is_empty() {
        let k = sched::choose(sched::Choice::SelectArm, ready.len());
        arms[ready[k]].complete();
        return;
    }
    if has_default {
        sched::yield_now();
        return;
    }
    if arms.is_empty() {
        chan::block_forever(WaitReason::SelectNoCases);
    }
    if arms.iter().all(|a| a.is_nil()) {
        // Go parks such a select as `select`, not `select (no cases)`.
        chan::block_forever(WaitReason::Select);
    }
    let sync = SelectSync::new();
    // Armed before the first enqueue: an enqueue that panics leaves no waiter behind.
    let mut guard = Unqueue { arms, armed: true };
    // Queued in a random order, as Go's `lockorder`: when one partner could complete
    // several arms (two arms on one channel), which one it completes is a recorded
    // choice, uniform under Random.
    let mut order: smallvec::SmallVec<[usize; 8]> = (0..guard.arms.len())
        .filter(|&i| !guard.arms[i].is_nil())
        .collect();
    for k in 0..order.len() {
        let j = k + sched::choose(sched::Choice::SelectOrder, order.len() - k);
        order.swap(k, j);
        let i = order[k];
        guard.arms[i].enqueue(&sync, i);
    }
    // A select is blocked forever only if every arm is (issue 11).
    if guard.arms.iter().all(|a| a.orphaned()) {
        sched::partial::record_orphan(
            None,
            WaitReason::Select,
            "no other handle of any of this select's channels is alive",
        );
    }
    sched::park(WaitReason::Select);
    guard.armed = false;
    let fired = sync.fired.get();
    for (i, a) in guard.arms.iter_mut().enumerate() {
        if i != fired && !a.is_nil() {
            a.dequeue();
        }
    }
    guard.arms[fired].woke();
}

/// After a `select!` without `default` returned, no arm reports `fired()`: a broken
/// runtime invariant.
#[cold]
pub fn no_arm_fired() -> ! {
    fatal!("select", "no arm fired after a blocking select returned")
}

/// `select! {}`: blocks forever (`select (no cases)`).
#[track_caller]
pub fn select_forever() -> ! {
    sched::sched_point();
    chan::block_forever(WaitReason::SelectNoCases)
}

/// Go's `select` statement, with crossbeam-channel's syntax.
///
/// ```ignore
/// gosan::select! {
///     recv(c1) -> v => { /* v: Option<T>, None = closed */ },
///     send(c2, x) => { },
///     default => { },
/// }
/// ```
/// Channel and value expressions are evaluated once, in source order, before the
/// choice; a ready arm is chosen uniformly at random (seeded); with none ready and no
/// `default`, the goroutine blocks on every arm at once. Arm bodies are inline code:
/// `break`, `continue` and `return` act on the enclosing function or loop.
#[macro_export]
macro_rules! select {
    () => {
        $crate::__private::select::select_forever()
    };
    ($($tokens:tt)+) => {
        $crate::__select_parse!(@parse [] [] $($tokens)+)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // recv arm, block body (comma optional)
    (@parse [$($arms:tt)*] [$($def:tt)*] recv($c:expr) -> $p:pat => $body:block , $($rest:tt)*) => {
        $crate::__select_parse!(@parse [$($arms)* (recv ($c) ($p) $body)] [$($def)*] $($rest)*)
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] recv($c:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@parse [$($arms)* (recv ($c) ($p) $body)] [$($def)*] $($rest)*)
    };
    // recv arm, expression body (comma required unless last)
    (@parse [$($arms:tt)*] [$($def:tt)*] recv($c:expr) -> $p:pat => $body:expr , $($rest:tt)*) => {
        $crate::__select_parse!(@parse [$($arms)* (recv ($c) ($p) { $body })] [$($def)*] $($rest)*)
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] recv($c:expr) -> $p:pat => $body:expr) => {
        $crate::__select_parse!(@parse [$($arms)* (recv ($c) ($p) { $body })] [$($def)*])
    };
    // send arm
    (@parse [$($arms:tt)*] [$($def:tt)*] send($c:expr, $v:expr) => $body:block , $($rest:tt)*) => {
        $crate::__select_parse!(@parse [$($arms)* (send ($c) ($v) $body)] [$($def)*] $($rest)*)
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] send($c:expr, $v:expr) => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@parse [$($arms)* (send ($c) ($v) $body)] [$($def)*] $($rest)*)
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] send($c:expr, $v:expr) => $body:expr , $($rest:tt)*) => {
        $crate::__select_parse!(@parse [$($arms)* (send ($c) ($v) { $body })] [$($def)*] $($rest)*)
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] send($c:expr, $v:expr) => $body:expr) => {
        $crate::__select_parse!(@parse [$($arms)* (send ($c) ($v) { $body })] [$($def)*])
    };
    // default arm
    (@parse [$($arms:tt)*] [] default => $body:block , $($rest:tt)*) => {
        $crate::__select_parse!(@parse [$($arms)*] [$body] $($rest)*)
    };
    (@parse [$($arms:tt)*] [] default => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@parse [$($arms)*] [$body] $($rest)*)
    };
    (@parse [$($arms:tt)*] [] default => $body:expr , $($rest:tt)*) => {
        $crate::__select_parse!(@parse [$($arms)*] [{ $body }] $($rest)*)
    };
    (@parse [$($arms:tt)*] [] default => $body:expr) => {
        $crate::__select_parse!(@parse [$($arms)*] [{ $body }])
    };
    (@parse [$($arms:tt)*] [$($def:tt)+] default $($rest:tt)*) => {
        compile_error!("select!: more than one `default` arm")
    };
    // all parsed: bind channels and values in source order
    (@parse [$($arms:tt)*] [$($def:tt)*]) => {
        $crate::__select_parse!(@bind [] [$($arms)*] [$($def)*])
    };
    (@parse $arms:tt $def:tt $($rest:tt)+) => {
        compile_error!(concat!(
            "select!: expected `recv(chan) -> pattern => body`, `send(chan, value) => body` or `default => body`, found: ",
            stringify!($($rest)+)
        ))
    };
    (@bind [$($bound:tt)*] [(recv ($c:expr) ($p:pat) $body:block) $($rest:tt)*] $def:tt) => {{
        let __gosan_ch = &$c;
        let mut __gosan_arm = $crate::__private::select::RecvArm::new(__gosan_ch);
        $crate::__select_parse!(@bind [$($bound)* (recv __gosan_arm ($p) $body)] [$($rest)*] $def)
    }};
    (@bind [$($bound:tt)*] [(send ($c:expr) ($v:expr) $body:block) $($rest:tt)*] $def:tt) => {{
        let __gosan_ch = &$c;
        let __gosan_val = $v;
        let mut __gosan_arm = $crate::__private::select::SendArm::new(__gosan_ch, __gosan_val);
        $crate::__select_parse!(@bind [$($bound)* (send __gosan_arm () $body)] [$($rest)*] $def)
    }};
    (@bind [$(($kind:ident $arm:ident ($($p:pat)?) $body:block))*] [] [$($def:block)?]) => {{
        $crate::__private::select::select(
            &mut [$(&mut $arm as &mut dyn $crate::__private::select::SelectArm),*],
            $crate::__select_parse!(@has_default $($def)?),
        );
        $crate::__select_parse!(@dispatch [$(($kind $arm ($($p)?) $body))*] [$($def)?])
    }};
    (@has_default) => { false };
    (@has_default $def:block) => { true };
    (@dispatch [] [$def:block]) => { $def };
    (@dispatch [] []) => { $crate::__private::select::no_arm_fired() };
    (@dispatch [(recv $arm:ident ($p:pat) $body:block) $($rest:tt)*] $def:tt) => {
        if $crate::__private::select::SelectArm::fired(&$arm) {
            let $p = $arm.take();
            $body
        } else {
            $crate::__select_parse!(@dispatch [$($rest)*] $def)
        }
    };
    (@dispatch [(send $arm:ident () $body:block) $($rest:tt)*] $def:tt) => {
        if $crate::__private::select::SelectArm::fired(&$arm) {
            $body
        } else {
            $crate::__select_parse!(@dispatch [$($rest)*] $def)
        }
    };
}
