//! Differential test of the shadow's two [`CellMap`]s: the direct-mapped
//! [`TableCellMap`] (the engine's default, `hb/table.rs`) against the `HashMap`-based
//! [`HashCellMap`] it replaced on the hot path.
//!
//! The same random trace — goroutines created (with slot reuse) and finished,
//! releases, release-merges, acquires and hand-offs on a few sync objects, plain and
//! atomic reads and writes of 1..16 bytes and ranges up to 600 bytes at aligned and
//! unaligned addresses, and frees small and large — drives two [`Engine`]s that differ
//! only in their map. Both must give identical answers at every step: the same
//! `Result<(), Race>` for every access (race or not, first racing byte, kinds,
//! previous epoch and site), the same same-epoch answer before it
//! ([`Engine::same_epoch`], the instrumented fast path), the same number of words
//! with history after every step, and the same cell for every word of the address
//! pool at the end of each trace.
//!
//! Addresses come from a pool that crosses what is special in the table: the two
//! halves of one leaf and its boundary (an access straddling two leaves), leaves under
//! different leaf and middle directories, the top of the 48-bit user address space,
//! and addresses at and above 2⁴⁸ (the table's side map). Frees cover single words,
//! ranges across leaves (leaves freed when empty) and the whole address space (the
//! hash map's `retain` path, the table's walk of its directories).

use gosan_detector::hb::{
    AccessKind, CellMap, CellMapGet, Engine, HashCellMap, SyncClock, TableCellMap, Tid,
};

/// splitmix64 (Steele, Lea & Flood, 2014).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Bases of the address pool (see the module docs); accesses land within 64 bytes
/// around each.
const BASES: [u64; 7] = [
    0x1000,                // a leaf's first words
    0x1fd0,                // up to its last word and across into the next leaf
    0x5555_5555_8000,      // another middle directory
    0x5555_5655_8000,      // same middle directory, another leaf directory
    0x7fff_ffff_ffc0,      // the last leaf below 2^47
    0xffff_ffff_ffc0,      // the last direct-mapped leaf (just below 2^48)
    0x0001_0000_0000_0000, // 2^48: the side map
];

struct Pair {
    table: Engine<TableCellMap>,
    hash: Engine<HashCellMap>,
    /// Each sync object, once per engine.
    locks: Vec<(SyncClock, SyncClock)>,
    live: Vec<Tid>,
    site: u32,
    steps: u64,
    races: u64,
    same_epoch: u64,
}

impl Pair {
    fn new() -> Pair {
        let mut p = Pair {
            table: Engine::with_map(TableCellMap::new()),
            hash: Engine::with_map(HashCellMap::default()),
            locks: (0..4)
                .map(|_| (SyncClock::new(), SyncClock::new()))
                .collect(),
            live: Vec::new(),
            site: 0,
            steps: 0,
            races: 0,
            same_epoch: 0,
        };
        p.create(None);
        p
    }

    fn create(&mut self, parent: Option<Tid>) {
        let a = self.table.goroutine_created(parent);
        let b = self.hash.goroutine_created(parent);
        assert_eq!(a, b, "slot choice differs");
        self.live.push(a);
    }

    fn addr(&self, rng: &mut Rng) -> u64 {
        BASES[rng.below(BASES.len() as u64) as usize] + rng.below(64)
    }

    fn check_counts(&self) {
        assert_eq!(
            self.table.shadow().word_count(),
            self.hash.shadow().word_count(),
            "words with history differ after step {}",
            self.steps
        );
    }

    fn step(&mut self, rng: &mut Rng) {
        self.steps += 1;
        let g = self.live[rng.below(self.live.len() as u64) as usize];
        match rng.below(100) {
            0..=4 if self.live.len() < 12 => self.create(Some(g)),
            5..=6 if self.live.len() > 1 => {
                self.table.goroutine_finished(g);
                self.hash.goroutine_finished(g);
                self.live.retain(|&t| t != g);
            }
            7..=11 => {
                let i = rng.below(self.locks.len() as u64) as usize;
                let (a, b) = &mut self.locks[i];
                if rng.below(2) == 0 {
                    self.table.released(g, a);
                    self.hash.released(g, b);
                } else {
                    self.table.released_merge(g, a);
                    self.hash.released_merge(g, b);
                }
            }
            12..=16 => {
                let (a, b) = &self.locks[rng.below(self.locks.len() as u64) as usize];
                self.table.acquired(g, a);
                self.hash.acquired(g, b);
            }
            17 => {
                let h = self.live[rng.below(self.live.len() as u64) as usize];
                if h != g {
                    self.table.exchanged(g, h);
                    self.hash.exchanged(g, h);
                }
            }
            18..=20 => {
                let addr = self.addr(rng);
                let len = match rng.below(4) {
                    0 => 1 + rng.below(8),
                    1 => 8,
                    2 => 64 + rng.below(4096),
                    _ => u64::MAX, // everything: the walk of the whole map
                };
                self.table.freed(addr, len);
                self.hash.freed(addr, len);
            }
            21..=25 => {
                let addr = self.addr(rng);
                let len = 1 + rng.below(600);
                self.site += 1;
                let write = rng.below(2) == 0;
                let (a, b) = if write {
                    (
                        self.table.write_range(g, addr, len, self.site),
                        self.hash.write_range(g, addr, len, self.site),
                    )
                } else {
                    (
                        self.table.read_range(g, addr, len, self.site),
                        self.hash.read_range(g, addr, len, self.site),
                    )
                };
                assert_eq!(a, b, "range verdicts differ at step {}", self.steps);
                self.races += a.is_err() as u64;
            }
            _ => {
                // Mostly aligned words (the instrumented common case), some bytes,
                // halves, unaligned and word-crossing accesses.
                let addr = self.addr(rng);
                let (addr, size) = match rng.below(8) {
                    0..=3 => (addr & !7, 8),
                    4 => (addr, 1),
                    5 => (addr & !1, 2),
                    6 => (addr & !3, 4),
                    _ => (addr, 1 + rng.below(16)),
                };
                let write = rng.below(3) == 0;
                let atomic = rng.below(5) == 0;
                let kind = AccessKind::new(write, atomic);
                let same = self.table.same_epoch(g, addr, size, kind);
                assert_eq!(
                    same,
                    self.hash.same_epoch(g, addr, size, kind),
                    "same-epoch answers differ at step {}",
                    self.steps
                );
                self.same_epoch += same as u64;
                self.site += 1;
                let (a, b) = if write {
                    (
                        self.table.write(g, addr, size, self.site, atomic),
                        self.hash.write(g, addr, size, self.site, atomic),
                    )
                } else {
                    (
                        self.table.read(g, addr, size, self.site, atomic),
                        self.hash.read(g, addr, size, self.site, atomic),
                    )
                };
                assert_eq!(a, b, "verdicts differ at step {}", self.steps);
                if same {
                    assert_eq!(a, Ok(()), "a same-epoch access found a race");
                }
                self.races += a.is_err() as u64;
            }
        }
        self.check_counts();
    }

    fn check_cells(&self) {
        for base in BASES {
            for addr in (base.saturating_sub(8)..base + 72).step_by(8) {
                assert_eq!(
                    self.table.shadow().word(addr),
                    self.hash.shadow().word(addr),
                    "cell of {addr:#x} differs"
                );
            }
        }
    }
}

#[test]
fn table_and_hash_map_give_the_same_verdicts() {
    let (traces, steps) = if cfg!(miri) { (3, 150) } else { (300, 2000) };
    let (mut races, mut same_epoch, mut total) = (0, 0, 0);
    for seed in 0..traces {
        let mut rng = Rng(seed);
        let mut pair = Pair::new();
        for _ in 0..steps {
            pair.step(&mut rng);
        }
        pair.check_cells();
        races += pair.races;
        same_epoch += pair.same_epoch;
        total += pair.steps;
    }
    // The traces exercised what they are meant to compare.
    assert!(
        races > total / 100,
        "too few races: {races} in {total} steps"
    );
    assert!(
        same_epoch > total / 100,
        "too few same-epoch hits: {same_epoch} in {total} steps"
    );
}

/// An empty table costs no leaf; words in one leaf share it; freeing them frees it,
/// and the count of words with history follows the hash map's.
#[test]
fn table_frees_what_it_no_longer_needs() {
    let mut t = TableCellMap::new();
    let mut h = HashCellMap::default();
    let mut e = Engine::new();
    let g = e.goroutine_created(None);
    for word in [0x1000u64, 0x1008, 0x2000, 1 << 48] {
        e.write(g, word, 8, 1, false).unwrap();
    }
    assert_eq!(e.shadow().word_count(), 4);
    e.freed(0x1000, 0x1010);
    assert_eq!(e.shadow().word_count(), 1);
    assert_eq!(e.shadow().word(0x2000), None);
    e.freed(1 << 48, 8);
    assert_eq!(e.shadow().word_count(), 0);
    // The trait's own operations, side by side.
    for m in [&mut t as &mut dyn Probe, &mut h] {
        m.put(0x3000);
        m.put(0x3ff8);
        m.put(0x4000);
        assert_eq!(m.count(), 3);
        m.drop_word(0x3000);
        m.keep_above(0x3ff8);
        assert_eq!(m.count(), 1);
    }
}

/// The two maps behind one object-safe face, for the test above.
trait Probe {
    fn put(&mut self, word: u64);
    fn drop_word(&mut self, word: u64);
    fn keep_above(&mut self, word: u64);
    fn count(&self) -> usize;
}

impl<M: CellMap + CellMapGet> Probe for M {
    fn put(&mut self, word: u64) {
        let mut e = Engine::new();
        let g = e.goroutine_created(None);
        e.write(g, 0, 8, 1, false).unwrap();
        let cell = e.shadow().word(0);
        self.update(word, |c| *c = cell.unwrap_or_default());
    }
    fn drop_word(&mut self, word: u64) {
        self.remove(word);
    }
    fn keep_above(&mut self, word: u64) {
        self.retain(|w, _| w > word);
    }
    fn count(&self) -> usize {
        self.len()
    }
}
