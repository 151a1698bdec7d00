//! Lock bookkeeping of one run: the **wait-for graph** (partial deadlocks among lock
//! holders and waiters, reported the moment a cycle closes) and the **lock-order
//! graph** (Linux lockdep's "acquired B while holding A" edges, TSan's
//! `lock-order-inversion (potential deadlock)`), for `RawMutex`/`Mutex` and
//! `RawRwMutex`/`RwMutex`.
//!
//! # Lock identity
//! Every primitive embeds a [`LockTag`]: its creation site (`#[track_caller]` on the
//! `const fn new`) and an id given at its first lock in a run (the tag carries the
//! run's number, so a `static` lock gets a fresh id in every run, and a lock freed and
//! another allocated at the same address are never confused — lockdep's classes, per
//! object).
//!
//! # Wait-for cycles (the AND model; go-deadlock, Go's `checkdead` restricted to locks)
//! `holders[L]` lists the goroutines holding lock `L` (`Write`, `Read`, or `Announced`
//! for an `RwMutex` writer that holds Go's `w` and waits for the readers to leave).
//! `waiting[g]` is the lock `g` is parked on; it is set just before `park` (no
//! scheduling point in between) and cleared when the lock is granted to `g` (the
//! primitive's hand-off calls [`LockDep::granted`]) — a granted waiter is not blocked.
//! A goroutine `g` parked on `L` waits for every holder of `L` except its own
//! `Announced` entry: an over-approximation for readers (a reader blocked behind an
//! announced writer also "waits" for the other readers), which only makes the check
//! below stricter.
//!
//! When `g` is about to park, [`LockDep::closed_set`] walks the wait-for edges from
//! `g`: if every goroutine reached is parked on a lock that has at least one holder,
//! and all those holders are in the set, the set is closed. No member can run (each
//! waits for a lock only a member can release), so none ever will: they are
//! deadlocked, whatever the rest of the program does.
//!
//! Why no false positives: a member's lock can only be released by its holder, and
//! every holder is a parked member. That needs "only the holder releases", which
//! holds for `Mutex<T>`/`RwMutex<T>`: only their guard unlocks, and a guard stays
//! with the goroutine that locked (it borrows the lock, so it cannot move to another
//! goroutine unless the lock is `'static` — the one exception, documented in the
//! README; a guard dropped by another goroutine marks the lock `handed` from then
//! on). `RawMutex`/`RawRwMutex` may be unlocked by any goroutine (Go allows it, and
//! hand-off locking uses it), so they are `handed` from the start: never in a
//! wait-for cycle (a raw double lock is still found by the global check, or as a
//! leak), always in the lock-order graph. A holder that exited without unlocking is
//! not parked, so its lock is never part of a closed set.
//!
//! # Lock order (lockdep)
//! Each blocking acquisition of `B` while holding `A` adds the edge `A → B` with both
//! acquisition stacks (raw PCs, symbolized when the report is built). When the new
//! edge closes a cycle `B ⇒ … ⇒ A` in the graph of the whole run, that is a potential
//! deadlock, reported once per cycle even if this run did not deadlock. A successful
//! `try_lock` cannot block, so it adds no edge into the lock it took (it still counts
//! as held). A cycle made only of read-after-read edges is not reported.
//!
//! # Protocol
//! One `LockDep` per run, inside `Sched` (`sched/partial.rs` reaches it); every hook
//! runs on the run's thread under the primitive's spin lock or right after it, never
//! across a switch.

use crate::capture::Pcs;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

/// Hasher for the small integer keys here (goroutine and lock ids): one multiply
/// (Fibonacci hashing); SipHash was a fifth of a lock's cost.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;
pub(crate) type IdSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

/// Run numbers for [`LockTag`]s (0 = never locked).
static RUNS: AtomicU64 = AtomicU64::new(1);

/// How a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `lock` of a mutex, `write` of an rwmutex.
    Write,
    /// `rlock`.
    Read,
    /// An rwmutex writer holding Go's `w`, waiting for readers to leave.
    Announced,
}

/// Identity of one lock primitive, embedded in it (under its spin lock).
pub(crate) struct LockTag {
    run: u64,
    id: u32,
    site: &'static Location<'static>,
    /// Only the acquiring goroutine can release it (a `Mutex<T>`/`RwMutex<T>` guard).
    owned: bool,
}

impl LockTag {
    /// A tag naming the caller of the primitive's `new` as its creation site;
    /// `owned`: released only through a guard (see the module docs).
    #[track_caller]
    pub(crate) const fn new(owned: bool) -> LockTag {
        LockTag {
            run: 0,
            id: 0,
            site: Location::caller(),
            owned,
        }
    }
}

struct LockInfo {
    site: &'static Location<'static>,
    /// May be released by a goroutine that does not hold it (a `Raw*` lock), or
    /// was: excluded from wait-for cycles.
    handed: bool,
}

struct Held {
    lock: u32,
    mode: Mode,
    /// Its acquisition stack: an index into `LockDep::stacks` (`NO_STACK`: none).
    stack: u32,
}

/// `Held::stack` of an acquisition whose stack was not taken.
const NO_STACK: u32 = u32::MAX;

struct Edge {
    /// Where the first lock was acquired, and where the second one then was.
    first: Pcs,
    second: Pcs,
    goid: u64,
    read_read: bool,
}

/// A goroutine parked on a lock.
#[derive(Clone, Copy)]
pub(crate) struct Wait {
    lock: u32,
    pub(crate) slot: u32,
    pub(crate) reason: crate::sched::WaitReason,
}

impl Wait {
    pub(crate) fn new(slot: u32, reason: crate::sched::WaitReason) -> Wait {
        Wait {
            lock: 0,
            slot,
            reason,
        }
    }
}

/// A lock-order cycle before symbolization.
pub(crate) struct RawInversion {
    /// The locks' ids in this run (numbered by first lock).
    pub(crate) ids: Vec<u32>,
    /// Creation sites of the locks of the cycle, in order.
    pub(crate) locks: Vec<&'static Location<'static>>,
    /// Per edge: (goroutine, stack holding the first lock, stack taking the second).
    pub(crate) edges: Vec<(u64, Pcs, Pcs)>,
}

/// The lock bookkeeping of one run (see the module docs).
pub(crate) struct LockDep {
    run: u64,
    /// `partial_deadlock=stop`: a partial deadlock ends the run.
    pub(crate) stop: bool,
    order: bool,
    locks: Vec<LockInfo>,
    /// Indexed by lock id (ids are dense: numbered at first lock).
    holders: Vec<smallvec::SmallVec<[(u64, Mode); 2]>>,
    /// The locks each goroutine holds (inline: most hold a few, no allocation).
    held: IdMap<u64, smallvec::SmallVec<[Held; 2]>>,
    /// Acquisition stacks of held locks, reused through `free_stacks` (a held lock
    /// names its stack by index, so the maps move 12 bytes, not a stack).
    stacks: Vec<Pcs>,
    free_stacks: Vec<u32>,
    waiting: IdMap<u64, Wait>,
    edges: IdMap<(u32, u32), Edge>,
    adj: IdMap<u32, Vec<u32>>,
    reported: HashSet<Vec<u32>>,
    pub(crate) inversions: Vec<RawInversion>,
    /// Goroutines already reported in a partial deadlock.
    pub(crate) deadlocked: IdSet<u64>,
}

impl LockDep {
    pub(crate) fn new(order: bool, stop: bool) -> LockDep {
        LockDep {
            stop,
            run: RUNS.fetch_add(1, Ordering::Relaxed),
            order,
            locks: Vec::new(),
            holders: Vec::new(),
            held: IdMap::default(),
            stacks: Vec::new(),
            free_stacks: Vec::new(),
            waiting: IdMap::default(),
            edges: IdMap::default(),
            adj: IdMap::default(),
            reported: HashSet::new(),
            inversions: Vec::new(),
            deadlocked: IdSet::default(),
        }
    }

    /// Whether acquisitions need their stacks (lock-order detection is on).
    pub(crate) fn wants_stacks(&self) -> bool {
        self.order
    }

    /// Goroutine `g` finished: its entry in `held` goes (kept while it lived even
    /// when empty, so a lock/unlock pair costs no map insert and remove). Locks it
    /// still holds keep it as their holder.
    pub(crate) fn goroutine_exited(&mut self, g: u64) {
        if self.held.get(&g).is_some_and(|h| h.is_empty()) {
            self.held.remove(&g);
        }
    }

    /// Whether `g`, about to block on a lock, may add order edges (it holds a lock
    /// and lock order is on): only then is its stack worth taking.
    pub(crate) fn blocking_needs_stack(&self, g: u64) -> bool {
        self.order && self.held.get(&g).is_some_and(|h| !h.is_empty())
    }

    fn id(&mut self, tag: &mut LockTag) -> u32 {
        if tag.run != self.run {
            tag.run = self.run;
            tag.id = self.locks.len() as u32;
            self.holders.push(smallvec::SmallVec::new());
            self.locks.push(LockInfo {
                site: tag.site,
                handed: !tag.owned,
            });
        }
        tag.id
    }

    /// The site naming the lock `g` waits for, and that lock's holders (for the
    /// dump's explanation).
    pub(crate) fn describe_wait(&self, g: u64) -> Option<String> {
        let w = self.waiting.get(&g)?;
        let site = self.locks[w.lock as usize].site;
        let hs: Vec<String> = self.holders[w.lock as usize]
            .iter()
            .map(|(h, m)| match m {
                Mode::Read => format!("goroutine {h} (read)"),
                _ => format!("goroutine {h}"),
            })
            .collect();
        Some(format!(
            "wait-for cycle: waits for the lock created at {}:{}, held by {}",
            site.file(),
            site.line(),
            hs.join(", ")
        ))
    }

    /// The rwmutex writer `g` holds Go's `w` and waits for the readers to leave.
    pub(crate) fn announced(&mut self, tag: &mut LockTag, g: u64) {
        let lock = self.id(tag);
        self.holders[lock as usize].push((g, Mode::Announced));
        self.held.entry(g).or_default().push(Held {
            lock,
            mode: Mode::Announced,
            stack: NO_STACK,
        });
    }

    /// `g` is about to park on `tag`'s lock in `mode`. As in Linux lockdep, the order
    /// edges from the locks `g` holds are added at the attempt, not only once the lock
    /// is taken: a run whose inversion did deadlock reports it too. Returns whether a
    /// new lock-order inversion was recorded.
    pub(crate) fn blocking(
        &mut self,
        tag: &mut LockTag,
        g: u64,
        w: Wait,
        mode: Mode,
        pcs: Pcs,
    ) -> bool {
        let lock = self.id(tag);
        self.waiting.insert(g, Wait { lock, ..w });
        self.order && self.order_edges(lock, g, mode, &pcs)
    }

    /// The lock was handed to the parked `g` (it no longer waits).
    pub(crate) fn granted(&mut self, g: u64) {
        self.waiting.remove(&g);
    }

    /// The closed set of deadlocked goroutines containing `g` (module docs), or
    /// `None` when one of them may still proceed.
    pub(crate) fn closed_set(&self, g: u64) -> Option<Vec<(u64, Wait)>> {
        // Fast path (no allocation): a holder of `g`'s lock that is not itself
        // waiting for a lock can still release it.
        let w = *self.waiting.get(&g)?;
        let hs = &self.holders[w.lock as usize];
        if hs
            .iter()
            .any(|&(h, m)| !(self.waiting.contains_key(&h) || h == g && m == Mode::Announced))
        {
            return None;
        }
        let mut seen: HashSet<u64> = HashSet::new();
        let mut out = Vec::new();
        let mut work = vec![g];
        seen.insert(g);
        while let Some(x) = work.pop() {
            let w = *self.waiting.get(&x)?;
            if self.locks[w.lock as usize].handed {
                return None;
            }
            out.push((x, w));
            let mut any = false;
            for &(h, m) in &self.holders[w.lock as usize] {
                if h == x && m == Mode::Announced {
                    continue;
                }
                any = true;
                if seen.insert(h) {
                    work.push(h);
                }
            }
            if !any {
                return None;
            }
        }
        Some(out)
    }

    /// `g` now holds `tag`'s lock in `mode` (`try_`: taken without blocking).
    /// Returns whether a new lock-order inversion was recorded.
    pub(crate) fn acquired(
        &mut self,
        tag: &mut LockTag,
        g: u64,
        mode: Mode,
        try_: bool,
        pcs: Pcs,
    ) -> bool {
        let lock = self.id(tag);
        if !self.waiting.is_empty() {
            self.waiting.remove(&g);
        }
        let hs = &mut self.holders[lock as usize];
        if mode == Mode::Write {
            // An announced writer becomes the holder.
            hs.retain(|&mut (h, m)| !(h == g && m == Mode::Announced));
        }
        hs.push((g, mode));
        let mut found = false;
        let held = self.held.entry(g).or_default();
        if mode == Mode::Write {
            if let Some(i) = held
                .iter()
                .position(|h| h.lock == lock && h.mode == Mode::Announced)
            {
                held.remove(i);
            }
        }
        if self.order && !try_ {
            found = self.order_edges(lock, g, mode, &pcs);
        }
        let stack = if pcs.is_empty() {
            NO_STACK
        } else if let Some(i) = self.free_stacks.pop() {
            self.stacks[i as usize] = pcs;
            i
        } else {
            self.stacks.push(pcs);
            (self.stacks.len() - 1) as u32
        };
        self.held
            .entry(g)
            .or_default()
            .push(Held { lock, mode, stack });
        found
    }

    /// Adds an edge `a → lock` for every other lock `a` that `g` holds (each edge once,
    /// with the first stacks that made it); returns whether one closed a new cycle.
    fn order_edges(&mut self, lock: u32, g: u64, mode: Mode, pcs: &Pcs) -> bool {
        let Some(held) = self.held.get(&g) else {
            return false;
        };
        let firsts: Vec<(u32, Mode, Pcs)> = held
            .iter()
            .filter(|h| h.lock != lock)
            .map(|h| {
                let pcs = match h.stack {
                    NO_STACK => Pcs::new(),
                    i => self.stacks[i as usize].clone(),
                };
                (h.lock, h.mode, pcs)
            })
            .collect();
        let mut found = false;
        for (a, am, apcs) in firsts {
            if let std::collections::hash_map::Entry::Vacant(e) = self.edges.entry((a, lock)) {
                e.insert(Edge {
                    first: apcs,
                    second: pcs.clone(),
                    goid: g,
                    read_read: am == Mode::Read && mode == Mode::Read,
                });
                self.adj.entry(a).or_default().push(lock);
                found |= self.check_cycle(a, lock);
            }
        }
        found
    }

    /// The edge `a → b` was just added: a path `b ⇒ a` closes a cycle.
    fn check_cycle(&mut self, a: u32, b: u32) -> bool {
        // Depth-first search for a path b ⇒ a, remembering predecessors.
        let mut prev: HashMap<u32, u32> = HashMap::new();
        let mut stack = vec![b];
        let mut seen = HashSet::new();
        seen.insert(b);
        let mut hit = false;
        while let Some(x) = stack.pop() {
            if x == a {
                hit = true;
                break;
            }
            for &y in self.adj.get(&x).into_iter().flatten() {
                if seen.insert(y) {
                    prev.insert(y, x);
                    stack.push(y);
                }
            }
        }
        if !hit {
            return false;
        }
        // The cycle a → b ⇒ a, as a lock list starting at a.
        let mut path = vec![a];
        let mut x = a;
        while x != b {
            x = prev[&x];
            path.push(x);
        }
        path.reverse(); // b … a
        let mut cycle = vec![a];
        cycle.extend(path.iter().copied().take(path.len() - 1)); // a, b, …
        let n = cycle.len();
        let edges: Vec<&Edge> = (0..n)
            .map(|i| &self.edges[&(cycle[i], cycle[(i + 1) % n])])
            .collect();
        if edges.iter().all(|e| e.read_read) {
            return false;
        }
        let mut key = cycle.clone();
        key.sort_unstable();
        if !self.reported.insert(key) {
            return false;
        }
        let inv = RawInversion {
            ids: cycle.clone(),
            locks: cycle.iter().map(|&l| self.locks[l as usize].site).collect(),
            edges: edges
                .iter()
                .map(|e| (e.goid, e.first.clone(), e.second.clone()))
                .collect(),
        };
        self.inversions.push(inv);
        true
    }

    /// `g` releases `tag`'s lock held in `mode` (`Write` also drops an `Announced`
    /// entry: a writer unwinding before it owned the lock).
    pub(crate) fn released(&mut self, tag: &mut LockTag, g: u64, mode: Mode) {
        if tag.run != self.run {
            return; // never locked in this run (e.g. unlock of a static across runs)
        }
        let lock = tag.id;
        let matches = |m: Mode| m == mode || (mode == Mode::Write && m == Mode::Announced);
        let hs = &mut self.holders[lock as usize];
        let owner = match hs.iter().position(|&(h, m)| h == g && matches(m)) {
            Some(i) => Some(hs.remove(i).0),
            None => {
                // Released by a goroutine that did not take it (Raw* hand-off).
                self.locks[lock as usize].handed = true;
                hs.iter()
                    .position(|&(_, m)| matches(m))
                    .map(|i| hs.remove(i).0)
            }
        };
        if let Some(o) = owner {
            if let Some(held) = self.held.get_mut(&o) {
                if let Some(i) = held.iter().rposition(|h| h.lock == lock && matches(h.mode)) {
                    let h = held.remove(i);
                    if h.stack != NO_STACK {
                        self.free_stacks.push(h.stack);
                    }
                }
            }
        }
    }
}

// ── hooks for the primitives (`sync/mutex.rs`, `sync/rwmutex.rs`) ─────────────────
// Each runs on the run's thread with the primitive's spin lock held (the tag lives
// under it) and never switches; outside a goroutine or during teardown they do
// nothing.

use crate::sched::partial;

/// The running goroutine took the lock (after parking, or at once; `try_`: without
/// blocking).
#[inline]
pub(crate) fn on_acquired(tag: &mut LockTag, mode: Mode, try_: bool) {
    let pcs = partial::acquisition_pcs();
    partial::lockdep(|ld, g| ld.acquired(tag, g, mode, try_, pcs));
}

/// The running goroutine releases the lock.
#[inline]
pub(crate) fn on_released(tag: &mut LockTag, mode: Mode) {
    partial::lockdep(|ld, g| ld.released(tag, g, mode));
}

/// The running rwmutex writer holds `w` and is about to wait for the readers.
pub(crate) fn on_announced(tag: &mut LockTag) {
    partial::lockdep(|ld, g| ld.announced(tag, g));
}

/// The lock was handed to the parked goroutine `g`.
#[inline]
pub(crate) fn on_granted(g: crate::sched::GRef) {
    // From any context: a stale `waiting` entry would be a false "blocked".
    partial::lockdep_any(|ld| ld.granted(g.id));
}

/// The running goroutine is about to park on the lock with `reason`: a wait-for cycle
/// closing now is recorded as a partial deadlock.
pub(crate) fn on_blocking(tag: &mut LockTag, reason: crate::sched::WaitReason) {
    let w = partial::wait_of_current(reason);
    let mode = match reason {
        crate::sched::WaitReason::RwMutexRLock => Mode::Read,
        _ => Mode::Write,
    };
    let pcs = if partial::lockdep(|ld, g| ld.blocking_needs_stack(g)).unwrap_or(false) {
        partial::acquisition_pcs()
    } else {
        Pcs::new()
    };
    let found = partial::lockdep(|ld, g| {
        ld.blocking(tag, g, w, mode, pcs);
        ld.closed_set(g).map(|set| (set, g))
    })
    .flatten();
    if let Some((set, g)) = found {
        partial::record_partial(set, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::WaitReason;

    fn wait(slot: u32) -> Wait {
        Wait::new(slot, WaitReason::MutexLock)
    }

    #[test]
    fn ab_ba_closes_a_wait_for_cycle_only_when_both_wait() {
        let mut ld = LockDep::new(true, false);
        let (mut a, mut b) = (LockTag::new(true), LockTag::new(true));
        ld.acquired(&mut a, 1, Mode::Write, false, Pcs::new());
        ld.acquired(&mut b, 2, Mode::Write, false, Pcs::new());
        ld.blocking(&mut b, 1, wait(0), Mode::Write, Pcs::new());
        assert!(ld.closed_set(1).is_none(), "goroutine 2 still runs");
        assert!(
            ld.blocking(&mut a, 2, wait(1), Mode::Write, Pcs::new()),
            "the attempt that deadlocks closes the order cycle too"
        );
        let mut set: Vec<u64> = ld.closed_set(2).unwrap().iter().map(|x| x.0).collect();
        set.sort_unstable();
        assert_eq!(set, vec![1, 2]);
        // Granting goroutine 1 its lock (it no longer waits) opens the cycle.
        ld.granted(1);
        assert!(ld.closed_set(2).is_none());
        // Recorded at the attempt, the inversion is in the report of a run that did
        // deadlock; taking the locks later adds nothing twice.
        assert_eq!(ld.inversions.len(), 1);
        assert!(!ld.acquired(&mut b, 1, Mode::Write, false, Pcs::new()));
        assert_eq!(ld.inversions.len(), 1);
    }

    #[test]
    fn raw_locks_and_lockless_waits_are_never_cycles() {
        let mut ld = LockDep::new(true, false);
        let mut raw = LockTag::new(false);
        ld.acquired(&mut raw, 1, Mode::Write, false, Pcs::new());
        ld.blocking(&mut raw, 1, wait(0), Mode::Write, Pcs::new());
        assert!(
            ld.closed_set(1).is_none(),
            "a raw lock may be unlocked by anyone"
        );
        let mut m = LockTag::new(true);
        ld.blocking(&mut m, 2, wait(1), Mode::Write, Pcs::new());
        assert!(ld.closed_set(2).is_none(), "no holder: not provable");
    }

    #[test]
    fn inversion_is_reported_once_with_both_edges() {
        let mut ld = LockDep::new(true, false);
        let (mut a, mut b) = (LockTag::new(true), LockTag::new(true));
        ld.acquired(&mut a, 1, Mode::Write, false, Pcs::new());
        assert!(!ld.acquired(&mut b, 1, Mode::Write, false, Pcs::new()));
        ld.released(&mut b, 1, Mode::Write);
        ld.released(&mut a, 1, Mode::Write);
        ld.acquired(&mut b, 2, Mode::Write, false, Pcs::new());
        assert!(ld.acquired(&mut a, 2, Mode::Write, false, Pcs::new()));
        ld.released(&mut a, 2, Mode::Write);
        ld.released(&mut b, 2, Mode::Write);
        assert_eq!(ld.inversions.len(), 1);
        assert_eq!(ld.inversions[0].edges.len(), 2);
        // Again: the same cycle is not reported twice.
        ld.acquired(&mut b, 3, Mode::Write, false, Pcs::new());
        assert!(!ld.acquired(&mut a, 3, Mode::Write, false, Pcs::new()));
        // Read-after-read in both directions is not an inversion.
        let (mut c, mut d) = (LockTag::new(true), LockTag::new(true));
        ld.acquired(&mut c, 4, Mode::Read, false, Pcs::new());
        ld.acquired(&mut d, 4, Mode::Read, false, Pcs::new());
        ld.acquired(&mut d, 5, Mode::Read, false, Pcs::new());
        assert!(!ld.acquired(&mut c, 5, Mode::Read, false, Pcs::new()));
        // A try-lock adds no edge into the lock it took.
        let (mut e, mut f) = (LockTag::new(true), LockTag::new(true));
        ld.acquired(&mut e, 6, Mode::Write, false, Pcs::new());
        ld.acquired(&mut f, 6, Mode::Write, true, Pcs::new());
        ld.acquired(&mut f, 7, Mode::Write, false, Pcs::new());
        assert!(!ld.acquired(&mut e, 7, Mode::Write, false, Pcs::new()));
    }
}
