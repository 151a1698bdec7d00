//! Shadow memory: the [`Cell`] of every location the program touched, by address.
//!
//! # Granularity
//!
//! Locations are **bytes**: two accesses conflict only if their byte ranges overlap, so
//! neighbouring fields (`a: u32, b: u32`) written by different goroutines never race,
//! and a `u64` write overlapping a `u16` read at `addr + 6` does. Storage is per
//! 8-byte-aligned **word**: a [`WordCell`] holds one [`Cell`] for all eight bytes
//! (`Whole`) as long as every access covered the entire word, which is exact because
//! eight identical byte states receive identical updates. The first access that covers
//! part of a word splits it into eight byte cells (`Bytes`); a later whole-word write
//! that makes them identical again merges them back. So the common case (aligned
//! `u64`/pointer-sized accesses) costs one map lookup per access, and any range costs
//! one lookup per word it touches ([`Shadow::read_range`], [`Shadow::write_range`]).
//!
//! # Storage
//!
//! The map sits behind the small [`CellMap`] trait (update-or-insert, inspect, remove,
//! retain) so that the parallel scheduler can swap in a sharded concurrent map. The
//! default, [`TableCellMap`] (`table.rs`), is direct-mapped: a radix table over the
//! address bits, three dependent loads per lookup. [`HashCellMap`], a single-threaded
//! `HashMap` with a cheap multiplicative hash of the word address ([`WordHasher`]), is
//! the reference it is tested against (`tests/hb_differential.rs`).
//!
//! # Same-epoch check
//!
//! [`Shadow::same_epoch`] answers FastTrack's same-epoch rule for one word without
//! changing anything: the runtime asks it first for every instrumented access, and
//! only an access it does not cover pays for its site and the full rules.
//!
//! # Invariants
//!
//! - No stored [`WordCell`] is entirely empty after [`Shadow::reset`] (freed memory
//!   costs nothing).
//! - Every access goes through `ThreadState::publish` first, so that the goroutine's
//!   epoch stamped into a cell counts as published for slot reuse (`thread.rs`).

use super::access::{AccessKind, Cell, Conflict, Race};
use super::clock::Epoch;
pub use super::table::TableCellMap;
use super::thread::ThreadState;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Bytes per shadow word.
pub const WORD: u64 = 8;

/// Byte mask of a whole word.
const FULL: u8 = 0xFF;

/// The shadow of one 8-byte-aligned word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WordCell {
    /// All eight bytes have the same history.
    Whole(Cell),
    /// Byte `i` of the word is `cells[i]`.
    Bytes(Box<[Cell; 8]>),
}

impl Default for WordCell {
    fn default() -> Self {
        WordCell::Whole(Cell::new())
    }
}

impl WordCell {
    /// Applies an access to the bytes in `mask`; on a race, the index of the first
    /// racing byte and the conflict.
    #[inline]
    fn access(
        &mut self,
        mask: u8,
        kind: AccessKind,
        thread: &ThreadState,
        site: u32,
    ) -> Result<(), (u64, Conflict)> {
        if let WordCell::Whole(cell) = self {
            if mask == FULL {
                return cell.access(kind, thread, site).map_err(|c| (0, c));
            }
        }
        self.access_bytes(mask, kind, thread, site)
    }

    /// The per-byte path: splits a `Whole` word, merges it back after a whole-word
    /// write that leaves all bytes equal.
    #[inline(never)]
    fn access_bytes(
        &mut self,
        mask: u8,
        kind: AccessKind,
        thread: &ThreadState,
        site: u32,
    ) -> Result<(), (u64, Conflict)> {
        let cells = self.split();
        let mut result = Ok(());
        for (i, cell) in cells.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                if let Err(c) = cell.access(kind, thread, site) {
                    result = result.and(Err((i as u64, c)));
                }
            }
        }
        if mask == FULL && kind == AccessKind::Write && cells.iter().all(|c| *c == cells[0]) {
            *self = WordCell::Whole(std::mem::take(&mut cells[0]));
        }
        result
    }

    /// The eight byte cells, splitting a `Whole` word first.
    fn split(&mut self) -> &mut [Cell; 8] {
        if let WordCell::Whole(cell) = self {
            let cell = std::mem::take(cell);
            *self = WordCell::Bytes(Box::new(std::array::from_fn(|_| cell.clone())));
        }
        match self {
            WordCell::Bytes(cells) => cells,
            WordCell::Whole(_) => unreachable!("hb: word was just split"),
        }
    }

    /// Forgets the bytes in `mask`; `true` when nothing is left.
    fn reset(&mut self, mask: u8) -> bool {
        if mask == FULL || matches!(self, WordCell::Whole(c) if c.is_empty()) {
            return true;
        }
        let cells = self.split();
        for (i, cell) in cells.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *cell = Cell::new();
            }
        }
        cells.iter().all(Cell::is_empty)
    }

    /// Whether no byte of the word has history.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        match self {
            WordCell::Whole(cell) => cell.is_empty(),
            WordCell::Bytes(cells) => bytes_empty(cells),
        }
    }

    /// FastTrack's same-epoch check for the bytes in `mask`: whether each of them
    /// already records an access of `kind` at `epoch`, so that
    /// [`access`](Self::access) would change no verdict and find no race.
    #[inline(always)]
    fn same_epoch(&self, mask: u8, kind: AccessKind, epoch: Epoch) -> bool {
        match self {
            WordCell::Whole(cell) => cell.same_epoch(kind, epoch),
            WordCell::Bytes(cells) => bytes_same_epoch(cells, mask, kind, epoch),
        }
    }

    /// The cell of byte `index` (0..8) of this word.
    pub fn byte(&self, index: usize) -> &Cell {
        match self {
            WordCell::Whole(cell) => cell,
            WordCell::Bytes(cells) => &cells[index],
        }
    }
}

/// [`WordCell::is_empty`] of a split word (out of line).
#[inline(never)]
fn bytes_empty(cells: &[Cell; 8]) -> bool {
    cells.iter().all(Cell::is_empty)
}

/// [`WordCell::same_epoch`] of a split word (out of line: the inlined check stays
/// small).
#[inline(never)]
fn bytes_same_epoch(cells: &[Cell; 8], mask: u8, kind: AccessKind, epoch: Epoch) -> bool {
    cells
        .iter()
        .enumerate()
        .all(|(i, c)| mask & (1 << i) == 0 || c.same_epoch(kind, epoch))
}

/// Storage of word cells by word address (a multiple of [`WORD`]).
///
/// Kept minimal so a concurrent map (e.g. `dashmap`, whose entry guards give the
/// same closure-scoped access) can replace [`HashCellMap`].
pub trait CellMap: Default {
    /// Runs `f` on the cell of `word`, inserting an empty one first if needed.
    fn update<R>(&mut self, word: u64, f: impl FnOnce(&mut WordCell) -> R) -> R;
    /// Runs `f` on the cell of `word` if there is one.
    fn update_existing<R>(&mut self, word: u64, f: impl FnOnce(&mut WordCell) -> R) -> Option<R>;
    /// Runs `f` on the cell of `word` if there is one, without changing it (the
    /// same-epoch check of [`Shadow::same_epoch`]). A map may also run it on an empty
    /// cell ([`WordCell::is_empty`]) for a word without history.
    fn inspect<R>(&self, word: u64, f: impl FnOnce(&WordCell) -> R) -> Option<R>;
    /// Forgets `word`.
    fn remove(&mut self, word: u64);
    /// Keeps only the words for which `keep` is true.
    fn retain(&mut self, keep: impl FnMut(u64, &mut WordCell) -> bool);
    /// Number of stored words.
    fn len(&self) -> usize;
    /// Applies `reset` to every stored word from `first` to `last` (word addresses,
    /// inclusive), removing those for which it returns `true` (nothing left). The
    /// default walks the range word by word, or the whole map when that is shorter;
    /// a map that can skip absent parts of the range does better.
    fn reset_range(
        &mut self,
        first: u64,
        last: u64,
        mut reset: impl FnMut(u64, &mut WordCell) -> bool,
    ) {
        let words = (last - first) / WORD + 1;
        if words > self.len() as u64 {
            // A big free: walk the map rather than the range.
            self.retain(|word, cell| !(first..=last).contains(&word) || !reset(word, cell));
            return;
        }
        let mut word = first;
        loop {
            if self.update_existing(word, |cell| reset(word, cell)) == Some(true) {
                self.remove(word);
            }
            if word == last {
                return;
            }
            word += WORD;
        }
    }
    /// Whether no word is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Hash of a word address: multiply by a 64-bit odd constant (Fibonacci hashing),
/// fold the high half in. Word addresses are already unique integers; SipHash's
/// resistance to chosen keys buys nothing here.
#[derive(Clone, Copy, Debug, Default)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        let h = (n / WORD).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

/// A single-threaded [`CellMap`] over a `HashMap` (the reference the direct-mapped
/// [`TableCellMap`], the default, is tested against).
pub type HashCellMap = HashMap<u64, WordCell, BuildHasherDefault<WordHasher>>;

impl CellMap for HashCellMap {
    #[inline]
    fn update<R>(&mut self, word: u64, f: impl FnOnce(&mut WordCell) -> R) -> R {
        f(self.entry(word).or_default())
    }

    fn update_existing<R>(&mut self, word: u64, f: impl FnOnce(&mut WordCell) -> R) -> Option<R> {
        self.get_mut(&word).map(f)
    }

    #[inline]
    fn inspect<R>(&self, word: u64, f: impl FnOnce(&WordCell) -> R) -> Option<R> {
        self.get(&word).map(f)
    }

    fn remove(&mut self, word: u64) {
        HashMap::remove(self, &word);
    }

    fn retain(&mut self, mut keep: impl FnMut(u64, &mut WordCell) -> bool) {
        HashMap::retain(self, |&word, cell| keep(word, cell));
    }

    fn len(&self) -> usize {
        HashMap::len(self)
    }
}

/// Shadow memory: FastTrack cells for every byte accessed, stored per word.
#[derive(Debug, Default)]
pub struct Shadow<M: CellMap = TableCellMap> {
    map: M,
}

impl Shadow {
    /// Empty shadow memory over the direct-mapped [`TableCellMap`].
    pub fn new() -> Self {
        Self::default()
    }
}

impl<M: CellMap> Shadow<M> {
    /// Empty shadow memory over the given map.
    pub fn with_map(map: M) -> Self {
        Shadow { map }
    }

    /// FastTrack's same-epoch check alone, for an access of `kind` to `addr..addr +
    /// size` within one word at `epoch` (the accessing goroutine's current epoch):
    /// `true` when every byte already records that access, so that the access would
    /// change nothing and find no race and the caller may skip it (and computing its
    /// site). `false` is always a correct answer (an access crossing a word, a word
    /// with no history): the caller then makes the access.
    #[inline(always)]
    pub fn same_epoch(&self, addr: u64, size: u64, kind: AccessKind, epoch: Epoch) -> bool {
        let lo = addr % WORD;
        if size == 0 || lo + size > WORD {
            return false;
        }
        let mask = byte_mask(lo, lo + size - 1);
        self.map.inspect(
            addr - lo,
            #[inline(always)]
            move |cell| cell.same_epoch(mask, kind, epoch),
        ) == Some(true)
    }

    /// A read of `size` bytes at `addr` by `thread`, plain or atomic.
    #[inline]
    pub fn read(
        &mut self,
        thread: &mut ThreadState,
        addr: u64,
        size: u64,
        site: u32,
        atomic: bool,
    ) -> Result<(), Race> {
        self.access(thread, addr, size, site, AccessKind::new(false, atomic))
    }

    /// A write of `size` bytes at `addr` by `thread`, plain or atomic.
    #[inline]
    pub fn write(
        &mut self,
        thread: &mut ThreadState,
        addr: u64,
        size: u64,
        site: u32,
        atomic: bool,
    ) -> Result<(), Race> {
        self.access(thread, addr, size, site, AccessKind::new(true, atomic))
    }

    /// A plain read of the byte range `addr..addr + len` (`memcpy` source, slice
    /// compare): one lookup per word it touches; reports the first racing byte.
    pub fn read_range(
        &mut self,
        thread: &mut ThreadState,
        addr: u64,
        len: u64,
        site: u32,
    ) -> Result<(), Race> {
        self.access(thread, addr, len, site, AccessKind::Read)
    }

    /// A plain write of the byte range `addr..addr + len` (`memcpy` destination,
    /// `memset`).
    pub fn write_range(
        &mut self,
        thread: &mut ThreadState,
        addr: u64,
        len: u64,
        site: u32,
    ) -> Result<(), Race> {
        self.access(thread, addr, len, site, AccessKind::Write)
    }

    /// An access of `kind` to the bytes `addr..addr + len` (clamped at the top of the
    /// address space). Every byte is updated even after a race is found; the first
    /// racing byte's race is returned.
    pub fn access(
        &mut self,
        thread: &mut ThreadState,
        addr: u64,
        len: u64,
        site: u32,
        kind: AccessKind,
    ) -> Result<(), Race> {
        if len == 0 {
            return Ok(());
        }
        thread.publish();
        let thread = &*thread;
        let last = addr.saturating_add(len - 1);
        let mut result = Ok(());
        let mut word = addr & !(WORD - 1);
        loop {
            let lo = addr.saturating_sub(word);
            let hi = (last - word).min(WORD - 1);
            let mask = byte_mask(lo, hi);
            if let Err((byte, conflict)) = self
                .map
                .update(word, |cell| cell.access(mask, kind, thread, site))
            {
                if result.is_ok() {
                    result = Err(Race::new(word + byte, kind, conflict));
                }
            }
            if last - word < WORD {
                return result;
            }
            word += WORD;
        }
    }

    /// The bytes `addr..addr + len` were freed (or reallocated): forget their history.
    pub fn reset(&mut self, addr: u64, len: u64) {
        if len == 0 {
            return;
        }
        let last = addr.saturating_add(len - 1);
        let first_word = addr & !(WORD - 1);
        let last_word = last & !(WORD - 1);
        self.map
            .reset_range(first_word, last_word, |word, cell| -> bool {
                let lo = addr.saturating_sub(word);
                let hi = (last - word).min(WORD - 1);
                cell.reset(byte_mask(lo, hi))
            });
    }

    /// The shadow of the word containing `addr`, if any byte of it has history.
    pub fn word(&self, addr: u64) -> Option<WordCell>
    where
        M: CellMapGet,
    {
        self.map.get_word(addr & !(WORD - 1)).cloned()
    }

    /// Number of words with history.
    pub fn word_count(&self) -> usize {
        self.map.len()
    }
}

/// Read access to single words, for inspection (tests, reports); maps that cannot
/// hand out plain references need not implement it.
pub trait CellMapGet {
    /// The cell of `word`, if stored.
    fn get_word(&self, word: u64) -> Option<&WordCell>;
}

impl CellMapGet for HashCellMap {
    fn get_word(&self, word: u64) -> Option<&WordCell> {
        self.get(&word)
    }
}

/// Bits `lo..=hi` (`lo <= hi < 8`).
#[inline]
fn byte_mask(lo: u64, hi: u64) -> u8 {
    debug_assert!(lo <= hi && hi < WORD);
    (((1u16 << (hi + 1)) - 1) & !((1u16 << lo) - 1)) as u8
}

#[cfg(test)]
mod tests {
    use super::super::clock::Tid;
    use super::super::sync::SyncClock;
    use super::super::thread::Threads;
    use super::*;

    fn two_threads() -> (Threads, Tid, Tid) {
        let mut th = Threads::new();
        let a = th.create(None);
        let b = th.create(None);
        (th, a, b)
    }

    #[test]
    fn byte_masks() {
        assert_eq!(byte_mask(0, 7), 0xFF);
        assert_eq!(byte_mask(0, 0), 0x01);
        assert_eq!(byte_mask(7, 7), 0x80);
        assert_eq!(byte_mask(2, 5), 0b0011_1100);
    }

    #[test]
    fn neighbouring_fields_do_not_race_but_overlapping_ones_do() {
        let (mut th, a, b) = two_threads();
        let mut sh = Shadow::new();
        sh.write(th.get_mut(a), 0x1000, 4, 1, false).unwrap();
        sh.write(th.get_mut(b), 0x1004, 4, 2, false).unwrap();
        assert!(matches!(sh.word(0x1000), Some(WordCell::Bytes(_))));
        let race = sh.read(th.get_mut(b), 0x1002, 4, 3, false).unwrap_err();
        assert_eq!(race.addr, 0x1002);
        assert_eq!(
            (race.current, race.previous, race.previous_site),
            (AccessKind::Read, AccessKind::Write, 1)
        );
        assert_eq!(race.previous_epoch.tid(), a);
    }

    #[test]
    fn unaligned_range_crosses_words_and_reports_first_racing_byte() {
        let (mut th, a, b) = two_threads();
        let mut sh = Shadow::new();
        sh.write(th.get_mut(a), 0x2010, 8, 5, false).unwrap();
        sh.read_range(th.get_mut(b), 0x2006, 4, 6).unwrap(); // bytes 0x2006..0x200a: no overlap
        let race = sh.write_range(th.get_mut(b), 0x2004, 0x20, 7).unwrap_err();
        assert_eq!(race.addr, 0x2010);
        assert_eq!(race.previous_site, 5);
        assert_eq!(sh.word_count(), 5); // 0x2000..0x2028
    }

    #[test]
    fn whole_word_write_merges_split_bytes() {
        let (mut th, a, b) = two_threads();
        let mut sh = Shadow::new();
        sh.write(th.get_mut(a), 0x3000, 1, 1, false).unwrap();
        let mut m = SyncClock::new();
        m.release(th.get_mut(a));
        m.acquire(th.get_mut(b));
        sh.write(th.get_mut(b), 0x3000, 8, 2, false).unwrap();
        let Some(WordCell::Whole(cell)) = sh.word(0x3000) else {
            panic!("expected a merged word, got {:?}", sh.word(0x3000));
        };
        assert_eq!(cell.last_write().site, 2);
    }

    #[test]
    fn reset_forgets_exactly_the_freed_bytes() {
        let (mut th, a, b) = two_threads();
        let mut sh = Shadow::new();
        sh.write(th.get_mut(a), 0x4000, 16, 1, false).unwrap();
        sh.reset(0x4000, 12);
        assert_eq!(sh.word_count(), 1);
        sh.write(th.get_mut(b), 0x4000, 12, 2, false).unwrap();
        assert!(sh.write(th.get_mut(b), 0x400b, 2, 3, false).is_err());
        // A free larger than the map walks the map instead.
        sh.reset(0, u64::MAX);
        assert_eq!(sh.word_count(), 0);
        sh.write(th.get_mut(b), 0x4008, 8, 4, false).unwrap();
    }

    #[test]
    fn zero_length_and_top_of_address_space() {
        let (mut th, a, b) = two_threads();
        let mut sh = Shadow::new();
        sh.write(th.get_mut(a), 0x10, 0, 1, false).unwrap();
        assert_eq!(sh.word_count(), 0);
        sh.write(th.get_mut(a), u64::MAX - 3, 100, 1, false)
            .unwrap();
        let race = sh.read(th.get_mut(b), u64::MAX, 1, 2, true).unwrap_err();
        assert_eq!(
            (race.addr, race.current),
            (u64::MAX, AccessKind::AtomicRead)
        );
        sh.reset(u64::MAX - 7, 8);
        assert_eq!(sh.word_count(), 0);
    }
}
