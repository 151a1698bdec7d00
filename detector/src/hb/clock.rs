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
/// Two representations, chosen by the clock itself (callers never see which):
///
/// - **Sparse** (every clock starts so): the non-zero entries as epochs `value@slot`
///   sorted by slot (8 bytes each), so a clock costs memory for the goroutines it has
///   heard of, not for the highest slot it has heard of. A goroutine forked by a parent
///   that never learned about its siblings holds two entries however many siblings
///   run. Up to `INLINE` entries live inline, more on the heap. Lookups bisect
///   (branch-free); inserting a new slot shifts the entries above it.
/// - **Dense**: `values[t]` for every slot below the highest known one (4 bytes each,
///   0 = unknown), plus a count of the non-zero values. Lookups index and a join of a
///   small clock into it costs the small clock's length. This is the form of a *hub*
///   (a `WaitGroup`, a mutex or channel slot touched by many goroutines), where sorted
///   insertion of each newcomer would make `n` releases cost `O(n²)`.
///
/// **The switching rule**, with `n` the non-zero entries and `r` the highest known slot
/// plus one (sparse) or the dense vector's length (dense):
///
/// - a sparse clock becomes dense when an insertion leaves it with
///   `n >= DENSE_MIN_LEN` (32) and `r <= DENSE_ENTER_SLOTS * n` (`7n`): the dense
///   vector is then at most 3.5× the sparse one's bytes;
/// - a dense clock becomes sparse as soon as `r > DENSE_MAX_SLOTS * n` (`8n`, more than
///   4× the sparse bytes), which a far slot or cleared entries can cause.
///
/// So a dense clock is never more than 4× the size of its sparse form (both grow
/// their buffers by doubling), and a clock of a few entries is always sparse however
/// high its slots. The gap between 7 and 8 keeps a clock at the boundary from
/// converting back and forth on every operation: after turning sparse, a clock needs
/// about `n / 7` more entries to turn dense again, which pays for the `O(r)`
/// conversions. (A hub that 100 000 goroutines merge into in random order stays
/// sparse up to ~14 000 entries, bisecting and shifting with one `memmove` per
/// newcomer; measured, the 100 000 merges average ~100 ns each in a release build,
/// against 64 µs with the sorted form alone.)
///
/// Equality and `Hash` are semantic (the non-zero entries), whatever the
/// representations; the sparse form is canonical (strictly increasing slots, no zero
/// value; see the module invariants).
///
/// `PartialOrd` is happens-before: `a < b` iff `a` happens strictly before `b`;
/// `partial_cmp` is `None` for concurrent clocks.
pub struct VClock(Repr);

#[derive(Clone)]
enum Repr {
    Sparse(SmallVec<[Epoch; INLINE]>),
    Dense(Dense),
}

/// The dense form: entry `t` is `values[t]` (0 beyond the end). Invariants: `nonzero`
/// counts the non-zero values and `values.len() <= DENSE_MAX_SLOTS * nonzero`.
#[derive(Clone)]
struct Dense {
    values: Vec<Time>,
    nonzero: usize,
}

/// Entries a sparse [`VClock`] stores without allocating (three keep a clock in 40
/// bytes next to the representation tag).
const INLINE: usize = 3;

/// Fewest entries of a dense clock made from a sparse one.
const DENSE_MIN_LEN: usize = 32;
/// A sparse clock turns dense when its slot range is at most this many slots per
/// entry (dense ≤ 3.5× the sparse bytes: 4-byte values against 8-byte epochs).
const DENSE_ENTER_SLOTS: u64 = 7;
/// A dense clock turns sparse when its slot range exceeds this many slots per entry
/// (dense > 4× the sparse bytes).
const DENSE_MAX_SLOTS: u64 = 8;

const _: () = assert!(std::mem::size_of::<VClock>() <= 40);

/// [`sparse_join`] bisects for each of the other clock's entries when it has this
/// many times fewer entries than the clock joined into.
const SPARSE_JOIN_BISECT_RATIO: usize = 16;

/// Debug builds check every invariant of clocks up to this size after each mutation.
const DEBUG_CHECK_FULLY: usize = 256;

/// Whether a dense vector of `range` slots holding `len` non-zero entries may stay
/// dense.
#[inline]
fn dense_allowed(range: usize, len: usize) -> bool {
    range as u64 <= DENSE_MAX_SLOTS * len as u64
}

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

/// The slot range of sorted sparse `entries`: highest slot plus one, 0 when empty.
#[inline]
fn sparse_range(entries: &[Epoch]) -> usize {
    entries.last().map_or(0, |e| e.tid().index() + 1)
}

/// `mine ⊔= theirs` on sorted sparse entries.
///
/// A sorted merge in place: one pass raises the shared entries and counts the slots
/// only `theirs` has; if there are any, a second pass merges from the back into the
/// grown vector. No allocation unless the clock grows past its capacity. Returns
/// whether entries were inserted.
fn sparse_join(mine: &mut SmallVec<[Epoch; INLINE]>, theirs: &[Epoch]) -> bool {
    if theirs.is_empty() {
        return false;
    }
    if mine.is_empty() {
        mine.extend_from_slice(theirs);
        return true;
    }
    if theirs.len() * SPARSE_JOIN_BISECT_RATIO < mine.len() {
        // A few entries into a long clock: bisect for each (a merge walk would
        // compare against every entry of `mine`), and shift with one `memmove` per
        // inserted entry.
        let mut inserted = false;
        let mut from = 0;
        for &t in theirs {
            match find(&mine[from..], t.tid()) {
                Ok(i) => {
                    let m = &mut mine[from + i];
                    if t.clock() > m.clock() {
                        *m = t;
                    }
                    from += i + 1;
                }
                Err(i) => {
                    mine.insert(from + i, t);
                    inserted = true;
                    from += i + 1;
                }
            }
        }
        return inserted;
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

impl Dense {
    /// The dense form of sorted sparse `entries`, `range` slots long (at least their
    /// highest slot plus one).
    fn from_sparse(entries: &[Epoch], range: usize) -> Self {
        debug_assert!(range >= sparse_range(entries));
        let mut values = vec![0; range];
        for e in entries {
            values[e.tid().index()] = e.clock();
        }
        Dense {
            values,
            nonzero: entries.len(),
        }
    }

    /// The sparse form.
    fn to_sparse(&self) -> SmallVec<[Epoch; INLINE]> {
        let mut entries = SmallVec::with_capacity(self.nonzero);
        entries.extend(self.epochs());
        entries
    }

    /// The non-zero entries as epochs, in slot order.
    fn epochs(&self) -> impl Iterator<Item = Epoch> + '_ {
        self.values
            .iter()
            .enumerate()
            .filter(|&(_, &v)| v != 0)
            .map(|(t, &v)| Epoch::new(Tid::new(t as u32), v))
    }

    #[inline]
    fn get(&self, tid: Tid) -> Time {
        self.values.get(tid.index()).copied().unwrap_or(0)
    }

    /// Raises `values[t]` to `value` (`t` in range).
    #[inline]
    fn raise(&mut self, t: usize, value: Time) {
        let slot = &mut self.values[t];
        if value > *slot {
            self.nonzero += usize::from(*slot == 0);
            *slot = value;
        }
    }

    /// `self ⊔= other`. Always allowed to stay dense: both satisfy
    /// `len <= DENSE_MAX_SLOTS * nonzero`, and the join has at least each one's
    /// non-zero entries over the longer one's range.
    fn join_dense(&mut self, other: &Dense) {
        if other.values.len() > self.values.len() {
            self.values.resize(other.values.len(), 0);
        }
        let mut added = 0;
        for (a, &b) in self.values.iter_mut().zip(&other.values) {
            if b > *a {
                added += usize::from(*a == 0);
                *a = b;
            }
        }
        self.nonzero += added;
    }
}

impl VClock {
    /// The zero clock, in a `const` context (a `static` primitive's clock).
    pub const fn new_const() -> Self {
        VClock(Repr::Sparse(SmallVec::new_const()))
    }

    /// The zero clock (every entry 0).
    #[inline]
    pub fn new() -> Self {
        VClock(Repr::Sparse(SmallVec::new()))
    }

    /// Entry `t`; 0 when not stored.
    #[inline]
    pub fn get(&self, tid: Tid) -> Time {
        match &self.0 {
            Repr::Sparse(s) => match find(s, tid) {
                Ok(i) => s[i].clock(),
                Err(_) => 0,
            },
            Repr::Dense(d) => d.get(tid),
        }
    }

    /// Sets entry `t` to `value`.
    pub fn set(&mut self, tid: Tid, value: Time) {
        match &mut self.0 {
            Repr::Sparse(s) => match (find(s, tid), value) {
                (Ok(i), 0) => {
                    s.remove(i);
                }
                (Ok(i), _) => s[i] = Epoch::new(tid, value),
                (Err(_), 0) => {}
                (Err(i), _) => {
                    s.insert(i, Epoch::new(tid, value));
                    self.after_sparse_insert();
                }
            },
            Repr::Dense(d) => {
                let t = tid.index();
                if let Some(slot) = d.values.get_mut(t) {
                    let old = std::mem::replace(slot, value);
                    d.nonzero = d.nonzero + usize::from(value != 0) - usize::from(old != 0);
                    self.after_dense_change();
                } else if value != 0 {
                    self.insert_beyond_dense(tid, value);
                }
            }
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
        let slot = match &mut self.0 {
            Repr::Sparse(s) => match find(s, tid) {
                Ok(i) => {
                    let next = s[i].clock().checked_add(1);
                    let next = next.unwrap_or_else(|| tick_overflow(tid));
                    s[i] = Epoch::new(tid, next);
                    return next;
                }
                Err(i) => {
                    s.insert(i, Epoch::new(tid, 1));
                    self.after_sparse_insert();
                    return 1;
                }
            },
            Repr::Dense(d) => match d.values.get_mut(tid.index()) {
                Some(slot) => {
                    d.nonzero += usize::from(*slot == 0);
                    slot
                }
                None => {
                    self.insert_beyond_dense(tid, 1);
                    return 1;
                }
            },
        };
        *slot = slot.checked_add(1).unwrap_or_else(|| tick_overflow(tid));
        *slot
    }

    /// `self ⊔= other`: pointwise maximum. Costs `O(other's entries)` into a dense
    /// clock, a sorted merge between sparse ones.
    pub fn join(&mut self, other: &VClock) {
        match (&mut self.0, &other.0) {
            (Repr::Sparse(mine), Repr::Sparse(theirs)) => {
                if sparse_join(mine, theirs) {
                    self.after_sparse_insert();
                }
            }
            (Repr::Dense(mine), Repr::Sparse(theirs)) => {
                let range = sparse_range(theirs);
                if range > mine.values.len() {
                    if !dense_allowed(range, mine.nonzero + theirs.len()) {
                        // A far slot: this join makes the clock too spread out for
                        // the dense form.
                        let mut entries = mine.to_sparse();
                        sparse_join(&mut entries, theirs);
                        self.0 = Repr::Sparse(entries);
                        self.after_sparse_insert();
                        self.debug_check();
                        return;
                    }
                    mine.values.resize(range, 0);
                }
                for e in theirs {
                    mine.raise(e.tid().index(), e.clock());
                }
                self.after_dense_change();
            }
            (Repr::Dense(mine), Repr::Dense(theirs)) => mine.join_dense(theirs),
            (Repr::Sparse(mine), Repr::Dense(theirs)) => {
                // The result has at least `theirs.nonzero` entries over at least
                // `theirs`' range, so it is dense unless `mine` reaches far beyond.
                let range = sparse_range(mine).max(theirs.values.len());
                if dense_allowed(range, mine.len() + theirs.nonzero) {
                    let mut d = Dense::from_sparse(mine, range);
                    d.join_dense(theirs);
                    self.0 = Repr::Dense(d);
                    self.after_dense_change();
                } else {
                    let theirs: Vec<Epoch> = theirs.epochs().collect();
                    if sparse_join(mine, &theirs) {
                        self.after_sparse_insert();
                    }
                }
            }
        }
        self.debug_check();
    }

    /// `self ≤ other` pointwise: everything `self` knows, `other` knows; the point
    /// `self` describes happens before (or is) the point `other` describes.
    pub fn le(&self, other: &VClock) -> bool {
        // With more non-zero entries, `self` has a slot `other` lacks.
        if self.len() > other.len() {
            return false;
        }
        match (&self.0, &other.0) {
            (Repr::Sparse(mine), _) => other.first_uncovered(mine, |&e| e).is_none(),
            (Repr::Dense(mine), Repr::Dense(theirs)) => {
                let common = mine.values.len().min(theirs.values.len());
                let (head, tail) = mine.values.split_at(common);
                head.iter().zip(&theirs.values).all(|(a, b)| a <= b) && tail.iter().all(|&a| a == 0)
            }
            (Repr::Dense(mine), Repr::Sparse(_)) => {
                mine.epochs().all(|e| e.clock() <= other.get(e.tid()))
            }
        }
    }

    /// The index of the first of `items` whose epoch (`epoch_of`) this clock does not
    /// cover. `items` must be sorted by the epochs' slots, one item per slot (a clock's
    /// entries, a read vector). Sparse: one walk over both, bisecting ahead in `self`;
    /// dense: one lookup per item.
    pub(crate) fn first_uncovered<T>(
        &self,
        items: &[T],
        epoch_of: impl Fn(&T) -> Epoch,
    ) -> Option<usize> {
        let mut rest = match &self.0 {
            Repr::Sparse(s) => &s[..],
            Repr::Dense(d) => {
                return items.iter().position(|item| {
                    let e = epoch_of(item);
                    e.clock() > d.get(e.tid())
                })
            }
        };
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

    /// Number of non-zero entries (not the highest slot the clock knows).
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Sparse(s) => s.len(),
            Repr::Dense(d) => d.nonzero,
        }
    }

    /// `true` for the zero clock.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The non-zero entries, as `(slot, value)`, in increasing slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Tid, Time)> + '_ {
        self.epochs().map(|e| (e.tid(), e.clock()))
    }

    /// The non-zero entries as epochs, in slot order.
    fn epochs(&self) -> Epochs<'_> {
        match &self.0 {
            Repr::Sparse(s) => Epochs::Sparse(s.iter()),
            Repr::Dense(d) => Epochs::Dense(d.values.iter().enumerate()),
        }
    }

    /// A sparse clock just gained entries: turn dense if it is crowded enough (see the
    /// switching rule on [`VClock`]).
    #[inline]
    fn after_sparse_insert(&mut self) {
        if let Repr::Sparse(s) = &self.0 {
            if s.len() >= DENSE_MIN_LEN {
                let range = sparse_range(s);
                if range as u64 <= DENSE_ENTER_SLOTS * s.len() as u64 {
                    self.0 = Repr::Dense(Dense::from_sparse(s, range));
                }
            }
        }
    }

    /// A dense clock's count or range changed: turn sparse if it got too spread out.
    #[inline]
    fn after_dense_change(&mut self) {
        if let Repr::Dense(d) = &self.0 {
            if !dense_allowed(d.values.len(), d.nonzero) {
                self.0 = Repr::Sparse(d.to_sparse());
            }
        }
    }

    /// Sets entry `tid` (beyond the dense vector's end) to non-zero `value`: grows the
    /// vector, or turns sparse if that would make it too spread out.
    fn insert_beyond_dense(&mut self, tid: Tid, value: Time) {
        let Repr::Dense(d) = &mut self.0 else {
            unreachable!("hb: insert_beyond_dense on a sparse clock")
        };
        let range = tid.index() + 1;
        if dense_allowed(range, d.nonzero + 1) {
            d.values.resize(range, 0);
            d.values[tid.index()] = value;
            d.nonzero += 1;
        } else {
            let mut entries = d.to_sparse();
            entries.push(Epoch::new(tid, value));
            self.0 = Repr::Sparse(entries);
        }
    }

    /// Checks the representation invariants (debug builds): fully for small clocks,
    /// in `O(1)` for large ones (a full walk per operation would make a hub's `n`
    /// operations quadratic in debug builds; the tests check large clocks fully).
    #[inline]
    fn debug_check(&self) {
        if cfg!(debug_assertions) {
            let ok = match &self.0 {
                Repr::Sparse(s) if s.len() > DEBUG_CHECK_FULLY => true,
                Repr::Dense(d) if d.values.len() > DEBUG_CHECK_FULLY => {
                    d.nonzero <= d.values.len() && dense_allowed(d.values.len(), d.nonzero)
                }
                _ => self.invariants_hold(),
            };
            assert!(ok, "hb: a malformed clock: {self:?}");
        }
    }

    fn invariants_hold(&self) -> bool {
        match &self.0 {
            Repr::Sparse(s) => {
                s.iter().all(|e| e.clock() != 0) && s.windows(2).all(|w| w[0].tid() < w[1].tid())
            }
            Repr::Dense(d) => {
                d.nonzero == d.values.iter().filter(|&&v| v != 0).count()
                    && dense_allowed(d.values.len(), d.nonzero)
            }
        }
    }

    /// Whether the dense form is in use (tests of the switching rule).
    #[cfg(test)]
    pub(crate) fn is_dense(&self) -> bool {
        matches!(self.0, Repr::Dense(_))
    }
}

/// The non-zero entries of a clock, in slot order.
enum Epochs<'a> {
    Sparse(std::slice::Iter<'a, Epoch>),
    Dense(std::iter::Enumerate<std::slice::Iter<'a, Time>>),
}

impl Iterator for Epochs<'_> {
    type Item = Epoch;

    #[inline]
    fn next(&mut self) -> Option<Epoch> {
        match self {
            Epochs::Sparse(it) => it.next().copied(),
            Epochs::Dense(it) => it
                .find(|&(_, &v)| v != 0)
                .map(|(t, &v)| Epoch::new(Tid::new(t as u32), v)),
        }
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
        VClock(self.0.clone())
    }

    /// Reuses `self`'s allocation when both have the same representation (a release
    /// into a sync object copies a whole clock).
    fn clone_from(&mut self, source: &Self) {
        match (&mut self.0, &source.0) {
            (Repr::Sparse(a), Repr::Sparse(b)) => a.clone_from(b),
            (Repr::Dense(a), Repr::Dense(b)) => {
                a.values.clone_from(&b.values);
                a.nonzero = b.nonzero;
            }
            (a, b) => *a = b.clone(),
        }
    }
}

/// Semantic: the same non-zero entries, whatever the representations.
impl PartialEq for VClock {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Sparse(a), Repr::Sparse(b)) => a[..] == b[..],
            (Repr::Dense(a), Repr::Dense(b)) => {
                let common = a.values.len().min(b.values.len());
                a.nonzero == b.nonzero && a.values[..common] == b.values[..common]
            }
            _ => self.len() == other.len() && self.epochs().eq(other.epochs()),
        }
    }
}

impl Eq for VClock {}

/// Semantic, like `==`: hashes the non-zero entries in slot order.
impl Hash for VClock {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for e in self.epochs() {
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
            seen[usize::from(a.is_dense())][usize::from(b.is_dense())] += 1;
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
    /// with the representation switches counted both ways.
    #[test]
    fn mutation_sequences_match_a_model_across_transitions() {
        let mut next = rng(0xD1B5_4A32_D192_ED03);
        let mut clocks: Vec<(VClock, Model)> =
            (0..4).map(|_| (VClock::new(), Model::new())).collect();
        let (mut to_dense, mut to_sparse) = (0, 0);
        let steps = if cfg!(miri) { 100 } else { 40_000 }; // Miri runs ~10⁴x slower
        for step in 0..steps {
            let i = (next() % 4) as usize;
            let before = clocks[i].0.is_dense();
            match next() % 16 {
                0..=5 => {
                    let t = random_slot(&mut next);
                    let (c, m) = &mut clocks[i];
                    *m.entry(t).or_insert(0) += 1;
                    assert_eq!(c.tick(Tid::new(t)), m[&t]);
                }
                6..=9 => {
                    let t = random_slot(&mut next);
                    // Clears often enough to thin dense clocks out.
                    let v = (next() % 3) as Time;
                    let (c, m) = &mut clocks[i];
                    c.set(Tid::new(t), v);
                    if v == 0 {
                        m.remove(&t);
                    } else {
                        m.insert(t, v);
                    }
                }
                10..=13 => {
                    let j = (next() % 4) as usize;
                    let (other, mo) = clocks[j].clone();
                    let (c, m) = &mut clocks[i];
                    c.join(&other);
                    model_join(m, &mo);
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
            match (before, c.is_dense()) {
                (false, true) => to_dense += 1,
                (true, false) => to_sparse += 1,
                _ => {}
            }
            if step % 16 == 0 {
                for (a, ma) in &clocks {
                    for (b, mb) in &clocks {
                        assert_eq!(a.le(b), model_le(ma, mb));
                        assert_eq!(a == b, ma == mb);
                    }
                }
            }
        }
        assert!(
            to_dense > steps / 400 && to_sparse > steps / 400,
            "{to_dense} / {to_sparse}"
        );
    }

    #[test]
    fn crowded_clocks_turn_dense_and_spread_out_ones_stay_sparse() {
        // 31 neighbouring entries: sparse; the 32nd makes it dense.
        let mut c: VClock = (0..31).map(|t| (Tid::new(t), 1)).collect();
        assert!(!c.is_dense());
        c.tick(Tid::new(40));
        assert!(c.is_dense());
        assert_eq!(c.len(), 32);
        // Entries 10 slots apart: dense would be 5× the sparse bytes.
        let n = if cfg!(miri) { 100 } else { 1000 }; // Miri runs ~10⁴x slower
        let spread = sparse(&(0..n).map(|i| (10 * i, 1)).collect::<Vec<_>>());
        assert!(!spread.is_dense());
        // A far slot turns a dense clock sparse; its removal and one more entry turn
        // it dense again.
        c.set(Tid::new(1_000_000), 5);
        assert!(!c.is_dense());
        assert_eq!(c.len(), 33);
        assert_eq!(c.get(Tid::new(1_000_000)), 5);
        c.set(Tid::new(1_000_000), 0);
        c.set(Tid::new(41), 1);
        assert!(c.is_dense());
        // Clearing most entries turns it sparse.
        for t in 0..31 {
            c.set(Tid::new(t), 0);
        }
        assert!(!c.is_dense());
        assert_eq!(c, sparse(&[(40, 1), (41, 1)]));
    }

    #[test]
    fn equality_hash_and_order_ignore_the_representation() {
        let entries: Vec<(u32, Time)> = (0..40).map(|t| (t, t + 1)).collect();
        let mut dense = sparse(&entries);
        for t in 30..40 {
            dense.set(Tid::new(t), 0);
        }
        assert!(dense.is_dense(), "30 entries over 40 slots stay dense");
        let small = sparse(&entries[..30]);
        assert!(!small.is_dense());
        assert_eq!(dense, small);
        assert_eq!(small, dense);
        assert_eq!(hash_of(&dense), hash_of(&small));
        assert_eq!(format!("{dense:?}"), format!("{small:?}"));
        assert!(dense.le(&small) && small.le(&dense));
        let mut bigger = small.clone();
        bigger.tick(Tid::new(3));
        assert!(dense < bigger);
        assert_eq!(bigger.partial_cmp(&dense), Some(Ordering::Greater));
        // A dense clock with trailing zeros equals a shorter dense clock.
        let mut shorter = sparse(&entries[..35]);
        for t in 30..35 {
            shorter.set(Tid::new(t), 0);
        }
        assert!(shorter.is_dense());
        assert_eq!(shorter, dense);
        assert_eq!(hash_of(&shorter), hash_of(&dense));
    }

    #[test]
    fn clone_from_switches_representation() {
        let dense = sparse(&(0..40).map(|t| (t, 2)).collect::<Vec<_>>());
        assert!(dense.is_dense());
        let mut c = sparse(&[(3, 1)]);
        c.clone_from(&dense);
        assert_eq!(c, dense);
        assert!(c.is_dense());
        c.clone_from(&sparse(&[(7, 7)]));
        assert_eq!(c, sparse(&[(7, 7)]));
        let mut d = dense.clone();
        d.clone_from(&dense);
        assert_eq!(d, dense);
    }
}
