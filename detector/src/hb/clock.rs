//! Logical time: goroutine slots ([`Tid`]), FastTrack epochs ([`Epoch`]) and vector
//! clocks ([`VClock`]).
//!
//! Vector clocks are Lamport's happens-before made explicit (Mattern 1988, Fidge
//! 1988); epochs are FastTrack's compression of "the last access of one thread" into a
//! single `clock@tid` pair (Flanagan & Freund, *FastTrack: Efficient and Precise
//! Dynamic Race Detection*, PLDI 2009, §3).
//!
//! # Invariants
//!
//! - **Missing entries are 0.** A [`VClock`] is an unbounded vector whose entries past
//!   its stored length read as 0.
//! - **Canonical form.** A stored [`VClock`] never ends in a 0 entry, so two clocks
//!   that mean the same vector are equal as Rust values (`PartialEq` and `Hash` are
//!   semantic). Every mutator restores this form.
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

use smallvec::SmallVec;
use std::cmp::Ordering;
use std::fmt;

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
/// Stored inline for up to 8 slots (one cache line with the length), on the heap
/// beyond. Entries past the stored length are 0; the stored form never ends in 0
/// (see the module invariants), so `==` is semantic equality.
///
/// `PartialOrd` is happens-before: `a < b` iff `a` happens strictly before `b`;
/// `partial_cmp` is `None` for concurrent clocks.
#[derive(Default, PartialEq, Eq, Hash)]
pub struct VClock(SmallVec<[Time; 8]>);

impl VClock {
    /// The zero clock, in a `const` context (a `static` primitive's clock).
    pub const fn new_const() -> Self {
        VClock(SmallVec::new_const())
    }

    /// The zero clock (every entry 0).
    #[inline]
    pub fn new() -> Self {
        VClock(SmallVec::new())
    }

    /// Entry `t`; 0 when not stored.
    #[inline]
    pub fn get(&self, tid: Tid) -> Time {
        self.0.get(tid.index()).copied().unwrap_or(0)
    }

    /// Sets entry `t` to `value`, keeping the canonical form.
    pub fn set(&mut self, tid: Tid, value: Time) {
        let i = tid.index();
        if i < self.0.len() {
            self.0[i] = value;
            if value == 0 {
                self.trim();
            }
        } else if value != 0 {
            self.0.resize(i + 1, 0);
            self.0[i] = value;
        }
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
        let next = self
            .get(tid)
            .checked_add(1)
            .unwrap_or_else(|| tick_overflow(tid));
        self.set(tid, next);
        next
    }

    /// `self ⊔= other`: pointwise maximum.
    pub fn join(&mut self, other: &VClock) {
        if other.0.len() > self.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
            *mine = (*mine).max(*theirs);
        }
        // Both were canonical, so the longer one's last entry (now ours) is non-zero.
        debug_assert!(self.is_canonical());
    }

    /// `self ≤ other` pointwise: everything `self` knows, `other` knows; the point
    /// `self` describes happens before (or is) the point `other` describes.
    pub fn le(&self, other: &VClock) -> bool {
        // Canonical form: a longer `self` has a non-zero entry `other` lacks.
        self.0.len() <= other.0.len() && self.0.iter().zip(other.0.iter()).all(|(a, b)| a <= b)
    }

    /// The epoch `self[t]@t`.
    #[inline]
    pub fn epoch(&self, tid: Tid) -> Epoch {
        Epoch::new(tid, self.get(tid))
    }

    /// Number of stored entries (one past the highest non-zero slot).
    #[inline]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` for the zero clock.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The non-zero entries, as `(slot, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (Tid, Time)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, &v)| v != 0)
            .map(|(i, &v)| (Tid(i as u32), v))
    }

    /// Drops trailing zeros (restores the canonical form).
    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_canonical(&self) -> bool {
        self.0.last() != Some(&0)
    }
}

#[cold]
#[inline(never)]
fn tick_overflow(tid: Tid) -> ! {
    panic!("gosan: hb: vector clock entry of goroutine slot {tid} overflowed u32")
}

impl Clone for VClock {
    fn clone(&self) -> Self {
        VClock(self.0.clone())
    }

    /// Reuses `self`'s allocation (a release into a sync object copies a whole clock).
    fn clone_from(&mut self, source: &Self) {
        self.0.clone_from(&source.0);
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

impl fmt::Debug for VClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
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
        assert_eq!(c.len(), 4);
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
        assert_eq!(format!("{dst:?}"), "[1]");
        let entries: Vec<_> = vc(&[0, 2, 0, 4]).iter().collect();
        assert_eq!(entries, vec![(Tid::new(1), 2), (Tid::new(3), 4)]);
    }
}
