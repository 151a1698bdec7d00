//! The reference model of `hb_differential.rs`: a brute-force full-vector-clock
//! happens-before model and random traces that drive it next to the FastTrack engine.
//! Shared by the differential test and the `detector` fuzz target
//! (`fuzz/fuzz_targets/detector.rs` includes this file by path). See the header of
//! `hb_differential.rs` for the model.
#![allow(dead_code)]

use gosan_detector::hb::{AccessKind, Engine, Epoch, SyncClock, Tid};
use std::collections::{HashMap, HashSet};

/// splitmix64 (Steele, Lea & Flood, 2014): tiny, seeded, good enough for traces.
pub struct SplitMix64(pub u64, pub Option<(Vec<u8>, usize)>);

impl SplitMix64 {
    /// A seeded generator.
    pub fn seeded(seed: u64) -> Self {
        SplitMix64(seed, None)
    }

    /// Draws taken from `data` (two bytes each, little-endian) while it lasts, then
    /// from the seeded generator: a fuzzer's bytes steer the trace directly.
    pub fn from_bytes(seed: u64, data: &[u8]) -> Self {
        SplitMix64(seed, Some((data.to_vec(), 0)))
    }

    pub fn next(&mut self) -> u64 {
        if let Some((data, pos)) = &mut self.1 {
            if let Some(b) = data.get(*pos..*pos + 2) {
                *pos += 2;
                return u64::from(u16::from_le_bytes([b[0], b[1]]));
            }
        }
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Reference vector clock, indexed by logical goroutine id.
pub type Vc = Vec<u32>;

pub fn vc_get(vc: &Vc, g: usize) -> u32 {
    vc.get(g).copied().unwrap_or(0)
}

pub fn vc_set(vc: &mut Vc, g: usize, value: u32) {
    if vc.len() <= g {
        vc.resize(g + 1, 0);
    }
    vc[g] = value;
}

pub fn vc_join(into: &mut Vc, from: &Vc) {
    for (g, &v) in from.iter().enumerate() {
        if v > vc_get(into, g) {
            vc_set(into, g, v);
        }
    }
}

pub fn vc_tick(vc: &mut Vc, g: usize) {
    let v = vc_get(vc, g) + 1;
    vc_set(vc, g, v);
}

pub fn ref_conflict(a: AccessKind, b: AccessKind) -> bool {
    let write = |k| matches!(k, AccessKind::Write | AccessKind::AtomicWrite);
    let atomic = |k| matches!(k, AccessKind::AtomicRead | AccessKind::AtomicWrite);
    (write(a) || write(b)) && !(atomic(a) && atomic(b))
}

/// One access in a byte's history.
#[derive(Clone, Copy, Debug)]
pub struct RefAccess {
    pub g: usize,
    /// `g`'s own clock entry at the access.
    pub own: u32,
    pub kind: AccessKind,
    pub site: u32,
    /// What the engine should report for it.
    pub slot: Tid,
    pub epoch: Epoch,
}

pub struct Goroutine {
    pub slot: Tid,
    pub vc: Vc,
    /// Engine side of a join: released into right before finishing.
    pub join_clock: SyncClock,
    /// Reference side of a join: the clock at finish.
    pub final_vc: Option<Vc>,
}

#[derive(Default, Debug)]
pub struct Stats {
    pub traces: u64,
    /// Goroutines created in all traces.
    pub created: u64,
    pub accesses: u64,
    pub compared: u64,
    pub races: u64,
    pub reuses: u64,
    /// Compared accesses whose byte history holds an access by an earlier occupant of
    /// a slot that now holds another goroutine: racing / not racing against it.
    pub cross_occupant_race: u64,
    pub cross_occupant_ordered: u64,
    /// Compared accesses made by a goroutine whose clock holds a shared tree (it knew
    /// more goroutines than fit in a clock's delta).
    pub tree_compared: u64,
    /// Most goroutine slots any trace used at once.
    pub max_slots: usize,
}

pub const BASE: u64 = 0x1000;
/// Words the short traces touch.
pub const WORDS: usize = 4;
/// Goroutines alive at once in the short traces.
pub const MAX_LIVE: usize = 5;
pub const LOCKS: usize = 3;

pub struct Trace {
    pub seed: u64,
    /// Words the trace touches, from `BASE` on.
    pub words: usize,
    /// Most goroutines alive at once (random forks beyond it are skipped).
    pub max_live: usize,
    pub engine: Engine,
    pub gs: Vec<Goroutine>,
    pub live: Vec<usize>,
    pub joinable: Vec<usize>,
    /// Logical goroutine that most recently held each slot.
    pub occupant: HashMap<Tid, usize>,
    pub locks: Vec<(SyncClock, Vc)>,
    pub history: HashMap<u64, Vec<RefAccess>>,
    pub tainted: HashSet<u64>,
    pub next_site: u32,
    pub step: usize,
}

impl Trace {
    pub fn new(seed: u64) -> Self {
        Self::with_shape(seed, WORDS, MAX_LIVE)
    }

    pub fn with_shape(seed: u64, words: usize, max_live: usize) -> Self {
        let mut t = Trace {
            seed,
            words,
            max_live,
            engine: Engine::new(),
            gs: Vec::new(),
            live: Vec::new(),
            joinable: Vec::new(),
            occupant: HashMap::new(),
            locks: (0..LOCKS).map(|_| (SyncClock::new(), Vc::new())).collect(),
            history: HashMap::new(),
            tainted: HashSet::new(),
            next_site: 1,
            step: 0,
        };
        t.create(None, &mut Stats::default());
        t
    }

    pub fn create(&mut self, parent: Option<usize>, stats: &mut Stats) -> usize {
        let g = self.gs.len();
        let slot = self
            .engine
            .goroutine_created(parent.map(|p| self.gs[p].slot));
        let mut vc = match parent {
            Some(p) => {
                let child = self.gs[p].vc.clone();
                vc_tick(&mut self.gs[p].vc, p);
                child
            }
            None => Vc::new(),
        };
        vc_set(&mut vc, g, 1);
        if self.occupant.insert(slot, g).is_some() {
            stats.reuses += 1;
        }
        stats.created += 1;
        self.gs.push(Goroutine {
            slot,
            vc,
            join_clock: SyncClock::new(),
            final_vc: None,
        });
        self.live.push(g);
        g
    }

    pub fn finish(&mut self, g: usize, joinable: bool) {
        let slot = self.gs[g].slot;
        if joinable {
            let mut join = std::mem::take(&mut self.gs[g].join_clock);
            self.engine.released(slot, &mut join);
            self.gs[g].join_clock = join;
            self.gs[g].final_vc = Some(self.gs[g].vc.clone());
            self.joinable.push(g);
        }
        // A finished goroutine never acts again (long traces keep thousands).
        self.gs[g].vc = Vc::new();
        self.engine.goroutine_finished(slot);
        self.live.retain(|&x| x != g);
    }

    pub fn join(&mut self, joiner: usize, finished: usize) {
        let slot = self.gs[joiner].slot;
        self.engine.acquired(slot, &self.gs[finished].join_clock);
        let final_vc = self.gs[finished]
            .final_vc
            .clone()
            .expect("joinable goroutine has a final clock");
        vc_join(&mut self.gs[joiner].vc, &final_vc);
    }

    pub fn release(&mut self, g: usize, lock: usize, merge: bool) {
        let slot = self.gs[g].slot;
        if merge {
            self.engine.released_merge(slot, &mut self.locks[lock].0);
            vc_join(&mut self.locks[lock].1, &self.gs[g].vc);
        } else {
            self.engine.released(slot, &mut self.locks[lock].0);
            self.locks[lock].1 = self.gs[g].vc.clone();
        }
        vc_tick(&mut self.gs[g].vc, g);
    }

    pub fn acquire(&mut self, g: usize, lock: usize) {
        self.engine.acquired(self.gs[g].slot, &self.locks[lock].0);
        vc_join(&mut self.gs[g].vc, &self.locks[lock].1);
    }

    pub fn freed(&mut self, addr: u64, len: u64) {
        self.engine.freed(addr, len);
        for byte in addr..addr + len {
            self.history.remove(&byte);
            self.tainted.remove(&byte);
        }
    }

    /// The reference's racing partners of an access of `kind` by `g` at `byte`.
    pub fn partners(&self, g: usize, byte: u64, kind: AccessKind) -> Vec<RefAccess> {
        let vc = &self.gs[g].vc;
        self.history
            .get(&byte)
            .map(|h| {
                h.iter()
                    .filter(|b| ref_conflict(b.kind, kind) && b.own > vc_get(vc, b.g))
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn access(&mut self, g: usize, addr: u64, len: u64, kind: AccessKind, stats: &mut Stats) {
        let site = self.next_site;
        self.next_site += 1;
        let slot = self.gs[g].slot;
        let epoch = self.engine.thread(slot).epoch();
        let racing: Vec<(u64, Vec<RefAccess>)> = (addr..addr + len)
            .map(|byte| (byte, self.partners(g, byte, kind)))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        let compare = (addr..addr + len).all(|byte| !self.tainted.contains(&byte));

        let atomic = matches!(kind, AccessKind::AtomicRead | AccessKind::AtomicWrite);
        let result = match kind {
            AccessKind::Read | AccessKind::AtomicRead => {
                self.engine.read(slot, addr, len, site, atomic)
            }
            AccessKind::Write | AccessKind::AtomicWrite => {
                self.engine.write(slot, addr, len, site, atomic)
            }
        };
        stats.accesses += 1;

        if compare {
            stats.compared += 1;
            if self.engine.thread(slot).clock().has_tree() {
                stats.tree_compared += 1;
            }
            let ctx = || {
                format!(
                    "seed {:#x}, step {}: {kind:?} of {len} bytes at {addr:#x} by goroutine {g} (slot {slot}, epoch {epoch}); reference partners {racing:?}",
                    self.seed, self.step
                )
            };
            match (result, racing.first()) {
                (Ok(()), None) => {}
                (Err(race), Some((first_byte, partners))) => {
                    stats.races += 1;
                    assert_eq!(
                        race.addr,
                        *first_byte,
                        "first racing byte differs: {race:?}; {}",
                        ctx()
                    );
                    assert_eq!(race.current, kind, "{}", ctx());
                    assert!(
                        partners.iter().any(|b| b.site == race.previous_site
                            && b.kind == race.previous
                            && b.epoch == race.previous_epoch
                            && b.slot == race.previous_epoch.tid()),
                        "engine's previous access is not a racing partner: {race:?}; {}",
                        ctx()
                    );
                }
                (Err(race), None) => panic!(
                    "engine reports a race the reference does not: {race:?}; {}",
                    ctx()
                ),
                (Ok(()), Some(_)) => panic!("engine misses a race: {}", ctx()),
            }
            // Accesses by a previous occupant of a slot now held by someone else.
            let vc = &self.gs[g].vc;
            let stale = |b: &RefAccess| self.occupant.get(&b.slot) != Some(&b.g);
            for byte in addr..addr + len {
                for b in self
                    .history
                    .get(&byte)
                    .into_iter()
                    .flatten()
                    .filter(|b| stale(b))
                {
                    if !ref_conflict(b.kind, kind) {
                        continue;
                    }
                    if b.own > vc_get(vc, b.g) {
                        stats.cross_occupant_race += 1;
                    } else {
                        stats.cross_occupant_ordered += 1;
                    }
                }
            }
        }

        for (byte, _) in &racing {
            self.tainted.insert(*byte);
        }
        let own = vc_get(&self.gs[g].vc, g);
        for byte in addr..addr + len {
            self.history.entry(byte).or_default().push(RefAccess {
                g,
                own,
                kind,
                site,
                slot,
                epoch,
            });
        }
    }

    /// Bytes the trace touches.
    pub fn span(&self) -> u64 {
        8 * self.words as u64
    }

    pub fn random_access(&mut self, rng: &mut SplitMix64, g: usize, stats: &mut Stats) {
        let (addr, len) = match rng.below(10) {
            // Aligned whole words: the common case.
            0..=5 => (BASE + 8 * rng.below(self.words) as u64, 8),
            // Aligned sub-word fields.
            6..=8 => {
                let size = rng.pick(&[1u64, 2, 4]);
                let offset = size * rng.below((8 / size) as usize) as u64;
                (BASE + 8 * rng.below(self.words) as u64 + offset, size)
            }
            // Unaligned ranges, possibly crossing words.
            _ => {
                let span = self.span();
                let start = rng.below(span as usize - 1) as u64;
                let len = 1 + rng.below(12.min(span - start) as usize) as u64;
                (BASE + start, len)
            }
        };
        let kind = match rng.below(10) {
            0..=3 => AccessKind::Read,
            4..=6 => AccessKind::Write,
            7..=8 => AccessKind::AtomicRead,
            _ => AccessKind::AtomicWrite,
        };
        self.access(g, addr, len, kind, stats);
    }

    pub fn random_step(&mut self, rng: &mut SplitMix64, weights: &[u64; 8], stats: &mut Stats) {
        self.step += 1;
        let total: u64 = weights.iter().sum();
        let mut roll = rng.next() % total;
        let mut event = 0;
        while roll >= weights[event] {
            roll -= weights[event];
            event += 1;
        }
        let g = rng.pick(&self.live);
        match event {
            // Fork (now and then a fresh root instead).
            0 if self.live.len() < self.max_live => {
                let parent = if rng.chance(5) { None } else { Some(g) };
                self.create(parent, stats);
            }
            // Finish, joinable or not; main (0) never finishes.
            1 if g != 0 => self.finish(g, rng.chance(70)),
            // Join a finished goroutine (any number of times, by anyone).
            2 if !self.joinable.is_empty() => {
                let f = rng.pick(&self.joinable);
                self.join(g, f);
            }
            3 => self.release(g, rng.below(LOCKS), false),
            4 => self.release(g, rng.below(LOCKS), true),
            5 => self.acquire(g, rng.below(LOCKS)),
            6 => self.random_access(rng, g, stats),
            7 => {
                let span = self.span();
                let start = rng.below(span as usize) as u64;
                let len = 1 + rng.below((span - start) as usize) as u64;
                self.freed(BASE + start, len);
            }
            _ => self.random_access(rng, g, stats),
        }
    }
}

/// Event weights per profile: fork, finish, join, release, release-merge, acquire,
/// access, free.
pub const PROFILES: [[u64; 8]; 4] = [
    // Balanced.
    [8, 6, 5, 6, 4, 8, 40, 3],
    // Goroutine churn: many short-lived goroutines, lots of slot reuse.
    [20, 18, 12, 4, 4, 6, 30, 3],
    // Synchronization-heavy: few races survive.
    [5, 3, 4, 14, 8, 18, 30, 2],
    // Access-heavy with sparse synchronization: many races.
    [4, 3, 2, 3, 2, 4, 60, 5],
];
