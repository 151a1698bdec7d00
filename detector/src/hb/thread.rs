//! Per-goroutine happens-before state and goroutine-slot reuse.
//!
//! Every running goroutine owns a slot ([`Tid`]) and a [`ThreadState`]: its vector
//! clock `C` and its current epoch `C[t]@t`. Creating a goroutine is FastTrack's fork
//! rule (Flanagan & Freund, PLDI 2009, Fig. 2): the child starts with the creator's
//! clock (Go's "`go` statement happens before the goroutine starts"), then the creator
//! ticks its own entry so that its later accesses are not ordered before the child.
//! The child's clock is a copy-on-write snapshot of the creator's
//! ([`VClock::fork_copy`]: the shared tree plus at most two delta entries), so a fork
//! costs the same whether the creator knows ten goroutines or a million.
//! Finishing creates no edge (Go's rule: goroutine exit synchronizes with nothing).
//!
//! # Slot reuse
//!
//! A run may create millions of goroutines; giving each its own slot would make every
//! clock that ever heard of them millions of entries long. So a finished goroutine's
//! slot goes on a free list, and a later goroutine may take it over (free slots are
//! offered in slot order, so goroutines created one after another get neighbouring
//! slots and their entries share leaves of the clocks' shared trees, `tree.rs`). The
//! rule:
//!
//! 1. **Counters never restart.** The new occupant of slot `t` starts with
//!    `C[t] = last + 1`, where `last` is the previous occupant's final `C[t]`, so
//!    every epoch `c@t` ever recorded for slot `t` (in shadow memory, a sync clock, a
//!    read vector) is smaller than anything the new occupant produces.
//! 2. **Only a creator that knows the previous occupant's end may reuse its slot.**
//!    Slot `t` is handed to a child of creator `P` only if
//!    `P.C[t] >= published(t)`, where `published(t)` is the largest value of entry `t`
//!    that the previous occupants ever let out of their own clock (as the epoch of a
//!    recorded access, or in a release or a fork). Otherwise the child gets a fresh
//!    slot.
//!
//! **Why this cannot hide a race.** One clock entry per slot is sound only if the
//! events it counts form one happens-before chain: then "entry `t` is at least `c`"
//! means "the event `c@t` and everything before it on the slot happened before". Rule 2
//! keeps the slot's events a chain: every event of the old occupant that anyone can
//! ever compare against has a value `<= published(t) <= P.C[t]`, so it happens before
//! the creation of the child, which happens before everything the new occupant does.
//! Hence when some goroutine's clock covers a value of the new occupant, the old
//! occupant's events really are ordered before it too, and a race between the old
//! occupant and anyone (the new occupant included) is still a pair the clocks call
//! unordered. Rule 1 is what keeps the old epochs below the new ones.
//!
//! Without rule 2 (reusing a slot for an unrelated goroutine, with rule 1 alone) the
//! new occupant's own entry `last + 1` would cover every epoch of the old one, and a
//! write by the old occupant followed by an unsynchronized write by the new one would
//! pass as ordered. The test `unrelated_goroutine_does_not_inherit_a_finished_slot`
//! and the differential test in `tests/hb_differential.rs` check exactly that.
//!
//! `published` rather than the final clock: a goroutine ticks its entry after its last
//! release (`wg.Done()`), so its final `C[t]` is one more than anything anybody can
//! know. Counting only values that left the clock lets the common "`Done` then exit,
//! parent `Wait`s and spawns again" pattern reuse slots.
//!
//! A slot whose counter passed [`RETIRE_AT`] is never reused, so reuse cannot overflow
//! a counter.
//!
//! # Invariants
//!
//! - A running goroutine's own entry is the largest value of that entry in any clock
//!   (only it ticks it; others copy it; reuse starts above every earlier value).
//! - `published <= C[t]` and, for a free slot, `published <= last`.
//! - A free slot's `last` is never reset, so each slot's counter only grows.

use super::clock::{Epoch, Tid, Time, VClock};

/// A slot whose counter reached this value is retired instead of freed, so that
/// later occupants cannot overflow the `u32` counter.
pub const RETIRE_AT: Time = u32::MAX / 2;

/// How many free slots [`Threads::create`] examines before falling back to a fresh
/// slot. Free slots are examined in slot order from a cursor that moves past the
/// rejected ones, so every free slot is examined again in turn, and goroutines created
/// one after another get neighbouring slots: the entries a hub learns from them then
/// fall into few leaves of the shared clock trees (`tree.rs`), whatever order they
/// finished in.
const REUSE_SCAN: usize = 32;

/// The happens-before state of one running goroutine.
#[derive(Debug)]
pub struct ThreadState {
    tid: Tid,
    clock: VClock,
    /// `clock[tid]@tid`, cached for the access fast path.
    epoch: Epoch,
    /// Largest value of entry `tid` that left this clock (this occupant's or an earlier
    /// occupant's); see the module docs, rule 2.
    published: Time,
}

impl ThreadState {
    /// The goroutine's slot.
    #[inline]
    pub fn tid(&self) -> Tid {
        self.tid
    }

    /// The goroutine's vector clock: everything that happened before its current point.
    #[inline]
    pub fn clock(&self) -> &VClock {
        &self.clock
    }

    /// The goroutine's current epoch `C[t]@t`, stamped on its accesses.
    #[inline]
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// FastTrack's `e ≼ C` for this goroutine's clock `C`: the event at epoch `e`
    /// happens before (or is) the goroutine's current point. Same answer as
    /// [`Epoch::covered_by`]`(self.clock())`, but an epoch of the goroutine's own slot
    /// (its earlier accesses, the common case) is compared with the cached own entry
    /// instead of being looked up in the sparse clock.
    #[inline]
    pub fn covers(&self, e: Epoch) -> bool {
        if e.tid() == self.tid {
            e.clock() <= self.epoch.clock()
        } else {
            e.covered_by(&self.clock)
        }
    }

    /// Records that the current epoch left the clock (an access stamped with it, a
    /// release, a fork). Must be called by every path that copies `C[t]` anywhere.
    #[inline]
    pub(crate) fn publish(&mut self) {
        self.published = self.epoch.clock();
    }

    /// Publishes the current clock and starts a new epoch: the second half of a
    /// release or a fork, so that later accesses are not covered by what was released.
    pub(crate) fn publish_and_tick(&mut self) {
        self.publish();
        let now = self.clock.tick(self.tid);
        self.epoch = Epoch::new(self.tid, now);
    }

    /// `C ⊔= other` (an acquire).
    pub(crate) fn join(&mut self, other: &VClock) {
        self.clock.join(other);
        debug_assert_eq!(
            self.clock.get(self.tid),
            self.epoch.clock(),
            "hb: an acquired clock knew more of slot {} than its occupant",
            self.tid
        );
    }
}

#[derive(Debug)]
enum Slot {
    Running(ThreadState),
    /// Finished; may be reused (it is on the free list).
    Free {
        last: Time,
        published: Time,
    },
    /// Finished with a counter past [`RETIRE_AT`]; never reused.
    Retired,
}

/// All goroutine slots: the running goroutines' states and the free list.
#[derive(Debug, Default)]
pub struct Threads {
    slots: Vec<Slot>,
    /// The free (reusable) slots.
    free: FreeSlots,
    running: usize,
    reused: u64,
}

impl Threads {
    /// No goroutines.
    pub fn new() -> Self {
        Self::default()
    }

    /// A goroutine was created by `parent` (`None` for a root such as main): fork.
    /// Returns its slot, reusing a free one when the module's rule 2 allows.
    pub fn create(&mut self, parent: Option<Tid>) -> Tid {
        let inherited = match parent {
            Some(p) => {
                let p = self.get_mut(p);
                p.publish();
                p.clock.fork_copy()
            }
            None => VClock::new(),
        };
        let (tid, start, published) = self.pick_slot(&inherited);
        debug_assert!(inherited.get(tid) < start);
        let mut clock = inherited;
        clock.set(tid, start);
        self.slots[tid.index()] = Slot::Running(ThreadState {
            tid,
            epoch: Epoch::new(tid, start),
            clock,
            published,
        });
        self.running += 1;
        if let Some(p) = parent {
            self.get_mut(p).publish_and_tick();
        }
        tid
    }

    /// Finds a slot for a child whose initial clock is `inherited`: `(slot, first own
    /// clock value, published so far)`.
    fn pick_slot(&mut self, inherited: &VClock) -> (Tid, Time, Time) {
        let mut pos = self.free.cursor;
        for _ in 0..self.free.count.min(REUSE_SCAN) {
            let Some(t) = self.free.next_from(pos) else {
                break;
            };
            pos = t + 1;
            let tid = Tid::new(t as u32);
            if inherited.get(tid) >= self.free.published[t] {
                let Slot::Free { last, published } = self.slots[t] else {
                    unreachable!("hb: slot {t} on the free list is not free")
                };
                debug_assert_eq!(published, self.free.published[t]);
                self.free.remove(t);
                self.free.cursor = pos;
                self.reused += 1;
                return (tid, last + 1, published);
            }
        }
        self.free.cursor = pos;
        let index =
            u32::try_from(self.slots.len()).expect("gosan: hb: more than 2^32 goroutine slots");
        self.slots.push(Slot::Free {
            last: 0,
            published: 0,
        });
        (Tid::new(index), 1, 0)
    }

    /// The goroutine in slot `tid` finished. No happens-before edge (Go's rule); its
    /// slot becomes reusable under the module's rule 2.
    pub fn finish(&mut self, tid: Tid) {
        let Some(Slot::Running(state)) = self.slots.get(tid.index()) else {
            not_running(tid)
        };
        // The cached epoch is the own entry (`C[t]`), no lookup needed.
        let (last, published) = (state.epoch.clock(), state.published);
        debug_assert_eq!(last, state.clock.get(tid));
        debug_assert!(published <= last);
        self.running -= 1;
        self.slots[tid.index()] = if last < RETIRE_AT {
            self.free.insert(tid.index(), published);
            Slot::Free { last, published }
        } else {
            Slot::Retired
        };
    }

    /// Two running goroutines synchronize both ways (an unbuffered channel hand-off:
    /// send → receive completes and receive → send completes): each joins the other's
    /// clock, then both publish and tick, as a release/acquire pair through a sync
    /// object would, without copying either clock into one.
    pub fn exchange(&mut self, a: Tid, b: Tid) {
        assert_ne!(a, b, "hb: a goroutine cannot synchronize with itself");
        let (i, j) = (a.index(), b.index());
        let (lo, hi) = if i < j { (i, j) } else { (j, i) };
        let (left, right) = self.slots.split_at_mut(hi);
        let (Slot::Running(x), Slot::Running(y)) = (&mut left[lo], &mut right[0]) else {
            not_running(if matches!(left[lo], Slot::Running(_)) {
                Tid::new(hi as u32)
            } else {
                Tid::new(lo as u32)
            })
        };
        x.join(&y.clock);
        y.join(&x.clock);
        x.publish_and_tick();
        y.publish_and_tick();
    }

    /// The running goroutine in slot `tid`.
    ///
    /// # Panics
    ///
    /// If no goroutine runs in that slot: the runtime sent an event for a goroutine it
    /// never created or already finished.
    #[inline]
    pub fn get(&self, tid: Tid) -> &ThreadState {
        match self.slots.get(tid.index()) {
            Some(Slot::Running(state)) => state,
            _ => not_running(tid),
        }
    }

    /// The running goroutine in slot `tid`, or `None` if the slot holds none.
    #[inline(always)]
    pub fn try_get(&self, tid: Tid) -> Option<&ThreadState> {
        match self.slots.get(tid.index()) {
            Some(Slot::Running(state)) => Some(state),
            _ => None,
        }
    }

    /// The running goroutine in slot `tid`, mutably. Panics like [`Threads::get`].
    #[inline]
    pub fn get_mut(&mut self, tid: Tid) -> &mut ThreadState {
        match self.slots.get_mut(tid.index()) {
            Some(Slot::Running(state)) => state,
            _ => not_running(tid),
        }
    }

    /// Whether a goroutine currently runs in slot `tid`.
    pub fn is_running(&self, tid: Tid) -> bool {
        matches!(self.slots.get(tid.index()), Some(Slot::Running(_)))
    }

    /// Number of goroutines running now.
    pub fn running_count(&self) -> usize {
        self.running
    }

    /// Number of slots ever allocated: the length bound of every clock.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// How many goroutines were given a reused slot.
    pub fn reused_count(&self) -> u64 {
        self.reused
    }
}

/// The free slots: a bitmap, a summary bitmap of its non-zero words (so a scan skips
/// 4096 busy slots per step), the cursor where the next scan starts, and each free
/// slot's `published` value (indexed by slot: a scan reads 16 candidates per cache
/// line instead of one scattered `Slot` each).
#[derive(Debug, Default)]
struct FreeSlots {
    bits: Vec<u64>,
    published: Vec<Time>,
    summary: Vec<u64>,
    count: usize,
    cursor: usize,
}

impl FreeSlots {
    fn insert(&mut self, slot: usize, published: Time) {
        let w = slot / 64;
        if self.bits.len() <= w {
            self.bits.resize(w + 1, 0);
            self.summary.resize(w / 64 + 1, 0);
        }
        if self.published.len() <= slot {
            self.published.resize(slot + 1, 0);
        }
        self.published[slot] = published;
        debug_assert_eq!(
            self.bits[w] & (1 << (slot % 64)),
            0,
            "hb: slot {slot} freed twice"
        );
        self.bits[w] |= 1 << (slot % 64);
        self.summary[w / 64] |= 1 << (w % 64);
        self.count += 1;
    }

    fn remove(&mut self, slot: usize) {
        let w = slot / 64;
        self.bits[w] &= !(1 << (slot % 64));
        if self.bits[w] == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
        self.count -= 1;
    }

    /// The first free slot at or after `from`, else the first one from 0.
    fn next_from(&self, from: usize) -> Option<usize> {
        self.first_at_or_after(from)
            .or_else(|| self.first_at_or_after(0))
    }

    fn first_at_or_after(&self, from: usize) -> Option<usize> {
        let w = from / 64;
        let word = *self.bits.get(w)? & (!0u64 << (from % 64));
        if word != 0 {
            return Some(w * 64 + word.trailing_zeros() as usize);
        }
        let next = w + 1;
        let mut s = next / 64;
        let mut mask = *self.summary.get(s)? & (!0u64 << (next % 64));
        loop {
            if mask != 0 {
                let w = s * 64 + mask.trailing_zeros() as usize;
                return Some(w * 64 + self.bits[w].trailing_zeros() as usize);
            }
            s += 1;
            mask = *self.summary.get(s)?;
        }
    }
}

#[cold]
#[inline(never)]
fn not_running(tid: Tid) -> ! {
    panic!("gosan: hb: event for goroutine slot {tid}, which is not running")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_starts_at_one_and_fork_copies_then_ticks_parent() {
        let mut th = Threads::new();
        let main = th.create(None);
        assert_eq!(th.get(main).epoch(), Epoch::new(main, 1));
        let child = th.create(Some(main));
        assert_ne!(child, main);
        // The child knows the parent's epoch at the `go` statement...
        assert_eq!(th.get(child).clock().get(main), 1);
        assert_eq!(th.get(child).epoch(), Epoch::new(child, 1));
        // ...and the parent moved on, not knowing the child.
        assert_eq!(th.get(main).epoch(), Epoch::new(main, 2));
        assert_eq!(th.get(main).clock().get(child), 0);
        assert_eq!(th.running_count(), 2);
    }

    #[test]
    fn slot_is_reused_once_the_creator_knows_the_finished_goroutine() {
        let mut th = Threads::new();
        let main = th.create(None);
        let worker = th.create(Some(main));
        // Worker "releases" (wg.Done) then exits; main "acquires" (wg.Wait).
        let done = th.get(worker).clock().clone();
        th.get_mut(worker).publish_and_tick();
        let last = th.get(worker).clock().get(worker);
        th.finish(worker);
        assert!(!th.is_running(worker));
        th.get_mut(main).join(&done);
        let next = th.create(Some(main));
        assert_eq!(next, worker, "slot should be reused");
        assert_eq!(th.reused_count(), 1);
        // Counters keep growing across occupants.
        assert_eq!(th.get(next).epoch(), Epoch::new(next, last + 1));
        assert_eq!(th.slot_count(), 2);
    }

    #[test]
    fn unrelated_goroutine_does_not_inherit_a_finished_slot() {
        let mut th = Threads::new();
        let main = th.create(None);
        let worker = th.create(Some(main));
        th.get_mut(worker).publish(); // it made an access at its epoch
        th.finish(worker);
        // main never synchronized with the worker: reusing its slot would make the
        // new goroutine's own entry cover the worker's accesses.
        let next = th.create(Some(main));
        assert_ne!(next, worker);
        assert_eq!(th.reused_count(), 0);
        assert!(!th.get(next).epoch().covered_by(&VClock::new()));
    }

    #[test]
    fn goroutine_that_published_nothing_can_be_replaced_by_anyone() {
        let mut th = Threads::new();
        let main = th.create(None);
        let idle = th.create(Some(main));
        th.finish(idle);
        // Nothing of `idle` exists anywhere, so no clock could be confused by reuse.
        let next = th.create(None);
        assert_eq!(next, idle);
        assert_eq!(th.get(next).epoch().clock(), 2);
    }

    #[test]
    fn rejected_free_slots_rotate_and_stay_free() {
        let mut th = Threads::new();
        let main = th.create(None);
        let a = th.create(Some(main));
        let b = th.create(Some(main));
        th.get_mut(a).publish();
        let b_clock = th.get(b).clock().clone();
        th.get_mut(b).publish_and_tick();
        th.finish(a);
        th.finish(b);
        th.get_mut(main).join(&b_clock);
        // main knows b, not a: b's slot is reused even though a comes first.
        assert_eq!(th.create(Some(main)), b);
        assert_ne!(th.create(Some(main)), a);
        assert_eq!(th.slot_count(), 4);
    }

    #[test]
    fn free_slot_scan_finds_the_next_slot_across_words_and_wraps() {
        let mut f = FreeSlots::default();
        assert_eq!(f.next_from(0), None);
        for s in [3, 64, 4095, 4096, 70_000] {
            f.insert(s, 0);
        }
        assert_eq!(f.count, 5);
        assert_eq!(f.next_from(0), Some(3));
        assert_eq!(f.next_from(4), Some(64));
        assert_eq!(f.next_from(65), Some(4095));
        assert_eq!(f.next_from(4096), Some(4096));
        assert_eq!(f.next_from(4097), Some(70_000));
        assert_eq!(f.next_from(70_001), Some(3), "wraps around");
        assert_eq!(f.next_from(1 << 30), Some(3));
        f.remove(3);
        f.remove(4095);
        assert_eq!(f.next_from(0), Some(64));
        assert_eq!(f.next_from(65), Some(4096));
        for s in [64, 4096, 70_000] {
            f.remove(s);
        }
        assert_eq!((f.count, f.next_from(0)), (0, None));
    }

    /// Goroutines finished in a scattered order; the creator waits for all of them
    /// and then creates as many again: they get the slots in slot order, so their
    /// entries in any clock that learns them are neighbours.
    #[test]
    fn reused_slots_are_handed_out_in_slot_order() {
        const N: usize = 1000;
        let mut th = Threads::new();
        let main = th.create(None);
        let mut kids: Vec<Tid> = (0..N).map(|_| th.create(Some(main))).collect();
        kids.reverse();
        kids.swap(10, 500);
        let mut wg = VClock::new();
        for &k in &kids {
            wg.join(th.get(k).clock());
            th.get_mut(k).publish_and_tick();
            th.finish(k);
        }
        th.get_mut(main).join(&wg);
        let again: Vec<Tid> = (0..N).map(|_| th.create(Some(main))).collect();
        assert_eq!(th.reused_count(), N as u64);
        assert!(again.windows(2).all(|w| w[0] < w[1]), "{again:?}");
    }

    #[test]
    #[should_panic(expected = "not running")]
    fn finishing_twice_is_an_internal_error() {
        let mut th = Threads::new();
        let main = th.create(None);
        th.finish(main);
        th.finish(main);
    }

    /// `main` spawns `N` goroutines that all stay alive. Each child inherits main's clock
    /// (which never hears of its siblings) plus its own entry, so every clock holds at
    /// most two entries. The dense clocks this replaced held `k + 1` entries for child
    /// `k`: about 5·10⁹ entries (20 GB) here.
    #[test]
    fn many_live_siblings_keep_clock_storage_linear() {
        const N: u32 = if cfg!(miri) { 300 } else { 100_000 }; // Miri runs ~10⁴x slower
        let mut th = Threads::new();
        let main = th.create(None);
        let children: Vec<Tid> = (0..N).map(|_| th.create(Some(main))).collect();
        assert_eq!(th.running_count(), N as usize + 1);
        assert_eq!(th.slot_count(), N as usize + 1);
        let total: usize = std::iter::once(main)
            .chain(children.iter().copied())
            .map(|t| th.get(t).clock().len())
            .sum();
        assert!(
            total < 10 * N as usize,
            "clock storage should be O(goroutines), got {total} entries"
        );
        assert_eq!(total, 1 + 2 * N as usize);
        // The semantics did not change: the last child knows main's last fork, main
        // knows none of its children, and children are concurrent with each other.
        let last = *children.last().unwrap();
        assert_eq!(th.get(last).clock().get(main), N);
        assert_eq!(th.get(main).clock().get(last), 0);
        assert!(th.get(last).covers(Epoch::new(main, N)));
        assert!(!th.get(last).covers(th.get(children[0]).epoch()));
        assert!(!th.get(children[0]).covers(th.get(last).epoch()));
    }

    #[test]
    fn covers_agrees_with_the_clock() {
        let mut th = Threads::new();
        let main = th.create(None);
        let child = th.create(Some(main));
        th.get_mut(main).publish_and_tick();
        for t in [main, child] {
            let state = th.get(t);
            for slot in [main, child, Tid::new(7)] {
                for c in 0..5 {
                    let e = Epoch::new(slot, c);
                    assert_eq!(state.covers(e), e.covered_by(state.clock()), "{e} by {t}");
                }
            }
        }
    }
}
