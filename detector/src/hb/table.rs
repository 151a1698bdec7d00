//! Direct-mapped shadow storage: the default [`CellMap`] of [`Shadow`](super::Shadow),
//! a radix table indexed by the bits of the word address (the layout of a page
//! table, lazily filled).
//!
//! # Layout
//!
//! An address below 2⁴⁸ (every user-space address of x86-64 and AArch64 Linux with
//! 4-level paging) is split into `12 | 12 | 12 | 9 | 3` bits: a top directory, a middle
//! directory, a leaf directory, the word in a 4 KiB *leaf* (512 [`WordCell`]s) and the
//! byte in the word. Finding a word's cell is three dependent loads and three null
//! checks, whatever the run did before — no hashing, no probing, no resizing, unlike
//! the global hash map ([`HashCellMap`]) it replaces on the hot path. Addresses at or
//! above 2⁴⁸ (never produced by a real allocation, but accepted by the API) go to a
//! [`HashCellMap`] on the side.
//!
//! # Memory
//!
//! Directories and leaves are allocated when a word under them is first written.
//! Each leaf counts its non-empty cells and is freed when the count drops to zero
//! (freed memory: [`CellMap::reset_range`], which visits only the leaves that exist in
//! the freed range; [`CellMap::remove`], [`CellMap::retain`]), so leaf memory is bounded
//! by 6× the 4 KiB pages holding live history (a [`WordCell`] is 48 bytes for 8 bytes
//! of program memory); directories (64 KiB per 16 MiB of address space touched, 32 KiB
//! per 64 GiB) live until the table is dropped with its run. No `unsafe`: nodes are
//! boxed slices indexed with masked indices.
//!
//! # Invariants
//!
//! - A leaf's `live` is the number of its cells that are not empty
//!   ([`WordCell::is_empty`]); a leaf with `live == 0` is not stored.
//! - [`CellMap::len`] is the sum of the leaves' `live` plus the side map's length: the
//!   same count of words with history a [`HashCellMap`] fed the same operations
//!   reports (`tests/hb_differential.rs` runs both side by side).

use super::shadow::{CellMap, CellMapGet, HashCellMap, WordCell, WORD};

/// Index bits per directory level.
const DIR_BITS: u32 = 12;
/// Entries per directory.
const FANOUT: usize = 1 << DIR_BITS;
/// Address bits one leaf covers (4 KiB).
const LEAF_SHIFT: u32 = 12;
/// Words per leaf.
const LEAF_WORDS: usize = 1 << (LEAF_SHIFT - WORD.trailing_zeros());
/// Addresses below `1 << ADDR_BITS` are direct-mapped.
const ADDR_BITS: u32 = LEAF_SHIFT + 3 * DIR_BITS;

/// 512 word cells and how many of them hold history.
#[derive(Debug)]
struct Leaf {
    cells: Box<[WordCell; LEAF_WORDS]>,
    live: usize,
}

/// A directory: `FANOUT` slots (fixed size, so masked indices need no bounds check).
type Dir<T> = Box<[Option<T>; FANOUT]>;
/// The leaves of 16 MiB of address space.
type LeafDir = Dir<Leaf>;
/// The leaf directories of 64 GiB.
type MidDir = Dir<LeafDir>;

/// A boxed array of `N` values made by `f`, built in place on the heap (a directory
/// or leaf is tens of KiB: too big for a goroutine's stack).
#[cold]
fn boxed_array<T, const N: usize>(f: impl FnMut() -> T) -> Box<[T; N]> {
    let slice: Box<[T]> = std::iter::repeat_with(f).take(N).collect();
    match slice.try_into() {
        Ok(array) => array,
        Err(_) => unreachable_len(),
    }
}

/// `boxed_array` collected a wrong number of elements: a bug in this module.
#[cold]
fn unreachable_len() -> ! {
    panic!("hb::table: boxed array of the wrong length (internal error)")
}

#[cold]
fn new_dir<T>() -> Dir<T> {
    boxed_array(|| None)
}

#[cold]
fn new_leaf() -> Leaf {
    Leaf {
        cells: boxed_array(WordCell::default),
        live: 0,
    }
}

#[inline]
fn top_index(word: u64) -> usize {
    (word >> (LEAF_SHIFT + 2 * DIR_BITS)) as usize & (FANOUT - 1)
}

#[inline]
fn mid_index(word: u64) -> usize {
    (word >> (LEAF_SHIFT + DIR_BITS)) as usize & (FANOUT - 1)
}

#[inline]
fn leaf_index(word: u64) -> usize {
    (word >> LEAF_SHIFT) as usize & (FANOUT - 1)
}

#[inline]
fn cell_index(word: u64) -> usize {
    (word / WORD) as usize & (LEAF_WORDS - 1)
}

/// The direct-mapped [`CellMap`] (see the module docs).
#[derive(Debug, Default)]
pub struct TableCellMap {
    /// Top directory, allocated by the first write.
    top: Option<Dir<MidDir>>,
    /// Words at or above `1 << ADDR_BITS`.
    high: HashCellMap,
    /// Words with history in the leaves.
    live: usize,
}

impl TableCellMap {
    /// An empty table (allocates nothing until the first write).
    pub fn new() -> Self {
        Self::default()
    }

    /// The leaf holding `word` (below `1 << ADDR_BITS`), if allocated.
    #[inline(always)]
    fn leaf(&self, word: u64) -> Option<&Leaf> {
        let mid = self.top.as_ref()?[top_index(word)].as_ref()?;
        mid[mid_index(word)].as_ref()?[leaf_index(word)].as_ref()
    }

    /// Runs `f` on the cell of `word` in the leaf of `slot` (allocated if absent),
    /// keeping the live counts, and frees the leaf if it ends up empty.
    #[inline(always)]
    fn apply<R>(
        live: &mut usize,
        slot: &mut Option<Leaf>,
        word: u64,
        f: impl FnOnce(&mut WordCell) -> R,
    ) -> R {
        let leaf = slot.get_or_insert_with(new_leaf);
        let cell = &mut leaf.cells[cell_index(word)];
        let before = !cell.is_empty();
        let r = f(cell);
        let after = !cell.is_empty();
        if !after {
            // A word whose bytes were all reset one by one: back to the canonical
            // empty cell (a split word's boxed bytes are not kept).
            *cell = WordCell::default();
        }
        if before != after {
            if after {
                leaf.live += 1;
                *live += 1;
            } else {
                leaf.live -= 1;
                *live -= 1;
            }
        }
        if leaf.live == 0 {
            *slot = None;
        }
        r
    }

    /// [`CellMap::reset_range`] within the direct-mapped range (`last` below
    /// `1 << ADDR_BITS`).
    fn reset_direct(
        &mut self,
        first: u64,
        last: u64,
        reset: &mut impl FnMut(u64, &mut WordCell) -> bool,
    ) {
        let TableCellMap { top, live, .. } = self;
        let Some(top) = top.as_mut() else {
            return;
        };
        /// The first address of the next block of `1 << shift` bytes after `word`'s.
        fn next(word: u64, shift: u32) -> u64 {
            ((word >> shift) + 1) << shift
        }
        let mut word = first;
        loop {
            let resume = match top[top_index(word)].as_mut() {
                None => next(word, LEAF_SHIFT + 2 * DIR_BITS),
                Some(mid) => match mid[mid_index(word)].as_mut() {
                    None => next(word, LEAF_SHIFT + DIR_BITS),
                    Some(leaves) => {
                        let slot = &mut leaves[leaf_index(word)];
                        let end = next(word, LEAF_SHIFT);
                        if let Some(leaf) = slot {
                            let mut w = word;
                            while w <= last && w < end {
                                let cell = &mut leaf.cells[cell_index(w)];
                                if !cell.is_empty() && reset(w, cell) {
                                    *cell = WordCell::default();
                                    leaf.live -= 1;
                                    *live -= 1;
                                }
                                w += WORD;
                            }
                            if leaf.live == 0 {
                                *slot = None;
                            }
                        }
                        end
                    }
                },
            };
            if resume > last {
                return;
            }
            word = resume;
        }
    }

    /// [`CellMap::update`] above the direct-mapped range (out of line).
    #[cold]
    #[inline(never)]
    fn update_high<R>(&mut self, word: u64, f: impl FnOnce(&mut WordCell) -> R) -> R {
        self.high.update(word, f)
    }

    /// [`CellMap::inspect`] above the direct-mapped range (out of line).
    #[cold]
    #[inline(never)]
    fn inspect_high<R>(&self, word: u64, f: impl FnOnce(&WordCell) -> R) -> Option<R> {
        self.high.inspect(word, f)
    }

    /// Runs `f` on every stored cell of the leaves, in address order; removes those
    /// for which it returns `false` (and leaves left empty).
    fn retain_leaves(&mut self, mut keep: impl FnMut(u64, &mut WordCell) -> bool) {
        let Some(top) = self.top.as_mut() else {
            return;
        };
        for (ti, mid) in top.iter_mut().enumerate() {
            let Some(mid) = mid else { continue };
            for (mi, leaves) in mid.iter_mut().enumerate() {
                let Some(leaves) = leaves else { continue };
                for (li, slot) in leaves.iter_mut().enumerate() {
                    let Some(leaf) = slot else { continue };
                    let base = ((ti << (2 * DIR_BITS) | mi << DIR_BITS | li) as u64) << LEAF_SHIFT;
                    for (ci, cell) in leaf.cells.iter_mut().enumerate() {
                        if !cell.is_empty() && !keep(base + ci as u64 * WORD, cell) {
                            *cell = WordCell::default();
                            leaf.live -= 1;
                            self.live -= 1;
                        }
                    }
                    if leaf.live == 0 {
                        *slot = None;
                    }
                }
            }
        }
    }
}

impl CellMap for TableCellMap {
    #[inline(always)]
    fn update<R>(&mut self, word: u64, f: impl FnOnce(&mut WordCell) -> R) -> R {
        if word >> ADDR_BITS != 0 {
            return self.update_high(word, f);
        }
        let TableCellMap { top, live, .. } = self;
        let top = top.get_or_insert_with(new_dir);
        let mid = top[top_index(word)].get_or_insert_with(new_dir);
        let leaves = mid[mid_index(word)].get_or_insert_with(new_dir);
        let slot = &mut leaves[leaf_index(word)];
        Self::apply(live, slot, word, f)
    }

    fn update_existing<R>(&mut self, word: u64, f: impl FnOnce(&mut WordCell) -> R) -> Option<R> {
        if word >> ADDR_BITS != 0 {
            return self.high.update_existing(word, f);
        }
        let live = &mut self.live;
        let slot = self
            .top
            .as_mut()?
            .get_mut(top_index(word))?
            .as_mut()?
            .get_mut(mid_index(word))?
            .as_mut()?
            .get_mut(leaf_index(word))?;
        if slot.as_ref()?.cells[cell_index(word)].is_empty() {
            return None;
        }
        Some(Self::apply(live, slot, word, f))
    }

    fn remove(&mut self, word: u64) {
        if word >> ADDR_BITS != 0 {
            return CellMap::remove(&mut self.high, word);
        }
        self.update_existing(word, |cell| *cell = WordCell::default());
    }

    fn retain(&mut self, mut keep: impl FnMut(u64, &mut WordCell) -> bool) {
        self.retain_leaves(&mut keep);
        CellMap::retain(&mut self.high, keep);
    }

    fn len(&self) -> usize {
        self.live + self.high.len()
    }

    /// Walks only the leaves of the range that exist, skipping an absent directory
    /// in one step: a free costs what it covers of the stored history (plus one slot
    /// per absent directory), never a walk of the whole table.
    fn reset_range(
        &mut self,
        first: u64,
        last: u64,
        mut reset: impl FnMut(u64, &mut WordCell) -> bool,
    ) {
        let top_word = (1u64 << ADDR_BITS) - WORD;
        if first <= top_word {
            self.reset_direct(first, last.min(top_word), &mut reset);
        }
        if last > top_word {
            self.high
                .reset_range(first.max(1 << ADDR_BITS), last, reset);
        }
    }

    /// Runs `f` on an empty cell too when `word`'s leaf exists (one compare fewer on
    /// the hot path; the trait allows it).
    #[inline(always)]
    fn inspect<R>(&self, word: u64, f: impl FnOnce(&WordCell) -> R) -> Option<R> {
        if word >> ADDR_BITS != 0 {
            return self.inspect_high(word, f);
        }
        Some(f(&self.leaf(word)?.cells[cell_index(word)]))
    }
}

impl CellMapGet for TableCellMap {
    #[inline(always)]
    fn get_word(&self, word: u64) -> Option<&WordCell> {
        if word >> ADDR_BITS != 0 {
            return self.high.get_word(word);
        }
        let cell = &self.leaf(word)?.cells[cell_index(word)];
        (!cell.is_empty()).then_some(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hb::thread::Threads;

    fn written(map: &mut TableCellMap, th: &Threads, word: u64) {
        let t = th.get(crate::hb::Tid::new(0));
        map.update(word, |c| {
            *c = WordCell::Whole(crate::hb::Cell::new());
            let WordCell::Whole(cell) = c else { return };
            cell.write(t, 1).unwrap();
        });
    }

    #[test]
    fn leaves_are_allocated_by_writes_and_freed_when_empty() {
        let mut th = Threads::new();
        th.create(None);
        let mut m = TableCellMap::new();
        assert!(m.top.is_none());
        assert_eq!(m.inspect(0x1000, |_| ()), None);
        written(&mut m, &th, 0x1000);
        written(&mut m, &th, 0x1ff8); // same leaf
        written(&mut m, &th, 0x7fff_ffff_f000); // top of user space
        written(&mut m, &th, 1 << 48); // side map
        assert_eq!(m.len(), 4);
        assert!(m.leaf(0x1000).is_some());
        m.remove(0x1000);
        assert!(m.get_word(0x1000).is_none());
        assert_eq!(m.leaf(0x1000).map(|l| l.live), Some(1));
        m.remove(0x1ff8);
        assert!(m.leaf(0x1000).is_none(), "an empty leaf is freed");
        let mut seen = Vec::new();
        m.retain(|w, _| {
            seen.push(w);
            false
        });
        assert_eq!(seen, [0x7fff_ffff_f000, 1 << 48]);
        assert_eq!(m.len(), 0);
        assert!(m.leaf(0x7fff_ffff_f000).is_none());
    }
}
