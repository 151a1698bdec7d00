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
//! - **Missing entries are 0.** A [`VClock`] is an unbounded vector stored sparsely:
//!   only its non-zero entries are kept, and every other slot reads as 0.
//! - **Canonical form.** The stored entries are sorted by strictly increasing slot and
//!   none is 0, so two clocks that mean the same vector are equal as Rust values
//!   (`PartialEq` and `Hash` are semantic). Every mutator restores this form. A clock's
//!   size is the number of goroutines it knows about, never the highest slot number.
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
/// **Sparse**: only the non-zero entries are stored, as epochs `value@slot` sorted by
/// slot (one `u64` each), so a clock costs memory for the goroutines it has heard of,
/// not for the highest slot it has heard of. A goroutine forked by a parent that never
/// learned about its siblings holds two entries however many siblings run. Up to
/// four entries live inline (the same 40 bytes the old dense form took), more on
/// the heap. Lookups bisect (branch-free).
///
/// The stored form is canonical (strictly increasing slots, no zero value; see the
/// module invariants), so `==` and `Hash` are semantic equality.
///
/// `PartialOrd` is happens-before: `a < b` iff `a` happens strictly before `b`;
/// `partial_cmp` is `None` for concurrent clocks.
#[derive(Default, PartialEq, Eq, Hash)]
pub struct VClock(SmallVec<[Epoch; INLINE]>);

/// Entries a [`VClock`] stores without allocating.
const INLINE: usize = 4;

const _: () = assert!(std::mem::size_of::<VClock>() <= 40);

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
        match find(&self.0, tid) {
            Ok(i) => self.0[i].clock(),
            Err(_) => 0,
        }
    }

    /// Sets entry `t` to `value`, keeping the canonical form.
    pub fn set(&mut self, tid: Tid, value: Time) {
        match (find(&self.0, tid), value) {
            (Ok(i), 0) => {
                self.0.remove(i);
            }
            (Ok(i), _) => self.0[i] = Epoch::new(tid, value),
            (Err(_), 0) => {}
            (Err(i), _) => self.0.insert(i, Epoch::new(tid, value)),
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
        match find(&self.0, tid) {
            Ok(i) => {
                let next = self.0[i]
                    .clock()
                    .checked_add(1)
                    .unwrap_or_else(|| tick_overflow(tid));
                self.0[i] = Epoch::new(tid, next);
                next
            }
            Err(i) => {
                self.0.insert(i, Epoch::new(tid, 1));
                1
            }
        }
    }

    /// `self ⊔= other`: pointwise maximum.
    ///
    /// A sorted merge in place: one pass raises the shared entries and counts the slots
    /// only `other` has; if there are any, a second pass merges from the back into the
    /// grown vector. No allocation unless the clock grows past its capacity.
    pub fn join(&mut self, other: &VClock) {
        let theirs = &other.0[..];
        if theirs.is_empty() {
            return;
        }
        if self.0.is_empty() {
            self.0.extend_from_slice(theirs);
            return;
        }
        let mine = &mut self.0[..];
        let (mut i, mut j, mut missing) = (0, 0, 0);
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
        if missing > 0 {
            let old = self.0.len();
            self.0.resize(old + missing, Epoch::NONE);
            let all = &mut self.0[..];
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
        }
        debug_assert!(self.is_canonical());
    }

    /// `self ≤ other` pointwise: everything `self` knows, `other` knows; the point
    /// `self` describes happens before (or is) the point `other` describes.
    pub fn le(&self, other: &VClock) -> bool {
        // Canonical form: with more stored (non-zero) entries, `self` has a slot
        // `other` lacks.
        self.0.len() <= other.0.len() && other.first_uncovered(&self.0, |&e| e).is_none()
    }

    /// The index of the first of `items` whose epoch (`epoch_of`) this clock does not
    /// cover. `items` must be sorted by the epochs' slots, one item per slot (a clock's
    /// entries, a read vector). One walk over both, bisecting ahead in `self`.
    pub(crate) fn first_uncovered<T>(
        &self,
        items: &[T],
        epoch_of: impl Fn(&T) -> Epoch,
    ) -> Option<usize> {
        let mut rest = &self.0[..];
        for (n, item) in items.iter().enumerate() {
            let e = epoch_of(item);
            debug_assert!(e.clock() != 0, "hb: a zero epoch in a sorted summary");
            // The next entry is the common case (clocks with the same slots).
            let found = match rest.first() {
                Some(r) if r.tid() == e.tid() => Ok(0),
                _ => find(rest, e.tid()),
            };
            match found {
                Ok(i) if e.clock() <= rest[i].clock() => rest = &rest[i + 1..],
                _ => return Some(n),
            }
        }
        None
    }

    /// The epoch `self[t]@t`.
    #[inline]
    pub fn epoch(&self, tid: Tid) -> Epoch {
        Epoch::new(tid, self.get(tid))
    }

    /// Number of stored entries: the slots whose entry is non-zero (the clock's memory
    /// footprint, not the highest slot it knows).
    #[inline]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` for the zero clock.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The non-zero entries, as `(slot, value)`, in increasing slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Tid, Time)> + '_ {
        self.0.iter().map(|e| (e.tid(), e.clock()))
    }

    fn is_canonical(&self) -> bool {
        self.0.iter().all(|e| e.clock() != 0) && self.0.windows(2).all(|w| w[0].tid() < w[1].tid())
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

/// `{slot: value, ...}` over the non-zero entries.
impl fmt::Debug for VClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|e| (e.tid().as_u32(), e.clock())))
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

    /// Every operation against a dense model, on pseudo-random sparse clocks of
    /// assorted lengths (inline and on the heap).
    #[test]
    fn operations_match_a_dense_model() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const SLOTS: usize = 40;
        let random = |next: &mut dyn FnMut() -> u64| {
            let density = next() % 4;
            let mut dense = [0 as Time; SLOTS];
            for v in dense.iter_mut() {
                if next() % 4 <= density {
                    *v = (next() % 4) as Time;
                }
            }
            dense
        };
        let to_clock = |d: &[Time; SLOTS]| vc(d);
        for _ in 0..3000 {
            let (da, db) = (random(&mut next), random(&mut next));
            let (a, b) = (to_clock(&da), to_clock(&db));
            assert_eq!(a.len(), da.iter().filter(|&&v| v != 0).count());
            for t in 0..SLOTS + 2 {
                let want = da.get(t).copied().unwrap_or(0);
                assert_eq!(a.get(Tid::new(t as u32)), want);
            }
            let le = da.iter().zip(&db).all(|(x, y)| x <= y);
            assert_eq!(a.le(&b), le, "{a:?} <= {b:?}");
            assert_eq!(a == b, da == db);
            let mut j = a.clone();
            j.join(&b);
            let mut dj = da;
            for (x, y) in dj.iter_mut().zip(&db) {
                *x = (*x).max(*y);
            }
            assert_eq!(j, to_clock(&dj), "{a:?} join {b:?}");
            assert!(j.is_canonical());
            assert!(a.le(&j) && b.le(&j));
            let t = Tid::new((next() % SLOTS as u64) as u32);
            let mut k = a.clone();
            let v = k.tick(t);
            assert_eq!(v, da[t.index()] + 1);
            assert_eq!(k.get(t), v);
            assert!(a < k);
        }
    }
}
