//! FastTrack's per-location state and its read/write rules, extended to atomics.
//!
//! Flanagan & Freund, *FastTrack: Efficient and Precise Dynamic Race Detection*,
//! PLDI 2009, Fig. 2 and §3. A [`Cell`] is the shadow of one memory location (one
//! byte; `shadow.rs` shares a cell among the bytes of a word while they agree). It
//! records:
//!
//! - `write`: the last plain write, as an epoch `W` (plus its site);
//! - `reads`: the plain reads since that write, as one epoch `R` while they are
//!   totally ordered (*read-exclusive*) or as a read vector once two of them were
//!   concurrent (*read-shared*): the latest access of each slot that read, sorted by
//!   slot, so its size is the number of readers, not the highest reader's slot;
//! - `atomics` (boxed, `None` until the first atomic access after the last plain
//!   write): the same two summaries for atomic reads and atomic writes since `W`.
//!
//! Every recorded access keeps the opaque `site` the runtime passed with it, so a
//! report always finds the previous access's stack.
//!
//! # Rules
//!
//! Two accesses race when they touch the same location, at least one writes, they are
//! not both atomic, and neither happens before the other. For an access at epoch `E`
//! by a goroutine with clock `C`, "`X` ok" below means every access summarized in `X`
//! is covered by `C`; the first one that is not is returned as the race:
//!
//! | access       | fast path (no check)          | must be ordered after   | then record        |
//! |--------------|-------------------------------|-------------------------|--------------------|
//! | read         | `reads` holds `E`             | `W`, atomic writes      | `E` into `reads`   |
//! | atomic read  | atomic reads hold `E`         | `W`                     | `E` into atomic reads |
//! | write        | `W == E`                      | `W`, atomic writes, reads, atomic reads | `W := E`; drop all reads and atomics |
//! | atomic write | atomic writes hold `E`        | `W`, reads              | `E` into atomic writes |
//!
//! "Record `E` into a summary" is FastTrack's read rule: if the summary is one epoch
//! covered by `C` (*read exclusive*), `E` replaces it; if not (*read share*), the
//! summary becomes a vector holding both; a vector just sets entry `t`.
//!
//! # Invariants (exactness)
//!
//! While no race has been reported on a location, its cell answers exactly like the
//! full access history would (checked by `tests/hb_differential.rs`):
//!
//! - a plain write is ordered after every earlier access, so `W` stands for the whole
//!   history before it, and after a write the summaries restart empty (FastTrack's
//!   *write shared* discards the read vector);
//! - within one summary the accesses of one slot are a happens-before chain (program
//!   order, and across slot reuse by `thread.rs`'s rule), so the latest per slot
//!   stands for the others; a single epoch replaces another only when it is ordered
//!   after it;
//! - a fast path is taken only when the goroutine has not released since it made the
//!   same kind of access at the same epoch: any conflicting access in between was
//!   either a reported race or ordered after that epoch, which needs a release.
//!
//! After a race is reported the access is still recorded, so detection goes on, but
//! the cell is then only as precise as FastTrack's (it reports the first race of a
//! location exactly).

use super::clock::Epoch;
use super::thread::ThreadState;
pub use crate::AccessKind;
use smallvec::SmallVec;

/// A data race found by an access: the current access (made by the caller, who knows
/// who and where) against one earlier access it is not ordered with.
///
/// Small and `Copy`: the hot path returns it by value; the runtime turns it into a
/// report (stacks from `previous_site` and its own record of the current access) off
/// the hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Race {
    /// The first racing byte of the current access.
    pub addr: u64,
    /// The current access.
    pub current: AccessKind,
    /// The earlier access.
    pub previous: AccessKind,
    /// Slot and clock of the earlier access. The slot may have been reused since; the
    /// site tells the runtime which goroutine made it.
    pub previous_epoch: Epoch,
    /// The opaque site the runtime passed with the earlier access.
    pub previous_site: u32,
}

const _: () = assert!(std::mem::size_of::<Race>() <= 24);

impl Race {
    /// The race an access of `current` kind at `addr` makes with `conflict` (built on
    /// the cold path only: races are rare, and keeping this out of line keeps the
    /// access paths small).
    #[cold]
    #[inline(never)]
    pub fn new(addr: u64, current: AccessKind, conflict: Conflict) -> Race {
        Race {
            addr,
            current,
            previous: conflict.previous,
            previous_epoch: conflict.access.epoch,
            previous_site: conflict.access.site,
        }
    }
}

/// One recorded access: when (epoch) and where (site). [`Access::NONE`] is "nothing".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub epoch: Epoch,
    pub site: u32,
}

impl Access {
    /// No access: covered by every clock.
    pub const NONE: Access = Access {
        epoch: Epoch::NONE,
        site: 0,
    };
}

impl Default for Access {
    fn default() -> Self {
        Access::NONE
    }
}

/// The earlier access of a race, as a [`Cell`] reports it; `shadow.rs` adds the
/// address and the current kind to make a [`Race`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub previous: AccessKind,
    pub access: Access,
}

/// A summary of same-kind accesses since the last plain write: one epoch while they
/// are ordered, a per-slot vector once two were concurrent.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AccessSet {
    /// Read-exclusive: one access, after all others of the summary.
    One(Access),
    /// Read-shared: the latest access of each slot.
    Many(Box<AccessVec>),
}

impl Default for AccessSet {
    fn default() -> Self {
        AccessSet::One(Access::NONE)
    }
}

/// Read-shared summary: the latest access of each slot that made one, sorted by slot,
/// one per slot, none with a zero epoch. Sparse: a location read by slots 3 and 99 999
/// holds two entries.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AccessVec {
    entries: SmallVec<[Access; 4]>,
}

impl AccessVec {
    /// Where `epoch`'s slot is: `Ok(i)` when it has an entry, `Err(i)` for where its
    /// entry would go.
    #[inline]
    fn find(&self, epoch: Epoch) -> Result<usize, usize> {
        let tid = epoch.tid();
        self.entries.binary_search_by(|a| a.epoch.tid().cmp(&tid))
    }

    /// Whether `epoch` is its slot's latest entry (out of line: the inlined
    /// same-epoch check stays small).
    #[inline(never)]
    fn holds(&self, epoch: Epoch) -> bool {
        self.find(epoch)
            .is_ok_and(|i| self.entries[i].epoch == epoch)
    }

    /// Records `access` as its slot's latest.
    fn set(&mut self, access: Access) {
        debug_assert!(!access.epoch.is_none());
        match self.find(access.epoch) {
            Ok(i) => self.entries[i] = access,
            Err(i) => self.entries.insert(i, access),
        }
    }
}

impl AccessSet {
    /// Whether `epoch` is already recorded (the same-epoch fast path).
    #[inline(always)]
    fn holds(&self, epoch: Epoch) -> bool {
        match self {
            AccessSet::One(a) => a.epoch == epoch,
            AccessSet::Many(v) => v.holds(epoch),
        }
    }

    /// The first recorded access (in slot order) not covered by `thread`'s clock.
    #[inline]
    fn first_unordered(&self, thread: &ThreadState) -> Option<Access> {
        match self {
            AccessSet::One(a) if thread.covers(a.epoch) => None,
            AccessSet::One(a) => Some(*a),
            AccessSet::Many(v) => thread
                .clock()
                .first_uncovered(&v.entries, |a| a.epoch)
                .map(|i| v.entries[i]),
        }
    }

    /// Records `access`, made by `thread`.
    fn add(&mut self, access: Access, thread: &ThreadState) {
        match self {
            // Read exclusive: the previous access happens before this one.
            AccessSet::One(prev) if thread.covers(prev.epoch) => *prev = access,
            // Read share: concurrent with the previous one; keep both.
            AccessSet::One(prev) => {
                let mut v = AccessVec {
                    entries: SmallVec::new(),
                };
                v.set(*prev);
                v.set(access);
                *self = AccessSet::Many(Box::new(v));
            }
            AccessSet::Many(v) => v.set(access),
        }
    }

    #[inline(always)]
    fn is_empty(&self) -> bool {
        matches!(self, AccessSet::One(a) if a.epoch.is_none())
    }
}

/// Atomic accesses since the last plain write (rare: boxed out of [`Cell`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Atomics {
    reads: AccessSet,
    writes: AccessSet,
}

/// The shadow state of one location (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    write: Access,
    reads: AccessSet,
    atomics: Option<Box<Atomics>>,
}

const _: () = assert!(std::mem::size_of::<Cell>() <= 48);

impl Cell {
    /// A location nobody accessed (or freed memory).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing is recorded.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.write.epoch.is_none() && self.reads.is_empty() && self.atomics.is_none()
    }

    /// FastTrack's same-epoch check alone: whether an access of `kind` at `epoch` is
    /// already recorded, so that [`access`](Self::access) would change nothing and
    /// find no race. Lets a caller skip computing the access's site.
    #[inline(always)]
    pub fn same_epoch(&self, kind: AccessKind, epoch: Epoch) -> bool {
        match kind {
            AccessKind::Read => self.reads.holds(epoch),
            AccessKind::Write => self.write.epoch == epoch,
            AccessKind::AtomicRead => self.atomics.as_ref().is_some_and(|a| a.reads.holds(epoch)),
            AccessKind::AtomicWrite => self.atomics.as_ref().is_some_and(|a| a.writes.holds(epoch)),
        }
    }

    /// The last plain write ([`Access::NONE`] if none since the cell was reset).
    pub fn last_write(&self) -> Access {
        self.write
    }

    /// Applies an access of `kind` by `thread`, labelled `site`.
    #[inline]
    pub fn access(
        &mut self,
        kind: AccessKind,
        thread: &ThreadState,
        site: u32,
    ) -> Result<(), Conflict> {
        match kind {
            AccessKind::Read => self.read(thread, site),
            AccessKind::Write => self.write(thread, site),
            AccessKind::AtomicRead => self.atomic_read(thread, site),
            AccessKind::AtomicWrite => self.atomic_write(thread, site),
        }
    }

    /// A plain read.
    #[inline]
    pub fn read(&mut self, thread: &ThreadState, site: u32) -> Result<(), Conflict> {
        let epoch = thread.epoch();
        if self.reads.holds(epoch) {
            return Ok(()); // [Read Same Epoch], [Read Shared Same Epoch]
        }
        let result = self.check_write(thread).and_then(|()| match &self.atomics {
            Some(at) => check(&at.writes, thread, AccessKind::AtomicWrite),
            None => Ok(()),
        });
        self.reads.add(Access { epoch, site }, thread);
        result
    }

    /// An atomic read.
    #[inline]
    pub fn atomic_read(&mut self, thread: &ThreadState, site: u32) -> Result<(), Conflict> {
        let epoch = thread.epoch();
        if self
            .atomics
            .as_ref()
            .is_some_and(|at| at.reads.holds(epoch))
        {
            return Ok(());
        }
        let result = self.check_write(thread);
        self.atomics_mut().reads.add(Access { epoch, site }, thread);
        result
    }

    /// A plain write.
    #[inline]
    pub fn write(&mut self, thread: &ThreadState, site: u32) -> Result<(), Conflict> {
        let epoch = thread.epoch();
        if self.write.epoch == epoch {
            return Ok(()); // [Write Same Epoch]
        }
        let result = self
            .check_write(thread)
            .and_then(|()| match &self.atomics {
                Some(at) => check(&at.writes, thread, AccessKind::AtomicWrite),
                None => Ok(()),
            })
            .and_then(|()| check(&self.reads, thread, AccessKind::Read))
            .and_then(|()| match &self.atomics {
                Some(at) => check(&at.reads, thread, AccessKind::AtomicRead),
                None => Ok(()),
            });
        // [Write Exclusive] / [Write Shared]: the write stands for all that came before.
        self.write = Access { epoch, site };
        self.reads = AccessSet::default();
        self.atomics = None;
        result
    }

    /// An atomic write.
    #[inline]
    pub fn atomic_write(&mut self, thread: &ThreadState, site: u32) -> Result<(), Conflict> {
        let epoch = thread.epoch();
        if self
            .atomics
            .as_ref()
            .is_some_and(|at| at.writes.holds(epoch))
        {
            return Ok(());
        }
        let result = self
            .check_write(thread)
            .and_then(|()| check(&self.reads, thread, AccessKind::Read));
        self.atomics_mut()
            .writes
            .add(Access { epoch, site }, thread);
        result
    }

    #[inline]
    fn check_write(&self, thread: &ThreadState) -> Result<(), Conflict> {
        if thread.covers(self.write.epoch) {
            Ok(())
        } else {
            Err(Conflict {
                previous: AccessKind::Write,
                access: self.write,
            })
        }
    }

    fn atomics_mut(&mut self) -> &mut Atomics {
        self.atomics.get_or_insert_with(Box::default)
    }
}

#[inline]
fn check(set: &AccessSet, thread: &ThreadState, previous: AccessKind) -> Result<(), Conflict> {
    match set.first_unordered(thread) {
        None => Ok(()),
        Some(access) => Err(Conflict { previous, access }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::Tid;
    use super::super::sync::SyncClock;
    use super::super::thread::Threads;
    use super::*;
    use AccessKind::{AtomicRead, AtomicWrite, Read, Write};

    /// Three unsynchronized goroutines and a cell.
    fn setup() -> (Threads, [Tid; 3], Cell) {
        let mut th = Threads::new();
        let ids = [th.create(None), th.create(None), th.create(None)];
        (th, ids, Cell::new())
    }

    /// `from` releases into a fresh object and `to` acquires it.
    fn sync(th: &mut Threads, from: Tid, to: Tid) {
        let mut s = SyncClock::new();
        s.release(th.get_mut(from));
        s.acquire(th.get_mut(to));
    }

    fn prev(res: Result<(), Conflict>) -> Option<(AccessKind, u32)> {
        res.err().map(|c| (c.previous, c.access.site))
    }

    #[test]
    fn kinds_conflict_like_go() {
        assert!(Write.conflicts_with(Read) && Read.conflicts_with(Write));
        assert!(!Read.conflicts_with(Read) && !Read.conflicts_with(AtomicRead));
        assert!(!AtomicWrite.conflicts_with(AtomicWrite));
        assert!(AtomicWrite.conflicts_with(Read) && Write.conflicts_with(AtomicRead));
        assert_eq!(AccessKind::new(true, true), AtomicWrite);
    }

    #[test]
    fn write_read_race_keeps_the_write_site() {
        let (th, [a, b, _], mut cell) = setup();
        assert_eq!(cell.write(th.get(a), 10), Ok(()));
        assert_eq!(prev(cell.read(th.get(b), 11)), Some((Write, 10)));
        let race = cell.read(th.get(b), 12); // same epoch: fast path, already reported
        assert_eq!(race, Ok(()));
    }

    #[test]
    fn ordered_write_then_read_is_fine_and_same_epoch_is_a_fast_path() {
        let (mut th, [a, b, _], mut cell) = setup();
        cell.write(th.get(a), 1).unwrap();
        cell.write(th.get(a), 2).unwrap(); // [Write Same Epoch]: site stays
        assert_eq!(cell.last_write().site, 1);
        sync(&mut th, a, b);
        cell.read(th.get(b), 3).unwrap();
        cell.read(th.get(b), 4).unwrap();
        assert!(!cell.is_empty());
    }

    #[test]
    fn read_exclusive_then_read_shared_then_write_race() {
        let (mut th, [a, b, c], mut cell) = setup();
        cell.read(th.get(a), 1).unwrap();
        sync(&mut th, a, b);
        cell.read(th.get(b), 2).unwrap(); // read exclusive: replaces a's read
        assert!(matches!(cell.reads, AccessSet::One(x) if x.site == 2));
        cell.read(th.get(c), 3).unwrap(); // concurrent with b's: read shared
        assert!(matches!(cell.reads, AccessSet::Many(_)));
        // b's own read is covered by its clock; c's concurrent read is not.
        assert_eq!(prev(cell.write(th.get(b), 4)), Some((Read, 3)));
        // The write discarded the read vector.
        assert!(matches!(cell.reads, AccessSet::One(x) if x.epoch.is_none()));
    }

    #[test]
    fn write_after_all_shared_reads_is_ordered() {
        let (mut th, [a, b, c], mut cell) = setup();
        cell.read(th.get(a), 1).unwrap();
        cell.read(th.get(b), 2).unwrap();
        sync(&mut th, a, c);
        assert_eq!(prev(cell.write(th.get(c), 3)), Some((Read, 2)));
        let mut cell = Cell::new();
        cell.read(th.get(a), 1).unwrap();
        cell.read(th.get(b), 2).unwrap();
        sync(&mut th, b, c);
        sync(&mut th, a, c);
        assert_eq!(cell.write(th.get(c), 3), Ok(()));
    }

    #[test]
    fn write_write_race() {
        let (th, [a, b, _], mut cell) = setup();
        cell.write(th.get(a), 7).unwrap();
        let conflict = cell.write(th.get(b), 8).unwrap_err();
        assert_eq!(conflict.previous, Write);
        assert_eq!(conflict.access.epoch, th.get(a).epoch());
        assert_eq!(cell.last_write().site, 8);
    }

    #[test]
    fn atomics_do_not_race_with_each_other() {
        let (th, [a, b, c], mut cell) = setup();
        cell.atomic_write(th.get(a), 1).unwrap();
        cell.atomic_write(th.get(b), 2).unwrap();
        cell.atomic_read(th.get(c), 3).unwrap();
        cell.atomic_read(th.get(a), 4).unwrap();
    }

    #[test]
    fn plain_read_races_with_any_concurrent_atomic_write() {
        let (mut th, [a, b, c], mut cell) = setup();
        cell.atomic_write(th.get(a), 1).unwrap();
        cell.atomic_write(th.get(b), 2).unwrap();
        sync(&mut th, b, c);
        // c is after b's atomic write but not a's: the older one still races.
        assert_eq!(prev(cell.read(th.get(c), 3)), Some((AtomicWrite, 1)));
    }

    #[test]
    fn atomic_access_races_with_plain_access() {
        let (th, [a, b, c], mut cell) = setup();
        cell.write(th.get(a), 1).unwrap();
        assert_eq!(prev(cell.atomic_read(th.get(b), 2)), Some((Write, 1)));

        let mut cell = Cell::new();
        cell.read(th.get(a), 1).unwrap();
        cell.atomic_read(th.get(b), 2).unwrap(); // two reads never race
        assert_eq!(prev(cell.atomic_write(th.get(c), 3)), Some((Read, 1)));

        let mut cell = Cell::new();
        cell.atomic_read(th.get(a), 1).unwrap();
        assert_eq!(prev(cell.write(th.get(b), 2)), Some((AtomicRead, 1)));
    }

    #[test]
    fn plain_write_resets_atomic_history() {
        let (mut th, [a, b, _], mut cell) = setup();
        cell.atomic_write(th.get(a), 1).unwrap();
        sync(&mut th, a, b);
        cell.write(th.get(b), 2).unwrap();
        assert!(cell.atomics.is_none());
        cell.read(th.get(b), 3).unwrap();
    }

    /// The read vector is sparse: a location read concurrently by the first and the
    /// 100 000th goroutine holds two entries, not one per slot in between.
    #[test]
    fn read_shared_vector_holds_one_entry_per_reader() {
        let mut th = Threads::new();
        let main = th.create(None);
        let first = th.create(Some(main));
        let mut last = first;
        // A high slot (far fewer under Miri, which runs ~10⁴x slower).
        for _ in 0..if cfg!(miri) { 200 } else { 100_000 } {
            last = th.create(Some(main));
        }
        let mut cell = Cell::new();
        cell.read(th.get(last), 1).unwrap();
        cell.read(th.get(first), 2).unwrap();
        cell.read(th.get(last), 3).unwrap(); // same epoch: fast path
        let AccessSet::Many(v) = &cell.reads else {
            panic!("two concurrent reads should be read-shared");
        };
        assert_eq!(v.entries.len(), 2);
        assert_eq!(v.entries[0].epoch.tid(), first);
        assert_eq!(v.entries[1].epoch.tid(), last);
        // A write by main races with the reads, reported in slot order.
        assert_eq!(prev(cell.write(th.get(main), 4)), Some((Read, 2)));
    }
}
