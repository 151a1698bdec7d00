//! Logical time: goroutine slots ([`Tid`]), FastTrack epochs ([`Epoch`]) and vector
//! clocks ([`VClock`]) whose copy, fork and join cost does not grow with the run's
//! history.
//!
//! Vector clocks are Lamport's happens-before made explicit (Mattern 1988, Fidge
//! 1988); epochs are FastTrack's compression of "the last access of one thread" into a
//! single `clock@tid` pair (Flanagan & Freund, *FastTrack: Efficient and Precise
//! Dynamic Race Detection*, PLDI 2009, §3).
//!
//! # Representation: copy-on-write snapshots plus a short delta
//!
//! A goroutine that waited for a million others knows a million slots; if forking it
//! copied its clock, every `go` statement after that would cost a million entries, and
//! a loop that starts goroutines would be quadratic. So a [`VClock`] is
//!
//! - a **shared tree** (`tree.rs`: a persistent radix tree, path-copied on write, held
//!   by [`std::sync::Arc`]) holding most of what the clock knows, plus
//! - a **delta**: at most [`MAX_DELTA`] sorted epochs that override the tree (each
//!   strictly above it), where the entries that change often live: the goroutine's own
//!   entry, what it learned since its last fold.
//!
//! A copy (fork, release-store into a sync object) shares the tree and copies the
//! delta: `O(MAX_DELTA)`, whatever the clock knows. A parent folds a long delta into
//! its tree before a fork ([`VClock::fork_copy`]), so its children copy two entries.
//! A join of two clocks that share their tree (a goroutine and its creator, an
//! acquirer and the releaser it copied) merges the deltas; otherwise the tree join
//! visits only the nodes on which the trees differ and adopts the other tree's nodes
//! wherever its own are below them, so after one round trip two clocks share their
//! tree again. A clock also remembers the last foreign tree it joined (`seen`), so a
//! hub that keeps receiving joins from goroutines of one spawner (a WaitGroup) pays
//! for that tree once. This is the copy-on-write snapshot scheme (fork in `O(1)`, a
//! release stores a shared snapshot rather than a copy) combined with the goal of
//! Mathur, Pavlogiannis, Tunç & Viswanathan's tree clocks (*A Tree Clock Data
//! Structure for Causal Orderings in Concurrent Executions*, ASPLOS 2022): joins and
//! copies in time proportional to what changed, not to the number of goroutines.
//! Unlike ThreadSanitizer v3's fixed slot set with a global reset, nothing is ever
//! forgotten, so FastTrack's verdicts stay exact (`tests/hb_differential.rs`).
//!
//! # Invariants
//!
//! - **Missing entries are 0.** A [`VClock`] is an unbounded vector; a slot that
//!   neither the delta nor the tree holds reads as 0.
//! - **The delta overrides the tree and is above it.** Delta entries are sorted by
//!   strictly increasing slot, none is 0, each is strictly greater than the tree's
//!   value of its slot, and there are at most [`MAX_DELTA`] of them. Every mutator
//!   restores this (a join drops delta entries its grown tree now covers).
//! - **Semantic equality.** `PartialEq` and `Hash` compare the non-zero entries, so
//!   two clocks that mean the same vector are equal whichever part holds what.
//! - **`seen` is below the tree.** Every value of the remembered tree is at most the
//!   clock's tree's value of the same slot (only lowering an entry with
//!   [`VClock::set`] could break it, and that forgets `seen`).
//! - **Real epochs start at 1.** A goroutine's own entry is at least 1 from its first
//!   instruction on (see `thread.rs`), so the epoch `0@t` ([`Epoch::NONE`]) means
//!   "no access" and is covered by every clock.
//! - **Own entry is maximal.** Only the occupant of slot `t` increments entry `t`;
//!   every other clock holds a value of entry `t` that was copied from it, so no clock
//!   ever holds a larger entry `t` than the occupant's own clock. `thread.rs` keeps
//!   this true across slot reuse.
//!
//! Under these invariants, an access made at epoch `c@t` happens before (or is) the
//! current point of a goroutine whose clock is `C` iff `c <= C[t]`
//! ([`Epoch::covered_by`]); and a whole clock `A` happens before `B` iff `A <= B`
//! pointwise ([`VClock::le`], which is also what `PartialOrd` means here).

use super::tree::Tree;
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// One clock value: how many "ticks" (synchronization releases and forks) a slot's
/// occupants have made. `u32`: with slot reuse a slot's counter keeps growing across
/// occupants; overflow is checked (see [`VClock::tick`]).
pub type Time = u32;

/// A goroutine slot: an index into every vector clock.
///
/// A slot is held by one running goroutine at a time and may be reused after that
/// goroutine finished (the rule and why it is sound are in `thread.rs`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Tid(u32);

impl Tid {
    /// The slot with index `index`.
    #[inline]
    pub const fn new(index: u32) -> Self {
        Tid(index)
    }

    /// The slot's index into a vector clock.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The slot's index as stored.
    #[inline]
    pub const fn as_u32(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Tid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A FastTrack epoch `c@t`: "the point where slot `t`'s counter was `c`".
///
/// Packed in one `u64`: the [`Tid`] in the high 32 bits, the clock in the low 32
/// bits, so an epoch is as cheap to store and compare as a pointer.
///
/// | bits   | field          |
/// |--------|----------------|
/// | 63..32 | `tid`          |
/// | 31..0  | `clock`        |
///
/// Epochs are deliberately not `PartialOrd`: two epochs of different slots are not
/// comparable without a vector clock; use [`Epoch::covered_by`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch(u64);

const _: () = assert!(std::mem::size_of::<Epoch>() == 8);

impl Epoch {
    /// Bits of the clock field.
    const CLOCK_BITS: u32 = 32;
    /// Mask of the clock field.
    const CLOCK_MASK: u64 = (1 << Self::CLOCK_BITS) - 1;

    /// `0@0`: no access. Covered by every clock, since every entry is at least 0.
    pub const NONE: Epoch = Epoch(0);

    /// The epoch `clock@tid`.
    #[inline]
    pub const fn new(tid: Tid, clock: Time) -> Self {
        Epoch(((tid.0 as u64) << Self::CLOCK_BITS) | clock as u64)
    }

    /// The slot this epoch belongs to.
    #[inline]
    pub const fn tid(self) -> Tid {
        Tid((self.0 >> Self::CLOCK_BITS) as u32)
    }

    /// The slot's counter at this epoch.
    #[inline]
    pub const fn clock(self) -> Time {
        (self.0 & Self::CLOCK_MASK) as Time
    }

    /// `true` for [`Epoch::NONE`] (and any `0@t`): no access was recorded.
    #[inline]
    pub const fn is_none(self) -> bool {
        self.clock() == 0
    }

    /// FastTrack's `c@t ≼ C`: the event at this epoch happens before (or is) the
    /// current point of a goroutine whose clock is `clock`. True for [`Epoch::NONE`].
    #[inline]
    pub fn covered_by(self, clock: &VClock) -> bool {
        self.clock() <= clock.get(self.tid())
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.clock(), self.tid())
    }
}

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A vector clock: entry `t` is the latest counter value of slot `t` that this clock
/// knows about (that happens before the point the clock describes).
///
/// Two parts (callers never see which holds an entry; see the module docs):
///
/// - a **delta**: up to [`MAX_DELTA`] entries as epochs `value@slot` sorted by slot,
///   two of them without allocating. Each overrides the tree's value of its
///   slot and is strictly above it. A clock that knows few goroutines is a delta only;
///   a goroutine's own entry, which every release and fork ticks, lives here.
/// - an optional shared **tree** (`tree.rs`): the values folded out of the delta when it
///   grew past [`MAX_DELTA`], or taken over from another clock, shared by reference
///   counting and copied on write.
///
/// plus `seen`, a tree already joined into this one (so a clock that keeps receiving
/// joins from clocks built on that tree — a WaitGroup's `Done`s from the goroutines of
/// one spawner — skips the tree walk): every value of `seen` is at most this clock's.
///
/// Costs, with `d` the deltas' lengths (at most [`MAX_DELTA`]): copy `O(d)`; tick
/// and lookup `O(log d)` plus a tree walk of height `O(log slots)` on a miss; join
/// `O(d)` when both clocks share their tree (a fork's descendants, a release's
/// acquirers), else `O(d)` plus the tree nodes on which the two differ.
///
/// Equality and `Hash` are semantic (the non-zero entries), whatever the split
/// between delta and tree. `PartialOrd` is happens-before: `a < b` iff `a` happens
/// strictly before `b`; `partial_cmp` is `None` for concurrent clocks.
pub struct VClock {
    /// Sorted by slot, no zero value, each strictly above `base`'s value of its slot.
    delta: SmallVec<[Epoch; INLINE]>,
    base: Option<Tree>,
    /// A tree whose every value is at most `base`'s (see the type docs).
    seen: Option<Tree>,
}

/// Delta entries stored without allocating: a goroutine created by a parent that
/// knows nobody else holds two (the parent's entry and its own). Two keep a clock in
/// 40 bytes.
const INLINE: usize = 2;

/// A delta longer than this is folded into the tree.
pub const MAX_DELTA: usize = 32;

/// A parent whose delta is longer than this folds it before a fork
/// ([`VClock::fork_copy`]), so that its children copy two entries, not its delta.
const FORK_DELTA: usize = 2;

const _: () = assert!(std::mem::size_of::<VClock>() <= 40);

/// Debug builds check every invariant of clocks whose delta is this short after each
/// mutation.
const DEBUG_CHECK_FULLY: usize = 64;

/// Where `tid`'s entry is in `entries` (sorted by slot, no duplicates): `Ok(i)` when
/// stored at `i`, `Err(i)` for where it would be inserted.
#[inline]
fn find(entries: &[Epoch], tid: Tid) -> Result<usize, usize> {
    // `0@tid`: below every stored epoch of `tid` (stored values are non-zero) and above
    // every epoch of a smaller slot, so the first entry `>= key` is `tid`'s or the
    // insertion point.
    let key = Epoch::new(tid, 0).0;
    // std's bisection is branch-free; measured faster than a linear scan from two
    // entries up.
    let i = entries.partition_point(|e| e.0 < key);
    match entries.get(i) {
        Some(e) if e.tid() == tid => Ok(i),
        _ => Err(i),
    }
}

/// `mine ⊔= theirs` on sorted sparse entries: a sorted merge in place (one pass
/// raises the shared entries and counts the slots only `theirs` has; if there are
/// any, a second pass merges from the back into the grown vector). Returns whether
/// entries were inserted.
fn sparse_join(mine: &mut SmallVec<[Epoch; INLINE]>, theirs: &[Epoch]) -> bool {
    if theirs.is_empty() {
        return false;
    }
    if mine.is_empty() {
        mine.extend_from_slice(theirs);
        return true;
    }
    let (mut i, mut j, mut missing) = (0, 0, 0);
    {
        let mine = &mut mine[..];
        while j < theirs.len() {
            let Some(m) = mine.get_mut(i) else {
                missing += theirs.len() - j;
                break;
            };
            let t = theirs[j];
            match m.tid().cmp(&t.tid()) {
                Ordering::Less => i += 1,
                Ordering::Greater => {
                    missing += 1;
                    j += 1;
                }
                Ordering::Equal => {
                    if t.clock() > m.clock() {
                        *m = t;
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
    }
    if missing == 0 {
        return false;
    }
    let old = mine.len();
    mine.resize(old + missing, Epoch::NONE);
    let all = &mut mine[..];
    // `k - i` is the number of `theirs[..j]` slots missing from `all[..i]`.
    let (mut i, mut j, mut k) = (old, theirs.len(), old + missing);
    while k > i {
        let t = theirs[j - 1];
        k -= 1;
        if i > 0 && all[i - 1].tid() >= t.tid() {
            if all[i - 1].tid() == t.tid() {
                j -= 1; // already raised by the first pass
            }
            all[k] = all[i - 1];
            i -= 1;
        } else {
            all[k] = t;
            j -= 1;
        }
    }
    true
}

impl VClock {
    /// The zero clock, in a `const` context (a `static` primitive's clock).
    pub const fn new_const() -> Self {
        VClock {
            delta: SmallVec::new_const(),
            base: None,
            seen: None,
        }
    }

    /// The zero clock (every entry 0).
    #[inline]
    pub fn new() -> Self {
        Self::new_const()
    }

    /// The tree's value of `tid` (0 without a tree).
    #[inline]
    fn base_get(&self, tid: Tid) -> Time {
        self.base.as_ref().map_or(0, |b| b.get(tid.index()))
    }

    /// Entry `t`; 0 when not stored.
    #[inline]
    pub fn get(&self, tid: Tid) -> Time {
        match find(&self.delta, tid) {
            Ok(i) => self.delta[i].clock(),
            Err(_) => self.base_get(tid),
        }
    }

    /// Sets entry `t` to `value`.
    pub fn set(&mut self, tid: Tid, value: Time) {
        let below = self.base_get(tid);
        match find(&self.delta, tid) {
            Ok(i) if value > below => self.delta[i] = Epoch::new(tid, value),
            Ok(i) => {
                self.delta.remove(i);
            }
            Err(i) if value > below => {
                self.delta.insert(i, Epoch::new(tid, value));
                self.after_insert();
            }
            Err(_) => {}
        }
        if value < below {
            // Lowering a value of the tree: it is no longer above `seen`.
            if let Some(base) = &mut self.base {
                base.set(tid.index(), value);
            }
            self.seen = None;
        }
        self.debug_check();
    }

    /// Increments entry `t` and returns its new value.
    ///
    /// # Panics
    ///
    /// When the entry would overflow `u32`: four billion synchronization events on one
    /// slot. `thread.rs` retires a slot long before reuse could get it there; only a
    /// single goroutine making that many releases can, and the run cannot go on
    /// soundly after it.
    #[inline]
    pub fn tick(&mut self, tid: Tid) -> Time {
        match find(&self.delta, tid) {
            Ok(i) => {
                let next = self.delta[i].clock().checked_add(1);
                let next = next.unwrap_or_else(|| tick_overflow(tid));
                self.delta[i] = Epoch::new(tid, next);
                next
            }
            Err(i) => {
                let next = self.base_get(tid).checked_add(1);
                let next = next.unwrap_or_else(|| tick_overflow(tid));
                self.delta.insert(i, Epoch::new(tid, next));
                self.after_insert();
                next
            }
        }
    }

    /// `self ⊔= other`: pointwise maximum. `O(deltas)` when both share their tree (or
    /// this clock already joined `other`'s tree); otherwise the tree join costs the
    /// nodes on which the two trees differ (see `tree.rs`).
    pub fn join(&mut self, other: &VClock) {
        // Whether `other`'s delta can be merged without looking at our tree: no tree
        // on either side, or the same one (`other`'s delta is above it).
        let mut plain = self.base.is_none();
        let mut tree_grew = false;
        if let Some(theirs) = &other.base {
            match &mut self.base {
                None => {
                    // Without a tree, `seen` is empty too; `other`'s is below `theirs`.
                    self.base = Some(theirs.clone());
                    self.seen.clone_from(&other.seen);
                    tree_grew = true;
                    plain = true;
                }
                Some(mine) if mine.same(theirs) => plain = true,
                Some(mine) => {
                    if !self.seen.as_ref().is_some_and(|s| s.same(theirs)) {
                        tree_grew = mine.join(theirs);
                        // Remember `theirs` (now below ours) unless we adopted it whole
                        // (then the old `seen` is still below).
                        if !mine.same(theirs) {
                            self.seen = Some(theirs.clone());
                        }
                    }
                }
            }
        }
        if tree_grew {
            self.drop_covered_delta();
        }
        if plain {
            if sparse_join(&mut self.delta, &other.delta) {
                self.after_insert();
            }
        } else {
            let mut inserted = false;
            for &e in &other.delta {
                match find(&self.delta, e.tid()) {
                    Ok(i) => {
                        if e.clock() > self.delta[i].clock() {
                            self.delta[i] = e;
                        }
                    }
                    Err(i) => match &mut self.base {
                        Some(base) if e.clock() > base.get(e.tid().index()) => {
                            if base.is_unique() && self.delta.len() >= MAX_DELTA {
                                // Nobody shares our tree (a WaitGroup's clock that
                                // `Done`s merge into): write it there, no delta to fold.
                                base.set(e.tid().index(), e.clock());
                            } else {
                                self.delta.insert(i, e);
                                inserted = true;
                            }
                        }
                        Some(_) => {}
                        None => unreachable!("hb: a clock without a tree merged by lookup"),
                    },
                }
            }
            if inserted {
                self.after_insert();
            }
        }
        self.debug_check();
    }

    /// A copy for a goroutine created by the one this clock belongs to (the fork
    /// rule). Folds a long delta into the tree first, so that the parent pays for it
    /// once and every child copies only the entries the parent learned since.
    pub fn fork_copy(&mut self) -> VClock {
        if self.delta.len() > FORK_DELTA && self.base.is_some() {
            self.fold();
        }
        self.clone()
    }

    /// `self ≤ other` pointwise: everything `self` knows, `other` knows; the point
    /// `self` describes happens before (or is) the point `other` describes.
    pub fn le(&self, other: &VClock) -> bool {
        if let (Some(a), Some(b)) = (&self.base, &other.base) {
            if a.same(b) || other.seen.as_ref().is_some_and(|s| s.same(a)) {
                // The trees are ordered; only our delta can know more.
                return self.delta.iter().all(|e| e.covered_by(other));
            }
        }
        self.epochs().iter().all(|e| e.covered_by(other))
    }

    /// The index of the first of `items` whose epoch (`epoch_of`) this clock does not
    /// cover. `items` must be sorted by the epochs' slots, one item per slot (a clock's
    /// entries, a read vector).
    pub(crate) fn first_uncovered<T>(
        &self,
        items: &[T],
        epoch_of: impl Fn(&T) -> Epoch,
    ) -> Option<usize> {
        items.iter().position(|item| {
            let e = epoch_of(item);
            debug_assert!(e.clock() != 0, "hb: a zero epoch in a sorted summary");
            !e.covered_by(self)
        })
    }

    /// The epoch `self[t]@t`.
    #[inline]
    pub fn epoch(&self, tid: Tid) -> Epoch {
        Epoch::new(tid, self.get(tid))
    }

    /// Number of non-zero entries (not the highest slot the clock knows). `O(delta)`
    /// without a tree, a walk of the tree with one.
    pub fn len(&self) -> usize {
        match &self.base {
            None => self.delta.len(),
            Some(_) => self.epochs().len(),
        }
    }

    /// `true` for the zero clock.
    pub fn is_empty(&self) -> bool {
        self.delta.is_empty() && (self.base.is_none() || self.len() == 0)
    }

    /// The non-zero entries, as `(slot, value)`, in increasing slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Tid, Time)> + '_ {
        self.epochs().into_iter().map(|e| (e.tid(), e.clock()))
    }

    /// Whether part of the clock lives in a shared tree (tests of the folding rule).
    pub fn has_tree(&self) -> bool {
        self.base.is_some()
    }

    /// Entries in the delta (tests of the folding rule).
    pub fn delta_len(&self) -> usize {
        self.delta.len()
    }

    /// The non-zero entries as epochs, in slot order (delta over tree).
    fn epochs(&self) -> Vec<Epoch> {
        let Some(base) = &self.base else {
            return self.delta.to_vec();
        };
        let mut out = Vec::with_capacity(self.delta.len());
        let mut delta = self.delta.iter().peekable();
        base.for_each(|slot, v| {
            while let Some(e) = delta.next_if(|e| e.tid().index() < slot) {
                out.push(*e);
            }
            match delta.next_if(|e| e.tid().index() == slot) {
                Some(e) => out.push(*e),
                None => out.push(Epoch::new(Tid::new(slot as u32), v)),
            }
        });
        out.extend(delta);
        out
    }

    /// Drops delta entries that the tree now matches or exceeds (after the tree grew).
    fn drop_covered_delta(&mut self) {
        if let Some(base) = &self.base {
            self.delta.retain(|e| e.clock() > base.get(e.tid().index()));
        }
    }

    /// The delta gained entries: fold it into the tree once it is too long.
    #[inline]
    fn after_insert(&mut self) {
        if self.delta.len() > MAX_DELTA {
            self.fold();
        }
    }

    /// Moves the delta into the tree (copying the tree's paths it touches where they
    /// are shared).
    #[cold]
    fn fold(&mut self) {
        let Some(last) = self.delta.last() else {
            return;
        };
        let base = self
            .base
            .get_or_insert_with(|| Tree::covering(last.tid().index()));
        for e in &self.delta {
            base.set(e.tid().index(), e.clock());
        }
        // Release the buffer: a goroutine that folded once rarely refills it.
        self.delta = SmallVec::new();
    }

    /// Checks the invariants (debug builds) of clocks with a short delta.
    #[inline]
    fn debug_check(&self) {
        if cfg!(debug_assertions) && self.delta.len() <= DEBUG_CHECK_FULLY {
            assert!(self.invariants_hold(), "hb: a malformed clock: {self:?}");
        }
    }

    fn invariants_hold(&self) -> bool {
        self.delta.len() <= MAX_DELTA
            && self.delta.windows(2).all(|w| w[0].tid() < w[1].tid())
            && self
                .delta
                .iter()
                .all(|e| e.clock() != 0 && e.clock() > self.base_get(e.tid()))
    }
}

#[cold]
#[inline(never)]
fn tick_overflow(tid: Tid) -> ! {
    panic!("gosan: hb: vector clock entry of goroutine slot {tid} overflowed u32")
}

impl Default for VClock {
    fn default() -> Self {
        VClock::new()
    }
}

impl Clone for VClock {
    fn clone(&self) -> Self {
        VClock {
            delta: self.delta.clone(),
            base: self.base.clone(),
            seen: self.seen.clone(),
        }
    }

    /// Reuses the delta's buffer (a release into a sync object copies a whole clock
    /// into the one the last release left there).
    fn clone_from(&mut self, source: &Self) {
        self.delta.clone_from(&source.delta);
        self.base.clone_from(&source.base);
        self.seen.clone_from(&source.seen);
    }
}

/// Semantic: the same non-zero entries, whatever the split between delta and tree.
impl PartialEq for VClock {
    fn eq(&self, other: &Self) -> bool {
        match (&self.base, &other.base) {
            (None, None) => self.delta == other.delta,
            (Some(a), Some(b)) if a.same(b) => self.delta == other.delta,
            _ => self.epochs() == other.epochs(),
        }
    }
}

impl Eq for VClock {}

/// Semantic, like `==`: hashes the non-zero entries in slot order.
impl Hash for VClock {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let epochs = self.epochs();
        state.write_usize(epochs.len());
        for e in epochs {
            e.hash(state);
        }
    }
}

impl PartialOrd for VClock {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self.le(other), other.le(self)) {
            (true, true) => Some(Ordering::Equal),
            (true, false) => Some(Ordering::Less),
            (false, true) => Some(Ordering::Greater),
            (false, false) => None,
        }
    }
}

/// `{slot: value, ...}` over the non-zero entries.
impl fmt::Debug for VClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(t, v)| (t.as_u32(), v)))
            .finish()
    }
}

impl FromIterator<(Tid, Time)> for VClock {
    fn from_iter<I: IntoIterator<Item = (Tid, Time)>>(iter: I) -> Self {
        let mut clock = VClock::new();
        for (tid, value) in iter {
            clock.set(tid, value);
        }
        clock
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::live_nodes;
    use super::*;

    fn vc(entries: &[Time]) -> VClock {
        entries
            .iter()
            .enumerate()
            .map(|(i, &v)| (Tid::new(i as u32), v))
            .collect()
    }

    #[test]
    fn epoch_packs_tid_and_clock() {
        let e = Epoch::new(Tid::new(7), 42);
        assert_eq!(e.tid(), Tid::new(7));
        assert_eq!(e.clock(), 42);
        assert_eq!(e.to_string(), "42@7");
        let max = Epoch::new(Tid::new(u32::MAX), u32::MAX);
        assert_eq!((max.tid().as_u32(), max.clock()), (u32::MAX, u32::MAX));
        assert!(Epoch::NONE.is_none());
        assert!(!e.is_none());
    }

    #[test]
    fn epoch_covered_by_compares_its_own_entry() {
        let clock = vc(&[3, 5]);
        assert!(Epoch::new(Tid::new(1), 5).covered_by(&clock));
        assert!(!Epoch::new(Tid::new(1), 6).covered_by(&clock));
        assert!(!Epoch::new(Tid::new(2), 1).covered_by(&clock));
        assert!(Epoch::NONE.covered_by(&VClock::new()));
    }

    #[test]
    fn missing_entries_read_as_zero_and_zero_is_not_stored() {
        let mut c = VClock::new();
        assert_eq!(c.get(Tid::new(100)), 0);
        c.set(Tid::new(3), 4);
        assert_eq!(c.len(), 1, "only the non-zero entry is stored");
        c.set(Tid::new(3), 0);
        assert!(c.is_empty());
        assert_eq!(c, VClock::new());
        c.set(Tid::new(9), 0);
        assert!(c.is_empty());
    }

    #[test]
    fn tick_increments_one_entry() {
        let mut c = vc(&[1, 2]);
        assert_eq!(c.tick(Tid::new(1)), 3);
        assert_eq!(c.tick(Tid::new(4)), 1);
        assert_eq!(c, vc(&[1, 3, 0, 0, 1]));
    }

    #[test]
    #[should_panic(expected = "overflowed")]
    fn tick_overflow_panics() {
        let mut c = vc(&[u32::MAX]);
        c.tick(Tid::new(0));
    }

    #[test]
    fn join_is_pointwise_max_in_canonical_form() {
        let mut a = vc(&[1, 5]);
        a.join(&vc(&[4, 2, 0, 7]));
        assert_eq!(a, vc(&[4, 5, 0, 7]));
        let mut b = vc(&[1, 0, 3]);
        b.join(&vc(&[2]));
        assert_eq!(b, vc(&[2, 0, 3]));
        let mut z = VClock::new();
        z.join(&VClock::new());
        assert!(z.is_empty());
    }

    #[test]
    fn le_and_partial_ord_are_happens_before() {
        let a = vc(&[1, 2]);
        let b = vc(&[1, 3]);
        let c = vc(&[2, 1]);
        assert!(a.le(&b) && !b.le(&a));
        assert!(a < b);
        assert!(b > a);
        assert!(a <= a.clone() && a >= a.clone());
        assert_eq!(a.partial_cmp(&a.clone()), Some(Ordering::Equal));
        assert_eq!(b.partial_cmp(&c), None);
        assert!(!b.le(&c) && !c.le(&b));
        assert_eq!(b.partial_cmp(&c), c.partial_cmp(&b));
        // A longer clock is not below a shorter one, whatever its prefix.
        assert!(!vc(&[0, 0, 1]).le(&vc(&[9, 9])));
        assert!(VClock::new().le(&a));
    }

    #[test]
    fn clone_from_copies_exactly() {
        let mut dst = vc(&[9, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
        dst.clone_from(&vc(&[1]));
        assert_eq!(dst, vc(&[1]));
        assert_eq!(format!("{dst:?}"), "{0: 1}");
        assert_eq!(format!("{:?}", vc(&[0, 2, 0, 4])), "{1: 2, 3: 4}");
        let entries: Vec<_> = vc(&[0, 2, 0, 4]).iter().collect();
        assert_eq!(entries, vec![(Tid::new(1), 2), (Tid::new(3), 4)]);
    }

    /// A clock with the given `(slot, value)` entries.
    fn sparse(entries: &[(u32, Time)]) -> VClock {
        entries.iter().map(|&(t, v)| (Tid::new(t), v)).collect()
    }

    #[test]
    fn storage_is_proportional_to_known_slots_not_the_highest_slot() {
        let mut c = VClock::new();
        c.set(Tid::new(1_000_000), 3);
        c.set(Tid::new(7), 1);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(Tid::new(1_000_000)), 3);
        assert_eq!(c.get(Tid::new(999_999)), 0);
        let entries: Vec<_> = c.iter().collect();
        assert_eq!(entries, vec![(Tid::new(7), 1), (Tid::new(1_000_000), 3)]);
        assert_eq!(c.tick(Tid::new(500)), 1);
        assert_eq!(c.len(), 3);
        c.set(Tid::new(7), 0);
        assert_eq!(c, sparse(&[(500, 1), (1_000_000, 3)]));
    }

    #[test]
    fn long_clocks_bisect() {
        // Many entries (on the heap), with gaps between slots.
        let c = sparse(&(0..100).map(|i| (3 * i, i + 1)).collect::<Vec<_>>());
        assert_eq!(c.len(), 100);
        for t in 0..310 {
            let want = if t % 3 == 0 && t < 300 { t / 3 + 1 } else { 0 };
            assert_eq!(c.get(Tid::new(t)), want, "slot {t}");
        }
        let mut d = c.clone();
        d.set(Tid::new(151), 9);
        d.set(Tid::new(150), 0);
        assert_eq!(d.len(), 100);
        assert!(!c.le(&d) && !d.le(&c));
    }

    #[test]
    fn sorted_merge_join_interleaves_and_raises() {
        let mut a = sparse(&[(1, 5), (4, 1), (9, 2)]);
        a.join(&sparse(&[(0, 1), (4, 3), (5, 1), (9, 1), (12, 7)]));
        assert_eq!(
            a,
            sparse(&[(0, 1), (1, 5), (4, 3), (5, 1), (9, 2), (12, 7)])
        );
        let mut b = sparse(&[(2, 2)]);
        b.join(&sparse(&[(2, 1)]));
        assert_eq!(b, sparse(&[(2, 2)]));
        let mut e = VClock::new();
        e.join(&b);
        assert_eq!(e, b);
        b.join(&VClock::new());
        assert_eq!(b, sparse(&[(2, 2)]));
    }

    /// An xorshift generator: deterministic pseudo-random tests without a dependency.
    fn rng(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// The reference model: the non-zero entries.
    type Model = std::collections::BTreeMap<u32, Time>;

    fn hash_of(c: &VClock) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        c.hash(&mut h);
        h.finish()
    }

    /// Checks `c` against `m` entry by entry (and a few absent slots).
    fn assert_matches(c: &VClock, m: &Model) {
        assert!(c.invariants_hold(), "{c:?}");
        assert_eq!(c.len(), m.len(), "{c:?}");
        assert_eq!(c.is_empty(), m.is_empty());
        let entries: Vec<_> = c.iter().map(|(t, v)| (t.as_u32(), v)).collect();
        let want: Vec<_> = m.iter().map(|(&t, &v)| (t, v)).collect();
        assert_eq!(entries, want);
        for t in (0..90).chain([999, 1000, 1001, 70_000, 100_000]) {
            let v = m.get(&t).copied().unwrap_or(0);
            assert_eq!(c.get(Tid::new(t)), v, "slot {t} of {c:?}");
            assert_eq!(c.epoch(Tid::new(t)), Epoch::new(Tid::new(t), v));
        }
    }

    /// A slot: mostly below 80 (where 32 entries make a clock dense), sometimes far
    /// (which makes a dense clock too spread out). Under Miri the farthest is nearer,
    /// so that a clock that spans it stays cheap to interpret.
    fn random_slot(next: &mut dyn FnMut() -> u64) -> u32 {
        match next() % 256 {
            0 => 1000,
            1 if cfg!(miri) => 5_000,
            1 => 100_000,
            _ => (next() % 80) as u32,
        }
    }

    /// A random model of assorted density, and a clock for it built by one of several
    /// paths (so the same meaning arrives in either representation).
    fn random_clock(next: &mut dyn FnMut() -> u64) -> (VClock, Model) {
        let mut m = Model::new();
        let n = match next() % 4 {
            0 => next() % 8,
            1 => next() % 40,
            _ => next() % 90,
        };
        for _ in 0..n {
            m.insert(random_slot(next), 1 + (next() % 4) as Time);
        }
        let c = match next() % 3 {
            // In slot order.
            0 => m.iter().map(|(&t, &v)| (Tid::new(t), v)).collect(),
            // In reverse order, by joins of single-entry clocks.
            1 => {
                let mut c = VClock::new();
                for (&t, &v) in m.iter().rev() {
                    c.join(&sparse(&[(t, v)]));
                }
                c
            }
            // With extra slots that are cleared afterwards.
            _ => {
                let mut c: VClock = (0..80).map(|t| (Tid::new(t), 9)).collect();
                for (&t, &v) in &m {
                    c.set(Tid::new(t), v);
                }
                for t in 0..80 {
                    if !m.contains_key(&t) {
                        c.set(Tid::new(t), 0);
                    }
                }
                c
            }
        };
        assert_matches(&c, &m);
        (c, m)
    }

    fn model_le(a: &Model, b: &Model) -> bool {
        a.iter().all(|(t, v)| b.get(t).is_some_and(|w| v <= w))
    }

    fn model_join(a: &mut Model, b: &Model) {
        for (&t, &v) in b {
            let e = a.entry(t).or_insert(0);
            *e = (*e).max(v);
        }
    }

    /// Every binary operation against the model, on pseudo-random clocks in all four
    /// combinations of representations (counted, so none goes untested).
    #[test]
    fn operations_match_a_model_in_every_representation() {
        let mut next = rng(0x9E37_79B9_7F4A_7C15);
        let mut seen = [[0usize; 2]; 2];
        let iterations = if cfg!(miri) { 16 } else { 4000 }; // Miri runs ~10⁴x slower
        for _ in 0..iterations {
            let (a, ma) = random_clock(&mut next);
            let (b, mb) = random_clock(&mut next);
            seen[usize::from(a.has_tree())][usize::from(b.has_tree())] += 1;
            assert_eq!(a.le(&b), model_le(&ma, &mb), "{a:?} <= {b:?}");
            assert_eq!(a == b, ma == mb);
            if a == b {
                assert_eq!(hash_of(&a), hash_of(&b));
            }
            let want = match (model_le(&ma, &mb), model_le(&mb, &ma)) {
                (true, true) => Some(Ordering::Equal),
                (true, false) => Some(Ordering::Less),
                (false, true) => Some(Ordering::Greater),
                (false, false) => None,
            };
            assert_eq!(a.partial_cmp(&b), want);
            // `first_uncovered` over `b`'s entries.
            let items: Vec<Epoch> = b.iter().map(|(t, v)| Epoch::new(t, v)).collect();
            let want = mb
                .iter()
                .position(|(t, &v)| v > ma.get(t).copied().unwrap_or(0));
            assert_eq!(a.first_uncovered(&items, |&e| e), want, "{a:?} / {b:?}");

            let mut j = a.clone();
            j.join(&b);
            let mut mj = ma.clone();
            model_join(&mut mj, &mb);
            assert_matches(&j, &mj);
            assert!(a.le(&j) && b.le(&j));
            let mut k = j.clone();
            k.join(&a);
            assert_eq!(k, j, "join is idempotent");

            let mut c = b.clone();
            c.clone_from(&a);
            assert_matches(&c, &ma);

            let t = random_slot(&mut next);
            let mut k = a.clone();
            let v = k.tick(Tid::new(t));
            let mut mk = ma.clone();
            *mk.entry(t).or_insert(0) += 1;
            assert_eq!(v, mk[&t]);
            assert_matches(&k, &mk);
            assert!(a < k);
        }
        assert!(
            seen.iter().flatten().all(|&n| n > iterations / 40),
            "{seen:?}"
        );
    }

    /// Long random sequences of mutations on a few clocks, checked after every step,
    /// with the trees started and the deltas folded counted.
    #[test]
    fn mutation_sequences_match_a_model_across_folds() {
        let mut next = rng(0xD1B5_4A32_D192_ED03);
        let mut clocks: Vec<(VClock, Model)> =
            (0..4).map(|_| (VClock::new(), Model::new())).collect();
        let (mut trees, mut folds) = (0, 0);
        let steps = if cfg!(miri) { 400 } else { 40_000 }; // Miri runs ~10⁴x slower
        for step in 0..steps {
            let i = (next() % 4) as usize;
            let (had_tree, delta_before) = (clocks[i].0.has_tree(), clocks[i].0.delta_len());
            match next() % 16 {
                0..=5 => {
                    let t = random_slot(&mut next);
                    let (c, m) = &mut clocks[i];
                    *m.entry(t).or_insert(0) += 1;
                    assert_eq!(c.tick(Tid::new(t)), m[&t]);
                }
                6..=9 => {
                    let t = random_slot(&mut next);
                    // Clears (and lowers tree values) now and then.
                    let v = (next() % 3) as Time;
                    let (c, m) = &mut clocks[i];
                    c.set(Tid::new(t), v);
                    if v == 0 {
                        m.remove(&t);
                    } else {
                        m.insert(t, v);
                    }
                }
                10..=12 => {
                    let j = (next() % 4) as usize;
                    let (other, mo) = clocks[j].clone();
                    let (c, m) = &mut clocks[i];
                    c.join(&other);
                    model_join(m, &mo);
                }
                13 => {
                    let j = (next() % 4) as usize;
                    let (c, m) = &mut clocks[j];
                    let copy = c.fork_copy();
                    let m = m.clone();
                    assert_matches(c, &m);
                    clocks[i] = (copy, m);
                }
                14 => {
                    let (c, m) = random_clock(&mut next);
                    clocks[i].0.clone_from(&c);
                    clocks[i].1 = m;
                }
                _ => clocks[i] = (VClock::new(), Model::new()),
            }
            let (c, m) = &clocks[i];
            assert_matches(c, m);
            trees += usize::from(!had_tree && c.has_tree());
            folds += usize::from(delta_before >= MAX_DELTA && c.delta_len() <= 2);
            if step % 16 == 0 {
                for (a, ma) in &clocks {
                    for (b, mb) in &clocks {
                        assert_eq!(a.le(b), model_le(ma, mb));
                        assert_eq!(a == b, ma == mb);
                    }
                }
            }
        }
        // The paths were taken (the normal run's 40k steps; Miri's 400 checks for UB
        // only and may not reach a fold).
        if !cfg!(miri) {
            assert!(
                trees > steps / 400 && folds > steps / 400,
                "{trees} / {folds}"
            );
        }
    }

    #[test]
    fn long_deltas_fold_into_a_tree_that_copies_share() {
        let mut c: VClock = (0..MAX_DELTA as u32).map(|t| (Tid::new(t), 1)).collect();
        assert!(!c.has_tree());
        assert_eq!(c.delta_len(), MAX_DELTA);
        c.tick(Tid::new(40));
        assert!(c.has_tree(), "one more entry folds the delta");
        assert_eq!(c.delta_len(), 0);
        assert_eq!(c.len(), MAX_DELTA + 1);
        assert_eq!(c.get(Tid::new(40)), 1);
        // A tick of a folded entry goes to the delta, above the tree.
        assert_eq!(c.tick(Tid::new(3)), 2);
        assert_eq!(c.delta_len(), 1);
        // Copies share the tree: no node is allocated, however long the clock.
        let (n, k) = if cfg!(miri) {
            (2_000, 20)
        } else {
            (100_000, 1000)
        }; // Miri: slow
        let mut big: VClock = (0..n).map(|t| (Tid::new(t), 1)).collect();
        // The first fork folds whatever delta the collection left (how long it is
        // depends on `n`); from then on copies allocate nothing.
        let first = big.fork_copy();
        assert_eq!(big.delta_len(), first.delta_len());
        let nodes = live_nodes();
        let copies: Vec<VClock> = (0..k).map(|_| big.fork_copy()).collect();
        assert_eq!(live_nodes(), nodes);
        assert!(copies.iter().all(|k| k == &big));
        // A parent with a long delta folds it once before the fork.
        for t in 200_000..200_010 {
            big.set(Tid::new(t), 1);
        }
        assert_eq!(big.delta_len(), 10);
        let child = big.fork_copy();
        assert_eq!((big.delta_len(), child.delta_len()), (0, 0));
        assert_eq!(child, big);
    }

    #[test]
    fn joins_share_trees_and_remember_joined_ones() {
        // Miri runs ~10⁴x slower: a smaller hub and fewer children there.
        let (hub_len, kids) = if cfg!(miri) {
            (200u32, 40u32)
        } else {
            (5000, 1000)
        };
        let hub: VClock = (0..hub_len).map(|t| (Tid::new(t), 1)).collect();
        assert!(hub.has_tree());
        // 1000 children of the hub, each ticking its own entry: their joins into one
        // clock cost their deltas, and leave the joined tree shared.
        let mut wg = VClock::new();
        let mut children = Vec::new();
        for t in 0..kids {
            let mut c = hub.clone();
            c.tick(Tid::new(10_000 + t));
            c.tick(Tid::new(t));
            children.push(c);
        }
        for c in &children {
            wg.join(c);
        }
        assert!(wg.has_tree());
        for (t, c) in children.iter().enumerate() {
            assert!(c <= &wg);
            assert_eq!(wg.get(Tid::new(10_000 + t as u32)), 1);
            assert_eq!(wg.get(Tid::new(t as u32)), 2);
        }
        assert_eq!(wg.get(Tid::new(hub_len - 1)), 1);
        // A clock whose tree moved on still joins the old tree's children correctly.
        let mut main = hub.clone();
        main.join(&wg);
        for c in &children {
            let mut k = main.clone();
            k.join(c);
            assert_eq!(k, main);
        }
        let mut late = hub.clone();
        late.tick(Tid::new(3));
        late.tick(Tid::new(3));
        main.join(&late);
        assert_eq!(main.get(Tid::new(3)), 3);
        assert!(hub < main && late <= main && !main.le(&late));
    }

    #[test]
    fn equality_hash_and_order_ignore_where_entries_live() {
        let entries: Vec<(u32, Time)> = (0..40).map(|t| (t, t + 1)).collect();
        let mut folded = sparse(&entries);
        assert!(folded.has_tree());
        for t in 30..40 {
            folded.set(Tid::new(t), 0);
        }
        let small = sparse(&entries[..30]);
        assert!(!small.has_tree());
        assert_eq!(folded, small);
        assert_eq!(small, folded);
        assert_eq!(hash_of(&folded), hash_of(&small));
        assert_eq!(format!("{folded:?}"), format!("{small:?}"));
        assert!(folded.le(&small) && small.le(&folded));
        let mut bigger = small.clone();
        bigger.tick(Tid::new(3));
        assert!(folded < bigger);
        assert_eq!(bigger.partial_cmp(&folded), Some(Ordering::Greater));
        let mut other = folded.clone();
        other.tick(Tid::new(50));
        assert!(folded < other && other != folded);
    }

    #[test]
    fn clone_from_copies_either_form() {
        let big = sparse(&(0..40).map(|t| (t, 2)).collect::<Vec<_>>());
        assert!(big.has_tree());
        let mut c = sparse(&[(3, 1)]);
        c.clone_from(&big);
        assert_eq!(c, big);
        assert!(c.has_tree());
        c.clone_from(&sparse(&[(7, 7)]));
        assert_eq!(c, sparse(&[(7, 7)]));
        assert!(!c.has_tree());
    }
}
