//! The runtime side of the race detector: one [`RaceRun`] per run (the FastTrack
//! engine of `gosan_detector::hb`, the sync clocks keyed by address, the table of
//! access sites, the races found), and the hooks every primitive calls.
//!
//! # Hook contract (Go's `race.go` / `race0.go` split)
//! Every hook is a no-op unless the run has `detect_races` on (and the `race` cargo
//! feature, default on, is compiled in): the primitives call them unconditionally and
//! pay one branch. Every hook reaches the run's detector through the one race-context
//! accessor, `sched::with_race` (`sched/race_ctx.rs`), wrapped below by what the event
//! involves (`on_cur`, `on_parked`, `on_pair`, `on_run`); the accessor also applies
//! `halt_on_error` and the memory budget after each event. Hooks never switch goroutines; the public access annotations
//! (`read`, `write`, …) add one scheduling point before the access, so that
//! `check` can interleave instrumented accesses.
//!
//! Happens-before edges are made where the runtime performs the operation (channel
//! slots, mutex hand-off, …) with [`RaceClock`]s that live inside the primitive; a
//! clock written by an earlier run is treated as empty (clocks carry their run's id),
//! so a `static` primitive reused across runs never leaks edges between runs.
//!
//! # Sites
//! Each access is stamped with a site id: the caller's `Location` and return
//! address, plus (with `history_size > 0`) its whole stack as raw PCs. The engine
//! keeps the site of every recorded access, so the earlier access of a race is always
//! known. Symbolization happens when the report is built.
//!
//! # Memory lifecycle
//! Freed memory forgets its history ([`freed`]: shadow cells and the sync clocks keyed
//! inside the range), so a new object at the same address starts clean: channels
//! (`chan.rs`, `Drop` of the channel's state), `Shared`/`SharedVec`/`RaceCell`,
//! atomics and `WaitGroup` call it when dropped. A goroutine's stack goes back to the
//! pool when it finishes; the span of its own stack its accesses touched is forgotten
//! then (`RaceRun::goroutine_finished`), so the cost is what was touched, not the
//! stack's size.

use crate::capture::{self, Pcs};
use crate::sched::{self, GRef, G};
use gosan_detector::hb::{self, Engine, Race, SyncClock, Tid, Time};
use gosan_detector::AccessKind;
use std::cell::UnsafeCell;
use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

/// Whether the detector is compiled in (cargo feature `race`, default on). When off,
/// every hook compiles to nothing.
pub(crate) const ENABLED: bool = cfg!(feature = "race");

/// A synchronization object's clock, stamped with the run that last wrote it.
#[derive(Debug, Default)]
pub(crate) struct RaceClock {
    run: u64,
    clock: SyncClock,
}

impl RaceClock {
    pub(crate) const fn new() -> RaceClock {
        RaceClock {
            run: 0,
            clock: SyncClock::new_const(),
        }
    }

    /// The clock as of run `run` (empty if written by another run).
    fn of_run(&mut self, run: u64) -> &mut SyncClock {
        if self.run != run {
            self.run = run;
            self.clock = SyncClock::new();
        }
        &mut self.clock
    }
}

/// Where an access happened.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub(crate) loc: Option<&'static Location<'static>>,
    /// Return addresses, innermost first (one frame without history).
    pub(crate) pcs: Pcs,
}

/// A race before symbolization.
#[derive(Debug, Clone)]
pub(crate) struct RawRace {
    pub(crate) addr: u64,
    pub(crate) size: u64,
    pub(crate) current: AccessKind,
    pub(crate) previous: AccessKind,
    pub(crate) cur_goid: u64,
    pub(crate) cur_pcs: Pcs,
    pub(crate) prev_goid: u64,
    pub(crate) prev_site: Site,
    /// (goid, running, creation site) of each goroutine involved other than main.
    pub(crate) origins: Vec<(u64, bool, Site)>,
    /// Whether the previous access's whole stack was kept (`history_size > 0`);
    /// otherwise the report shows its innermost user frame only.
    pub(crate) history: bool,
}

static RUN_IDS: AtomicU64 = AtomicU64::new(1);

/// FNV-1a over return addresses: the key of an interned stack.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

#[inline]
fn fnv_step(h: u64, pc: usize) -> u64 {
    (h ^ pc as u64).wrapping_mul(0x0100_0000_01b3)
}

/// Hasher for keys that are already well mixed (site hashes): one multiply.
#[derive(Default)]
struct MixHasher(u64);

impl std::hash::Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type MixMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<MixHasher>>;

/// One goroutine that held a slot: 16 bytes, one per goroutine the run created.
#[derive(Debug, Clone, Copy)]
struct Occupant {
    /// Its first own clock value (an epoch of the slot at or above it and below the
    /// next occupant's is its).
    start: Time,
    /// Its creation site, and [`FINISHED`] once it returned.
    site: u32,
    goid: u64,
}

/// The bit of `Occupant::site` that says the goroutine finished.
const FINISHED: u32 = 1 << 31;

impl Occupant {
    fn site(&self) -> u32 {
        self.site & !FINISHED
    }

    fn running(&self) -> bool {
        self.site & FINISHED == 0
    }
}

const _: () = assert!(std::mem::size_of::<Occupant>() == 16);

/// The addresses a goroutine's accesses touched on its own stack: `[lo, hi)`, empty
/// while `lo >= hi`.
///
/// Only the owner's accesses are tracked (one compare against the running goroutine's
/// bounds, which the hook has at hand); an access by another goroutine to this stack
/// (a pointer to a local handed over a channel) is not, and its history stays until
/// the address is written again in order or the run ends.
#[derive(Debug, Clone, Copy)]
struct StackSpan {
    lo: u64,
    hi: u64,
}

impl StackSpan {
    const EMPTY: StackSpan = StackSpan {
        lo: u64::MAX,
        hi: 0,
    };
}

/// The detector state of one run.
pub(crate) struct RaceRun {
    pub(crate) run: u64,
    engine: Engine,
    addr_clocks: MixMap<u64, SyncClock>,
    sites: Vec<Site>,
    site_index: MixMap<(usize, usize, u64), u32>,
    /// Sites of inline-shadow accesses without history: (location, the return
    /// address above the hook) → site (see [`RaceRun::site_fast`]).
    fast_sites: MixMap<(usize, usize), u32>,
    /// Sites of instrumented accesses without history: (the instrumented code's
    /// return address, the innermost user frame's) → site (see
    /// [`RaceRun::site_pc`]).
    pc_sites: MixMap<(usize, usize), u32>,
    /// Per goroutine slot, each occupant in turn (indexed by slot rather than by
    /// goroutine id, so a run's millionth goroutine costs what its tenth did).
    occupants: Vec<Vec<Occupant>>,
    /// Per goroutine slot, the part `[lo, hi)` of the running goroutine's own stack
    /// that its accesses touched (`lo >= hi`: none). Forgotten when it finishes, so a
    /// pooled stack reaches its next goroutine with clean shadow at the cost of what
    /// was touched, not of the 256 KiB stack (see [`StackSpan`]).
    stack_touched: Vec<StackSpan>,
    pub(crate) races: Vec<RawRace>,
    seen: HashSet<(usize, usize, usize, usize)>,
    history: bool,
    pub(crate) halt_on_error: bool,
    /// `hb::live_nodes()` when the run started: the run's clocks hold what is above.
    nodes_at_start: usize,
}

/// Vector-clock storage, in 8-byte entries, the run's clocks may hold before its
/// detector stops: past this the report says detection stopped, instead of the
/// process running out of memory. Clocks share their large part (`hb::tree`: a
/// goroutine that synchronizes with a hub shares the hub's clock instead of copying
/// it), so what is counted is the shared tree nodes alive, each once
/// (`hb::live_nodes`, counted on the run's thread); the short per-clock deltas are
/// bounded by `hb::clock::MAX_DELTA` entries per goroutine or sync object and not
/// counted. 64M entries ≈ 512 MiB.
pub(crate) const CLOCK_ENTRY_BUDGET: usize = 64 << 20;

/// Bytes of one tree node with its allocation header, in 8-byte entries.
const NODE_ENTRIES: usize = 280 / 8;

impl RaceRun {
    pub(crate) fn new(history: bool, halt_on_error: bool) -> RaceRun {
        RaceRun {
            run: RUN_IDS.fetch_add(1, Ordering::Relaxed),
            engine: Engine::new(),
            addr_clocks: MixMap::default(),
            sites: vec![Site {
                loc: None,
                pcs: Pcs::new(),
            }],
            site_index: MixMap::default(),
            fast_sites: MixMap::default(),
            pc_sites: MixMap::default(),
            occupants: Vec::new(),
            stack_touched: Vec::new(),
            races: Vec::new(),
            seen: HashSet::new(),
            history,
            halt_on_error,
            nodes_at_start: hb::live_nodes(),
        }
    }

    /// Why detection must stop now, if the clocks outgrew [`CLOCK_ENTRY_BUDGET`].
    /// Called at every scheduling point: one thread-local read when within budget.
    #[inline]
    pub(crate) fn over_budget(&self) -> Option<String> {
        let nodes = hb::live_nodes().saturating_sub(self.nodes_at_start);
        if nodes * NODE_ENTRIES > CLOCK_ENTRY_BUDGET {
            self.over_budget_note()
        } else {
            None
        }
    }

    #[cold]
    #[inline(never)]
    fn over_budget_note(&self) -> Option<String> {
        Some(format!(
                "race detection stopped: vector clocks of the live goroutines exceeded {} entries ({} MiB) with {} goroutines alive; races after this point are not reported",
                CLOCK_ENTRY_BUDGET,
                (CLOCK_ENTRY_BUDGET * 8) >> 20,
                self.engine.threads().running_count()
            ))
    }

    /// A goroutine `goid` was created by `parent` (`None`: main, or a timer).
    pub(crate) fn goroutine_created(
        &mut self,
        parent: Option<Tid>,
        goid: u64,
        creation: u32,
    ) -> Tid {
        let tid = self.engine.goroutine_created(parent);
        let start = self.engine.thread(tid).clock().get(tid);
        let i = tid.index();
        if self.occupants.len() <= i {
            self.occupants.resize_with(i + 1, Vec::new);
        }
        debug_assert_eq!(creation & FINISHED, 0, "more than 2^31 sites");
        let occupants = &mut self.occupants[i];
        if occupants.capacity() == 0 {
            occupants.reserve_exact(1); // most slots never see a second occupant
        }
        occupants.push(Occupant {
            start,
            site: creation,
            goid,
        });
        tid
    }

    pub(crate) fn goroutine_finished(&mut self, tid: Tid, goid: u64) {
        self.engine.goroutine_finished(tid);
        // Its stack goes back to the pool: forget what its accesses left there.
        if let Some(span) = self.stack_touched.get_mut(tid.index()) {
            let StackSpan { lo, hi } = std::mem::replace(span, StackSpan::EMPTY);
            if lo < hi {
                self.forget(lo, hi - lo);
            }
        }
        if let Some(o) = self
            .occupants
            .get_mut(tid.index())
            .and_then(|v| v.last_mut())
        {
            debug_assert_eq!(o.goid, goid);
            o.site |= FINISHED;
        }
    }

    /// Notes an access of `len` bytes at `addr` by the running goroutine `g`: if it is
    /// on `g`'s own stack, widens the span forgotten when `g` finishes. One compare
    /// for an access elsewhere.
    #[inline]
    pub(crate) fn note_stack(&mut self, g: &G, addr: u64, len: u64) {
        if addr >= g.lo as u64 && addr < g.hi as u64 {
            self.note_stack_slow(g.tid, addr, len);
        }
    }

    #[cold]
    fn note_stack_slow(&mut self, tid: Tid, addr: u64, len: u64) {
        let i = tid.index();
        if self.stack_touched.len() <= i {
            self.stack_touched.resize(i + 1, StackSpan::EMPTY);
        }
        let span = &mut self.stack_touched[i];
        span.lo = span.lo.min(addr);
        span.hi = span.hi.max(addr.saturating_add(len));
    }

    /// Memory `addr..addr + len` was freed: its access history and the sync clocks
    /// keyed inside it are forgotten (a new object at the same address must not
    /// inherit edges or accesses).
    pub(crate) fn forget(&mut self, addr: u64, len: u64) {
        self.engine.freed(addr, len);
        if len <= 64 {
            for a in addr..addr.saturating_add(len) {
                self.addr_clocks.remove(&a);
            }
        } else {
            let end = addr.saturating_add(len);
            self.addr_clocks.retain(|&a, _| a < addr || a >= end);
        }
    }

    /// Interns a site: `loc` + the caller's stack from frame pointer `fp` within
    /// `[lo, hi)` (whole stack with history, one frame without).
    ///
    /// # Safety
    /// `[lo, hi)` is readable for the whole call (the running goroutine's stack, `fp`
    /// a frame pointer on it): see `capture::frames`.
    pub(crate) unsafe fn site(
        &mut self,
        loc: Option<&'static Location<'static>>,
        fp: usize,
        lo: usize,
        hi: usize,
    ) -> u32 {
        // Without history a few frames suffice to find the innermost user frame
        // (the report keeps only that one).
        let depth = if self.history { capture::MAX_FRAMES } else { 6 };
        // Hash the chain while walking it; the PCs are only collected for a new site.
        let mut h = FNV_OFFSET;
        let mut first = 0;
        // SAFETY: per this function's contract.
        unsafe {
            capture::frames(fp, lo, hi, depth, |pc| {
                if first == 0 {
                    first = pc;
                }
                h = fnv_step(h, pc);
            })
        };
        let key = (loc.map_or(0, |l| l as *const _ as usize), first, h);
        self.intern(key, || Site {
            loc,
            // SAFETY: per this function's contract.
            pcs: match unsafe { capture::walk(fp, lo, hi, depth) } {
                // No frame pointers (a user crate built without them): the walk is
                // empty, so the site is its location alone and this runs once per
                // location; unwind with DWARF so the report names the function.
                pcs if pcs.is_empty() => capture::unwind(lo, hi, depth + capture::INTERNAL_FRAMES),
                pcs => pcs,
            },
        })
    }

    /// The site of an inline-shadow access ([`access_inline`]) without history:
    /// keyed by `loc` and the return address above the hook's frame `fp` (one load,
    /// not a walk). Only a new site walks a few frames, to keep the innermost user
    /// frame that a report shows for the previous access (the `Location` names the
    /// user's line; a same-key site from another caller chain differs only in frames
    /// such a report drops). With `history_size > 0` every recording access walks
    /// and hashes the whole stack, as [`site`](Self::site) does: up to
    /// `capture::MAX_FRAMES` frame loads and hash steps per access that records
    /// something (not on the same-epoch path), and the stack kept per distinct site.
    ///
    /// # Safety
    /// As [`site`](Self::site).
    #[inline]
    unsafe fn site_fast(
        &mut self,
        loc: &'static Location<'static>,
        fp: usize,
        lo: usize,
        hi: usize,
    ) -> u32 {
        if self.history {
            // SAFETY: per this function's contract.
            return unsafe { self.site(Some(loc), fp, lo, hi) };
        }
        let mut ret = [0usize; 1];
        // SAFETY: per this function's contract.
        unsafe { capture::walk_array(&mut ret, fp, lo, hi) };
        let key = (loc as *const _ as usize, ret[0]);
        if let Some(&id) = self.fast_sites.get(&key) {
            return id;
        }
        let id = self.sites.len() as u32;
        self.sites.push(Site {
            loc: Some(loc),
            // SAFETY: per this function's contract.
            pcs: unsafe { capture::walk(fp, lo, hi, 6) },
        });
        self.fast_sites.insert(key, id);
        id
    }

    /// The site of an instrumented access (`instrumented::access`) without history:
    /// keyed by the two return addresses the shim's classification already read —
    /// `pc`, the instrumented code that called the shim, and `user_pc`, the innermost
    /// frame classified as the user's (the same as `pc` unless std or other neutral
    /// code was monomorphized in between) — so an access that records something pays
    /// one hash-map lookup and no stack walk. Only a new site walks a few frames, for
    /// the innermost user frame a report shows for the previous access; a same-key
    /// site from another caller chain differs only in frames such a report drops.
    /// With `history_size > 0` every recording access walks and hashes the whole
    /// stack instead, as [`site`](Self::site) does (up to `capture::MAX_FRAMES` frame
    /// loads and hash steps, plus the stack kept per distinct site); accesses that the
    /// same-epoch check skips never pay for a site.
    ///
    /// # Safety
    /// As [`site`](Self::site).
    #[inline]
    pub(crate) unsafe fn site_pc(
        &mut self,
        pc: usize,
        user_pc: usize,
        fp: usize,
        lo: usize,
        hi: usize,
    ) -> u32 {
        if self.history {
            // SAFETY: per this function's contract.
            return unsafe { self.site(None, fp, lo, hi) };
        }
        if let Some(&id) = self.pc_sites.get(&(pc, user_pc)) {
            return id;
        }
        // SAFETY: per this function's contract.
        let id = unsafe { self.site(None, fp, lo, hi) };
        self.pc_sites.insert((pc, user_pc), id);
        id
    }

    /// FastTrack's same-epoch check for an access of `kind` by `tid` (see
    /// `Engine::same_epoch`): `true` when the access would change nothing.
    #[inline(always)]
    pub(crate) fn same_epoch(&self, tid: Tid, addr: u64, size: u64, kind: AccessKind) -> bool {
        self.engine.same_epoch(tid, addr, size, kind)
    }

    /// The id of the site under `key`, creating it with `make` the first time.
    fn intern(&mut self, key: (usize, usize, u64), make: impl FnOnce() -> Site) -> u32 {
        if let Some(&id) = self.site_index.get(&key) {
            return id;
        }
        let id = self.sites.len() as u32;
        self.sites.push(make());
        self.site_index.insert(key, id);
        id
    }

    /// The goroutine that made the event `clock@tid`.
    fn occupant(&self, tid: Tid, clock: Time) -> Option<Occupant> {
        self.occupants
            .get(tid.index())
            .and_then(|occ| occ.iter().rev().find(|o| o.start <= clock))
            .copied()
    }

    /// Records a race found by the current access (cold path).
    ///
    /// # Safety
    /// As [`site`](Self::site): `[lo, hi)` is the running goroutine's stack and `fp`
    /// a frame pointer on it.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn race_found(
        &mut self,
        race: Race,
        size: u64,
        cur_tid: Tid,
        cur_goid: u64,
        cur_site: u32,
        fp: usize,
        lo: usize,
        hi: usize,
    ) {
        let prev_site = self.sites[race.previous_site as usize].clone();
        let cur = &self.sites[cur_site as usize];
        let site_key = |s: &Site| {
            (
                s.loc.map_or(0, |l| l as *const _ as usize),
                s.pcs.first().copied().unwrap_or(0),
            )
        };
        let (a, b) = site_key(cur);
        let (c, d) = site_key(&prev_site);
        if !self.seen.insert((a, b, c, d)) {
            return; // one report per distinct pair of sites
        }
        let prev = self.occupant(race.previous_epoch.tid(), race.previous_epoch.clock());
        let prev_goid = prev.map_or(0, |o| o.goid);
        let cur = self
            .occupants
            .get(cur_tid.index())
            .and_then(|v| v.last().copied());
        let mut origins = Vec::new();
        for o in [cur, prev].into_iter().flatten() {
            if o.goid > 1 && !origins.iter().any(|(id, _, _)| *id == o.goid) {
                origins.push((o.goid, o.running(), self.sites[o.site() as usize].clone()));
            }
        }
        self.races.push(RawRace {
            addr: race.addr,
            size,
            current: race.current,
            previous: race.previous,
            cur_goid,
            // SAFETY: per this function's contract. DWARF-unwound (cold): complete
            // without frame pointers too.
            cur_pcs: unsafe { capture::running_stack(fp, lo, hi) },
            prev_goid,
            prev_site,
            origins,
            history: self.history,
        });
    }

    /// A creation site: the `go` call's location and the creator's stack.
    pub(crate) fn creation_site(&mut self, loc: &'static Location<'static>, pcs: &Pcs) -> u32 {
        let h = pcs.iter().fold(FNV_OFFSET, |h, &pc| fnv_step(h, pc));
        // `usize::MAX` in the middle keeps creation sites apart from access sites.
        let key = (loc as *const _ as usize, usize::MAX, h);
        self.intern(key, || Site {
            loc: Some(loc),
            pcs: if pcs.is_empty() {
                creator_unwound()
            } else {
                pcs.clone()
            },
        })
    }

    pub(crate) fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// `tid` acquires `clock`.
    fn acquire_sync(&mut self, tid: Tid, clock: &SyncClock) {
        self.engine.acquired(tid, clock);
    }

    /// `tid` releases into `clock` (store, or merge).
    fn release_sync(&mut self, tid: Tid, clock: &mut SyncClock, merge: bool) {
        if merge {
            self.engine.released_merge(tid, clock);
        } else {
            self.engine.released(tid, clock);
        }
    }

    /// `a` and `b` synchronize both ways (an unbuffered hand-off).
    pub(crate) fn exchange(&mut self, a: Tid, b: Tid) {
        self.engine.exchanged(a, b);
    }

    pub(crate) fn acquire(&mut self, tid: Tid, c: &mut RaceClock) {
        let run = self.run;
        self.acquire_sync(tid, c.of_run(run));
    }

    pub(crate) fn release(&mut self, tid: Tid, c: &mut RaceClock) {
        let run = self.run;
        self.release_sync(tid, c.of_run(run), false);
    }

    pub(crate) fn release_merge(&mut self, tid: Tid, c: &mut RaceClock) {
        let run = self.run;
        self.release_sync(tid, c.of_run(run), true);
    }

    /// Release into the sync clock keyed by `addr` (annotations, atomics).
    fn release_addr(&mut self, tid: Tid, addr: u64, merge: bool) {
        let mut c = std::mem::take(self.addr_clock(addr));
        self.release_sync(tid, &mut c, merge);
        *self.addr_clock(addr) = c;
    }

    pub(crate) fn clock_into(&mut self, src: &mut RaceClock, dst: &mut RaceClock) {
        let run = self.run;
        let src = src.of_run(run).clone();
        dst.of_run(run).join_from(&src);
    }

    fn addr_clock(&mut self, addr: u64) -> &mut SyncClock {
        self.addr_clocks.entry(addr).or_default()
    }
}

// ── the race context (`sched::with_race`), by what an event involves ────────────

/// An event of the running goroutine `g`.
#[inline]
pub(crate) fn on_cur<R>(f: impl FnOnce(&mut RaceRun, &G) -> R) -> Option<R> {
    sched::with_race(|c| {
        let g = c.cur?;
        Some(f(c.run, g))
    })
}

/// An event on behalf of parked goroutine `g` (completed by the running one or by a
/// timer); `None` when `g`'s slot holds another goroutine now.
#[inline]
fn on_parked<R>(g: GRef, f: impl FnOnce(&mut RaceRun, Tid) -> R) -> Option<R> {
    sched::with_race(|c| {
        let tid = c.tid_of(g)?;
        Some(f(c.run, tid))
    })
}

/// An event between the running goroutine and parked goroutine `g`.
#[inline]
fn on_pair<R>(g: GRef, f: impl FnOnce(&mut RaceRun, Tid, Tid) -> R) -> Option<R> {
    sched::with_race(|c| {
        let cur = c.cur?.tid;
        let other = c.tid_of(g)?;
        Some(f(c.run, cur, other))
    })
}

/// An event of the run, goroutine or not (timers, frees, clock drops).
#[inline]
fn on_run<R>(f: impl FnOnce(&mut RaceRun) -> R) -> Option<R> {
    sched::with_race(|c| Some(f(c.run)))
}

// ── hooks for the runtime's primitives (no scheduling point) ────────────────────

/// The running goroutine acquires `c` (lock, receive, wait returns…).
#[inline]
pub(crate) fn acquire(c: &mut RaceClock) {
    if ENABLED {
        on_cur(|r, g| r.acquire(g.tid, c));
    }
}

/// The running goroutine release-stores into `c` (unlock, send into a slot…).
#[inline]
pub(crate) fn release(c: &mut RaceClock) {
    if ENABLED {
        on_cur(|r, g| r.release(g.tid, c));
    }
}

/// The running goroutine release-merges into `c` (`RUnlock`, `Done`, signal…).
#[inline]
pub(crate) fn release_merge(c: &mut RaceClock) {
    if ENABLED {
        on_cur(|r, g| r.release_merge(g.tid, c));
    }
}

/// Goroutine `g` (parked, being completed by the running one) acquires `c`.
#[inline]
pub(crate) fn acquire_for(g: GRef, c: &mut RaceClock) {
    if ENABLED {
        on_parked(g, |r, tid| r.acquire(tid, c));
    }
}

/// Goroutine `g` (parked, being completed by the running one) release-stores into `c`.
#[inline]
pub(crate) fn release_for(g: GRef, c: &mut RaceClock) {
    if ENABLED {
        on_parked(g, |r, tid| r.release(tid, c));
    }
}

/// The running goroutine and parked goroutine `g` synchronize both ways: Go's
/// `racesync` for an unbuffered hand-off (send → receive completes, receive → send
/// completes).
#[inline]
pub(crate) fn exchange_with(g: GRef) {
    if ENABLED {
        on_pair(g, |r, cur, other| r.exchange(cur, other));
    }
}

/// `dst ⊔= src` on behalf of no goroutine (a timer firing sends what arming released).
#[inline]
pub(crate) fn clock_into(src: &mut RaceClock, dst: &mut RaceClock) {
    if ENABLED {
        on_run(|r| r.clock_into(src, dst));
    }
}

/// A memory access by the running goroutine, for the runtime's own race targets (a
/// channel's send/close, a WaitGroup's counter): no scheduling point.
#[inline]
#[track_caller]
pub fn access(addr: u64, size: u64, write: bool, atomic: bool) {
    if ENABLED {
        access_at(Location::caller(), addr, size, write, atomic);
    }
}

/// [`access`] with an explicit location (a `select!` arm, whose caller location is
/// the `select!`).
#[inline]
pub(crate) fn access_loc(
    loc: &'static Location<'static>,
    addr: u64,
    size: u64,
    write: bool,
    atomic: bool,
) {
    if ENABLED {
        access_at(loc, addr, size, write, atomic);
    }
}

/// `#[inline(never)]`: its own frame pointer starts the walk, so the first frame is
/// the function that made the access.
#[inline(never)]
fn access_at(loc: &'static Location<'static>, addr: u64, size: u64, write: bool, atomic: bool) {
    let fp = capture::frame_pointer();
    on_cur(|r, g| {
        // SAFETY: `fp` is our own frame pointer, on the running goroutine `g`'s stack
        // `[lo, hi)`, which is live while we run on it.
        let site = unsafe { r.site(Some(loc), fp, g.lo, g.hi) };
        r.note_stack(g, addr, size);
        let res = if write {
            r.engine().write(g.tid, addr, size, site, atomic)
        } else {
            r.engine().read(g.tid, addr, size, site, atomic)
        };
        if let Err(race) = res {
            // SAFETY: as for `site` above.
            unsafe { r.race_found(race, size, g.tid, g.id, site, fp, g.lo, g.hi) };
        }
    });
}

/// The shadow of one location that keeps it in its object's own allocation (a
/// `Shared<T>`'s or `RaceCell<T>`'s value, a `SharedVec<T>`'s length or element): a
/// FastTrack [`hb::Cell`] for the whole value, stamped with the run
/// that wrote it (a cell written by an earlier run is treated as empty, as
/// `RaceClock`s are).
///
/// It moves and dies with its object, so neither a move (`Vec` growth moving a
/// `RaceCell`) nor a free leaves history at an address, and an access finds its shadow
/// without a lookup.
///
/// # Access protocol
/// Read and written only by [`access_inline`], on the run's thread, while the caller
/// holds the object's borrow (`gosan-instrument`'s borrow word): the borrow word's
/// thread rule lets one OS thread at a time inside an access of the object, and its
/// `Release`/`Acquire` pair orders consecutive threads' accesses.
#[derive(Default)]
pub struct InlineShadow {
    state: UnsafeCell<InlineState>,
}

#[derive(Default)]
struct InlineState {
    run: u64,
    cell: hb::Cell,
}

// SAFETY: the state is reached only through `access_inline`, whose callers guarantee
// (its `# Safety`) that no other thread is inside an access of the same object.
unsafe impl Sync for InlineShadow {}

impl std::fmt::Debug for InlineShadow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InlineShadow")
    }
}

impl InlineShadow {
    /// An empty shadow (no history).
    pub fn new() -> InlineShadow {
        InlineShadow::default()
    }
}

/// An access of `size` bytes at `addr` (the value whose shadow is `shadow`) by the
/// running goroutine: the shared-memory fast path. No scheduling point, no lookup:
/// after the run's context, the run-stamp check and FastTrack's same-epoch compare
/// (an access already recorded in this epoch ends there). Otherwise the site is the
/// caller's `Location` plus the return address (`RaceRun::site_fast`) and the cell
/// is updated by [`Engine::cell_access`]; the whole stack is walked only when a race
/// is reported.
///
/// # Safety
/// The caller holds the borrow of the object that owns `shadow` on this thread for
/// the whole call (see [`InlineShadow`]'s access protocol), and calls no other hook
/// on the same shadow re-entrantly.
#[inline]
#[track_caller]
pub unsafe fn access_inline(shadow: &InlineShadow, addr: u64, size: u64, write: bool) {
    if ENABLED {
        // SAFETY: per this function's contract.
        unsafe { inline_at(Location::caller(), shadow, addr, size, write) };
    }
}

/// `#[inline(never)]`: its own frame pointer starts the site and the report's walk.
///
/// # Safety
/// As [`access_inline`].
#[inline(never)]
unsafe fn inline_at(
    loc: &'static Location<'static>,
    shadow: &InlineShadow,
    addr: u64,
    size: u64,
    write: bool,
) {
    let fp = capture::frame_pointer();
    on_cur(|r, g| {
        // SAFETY: per the contract, this thread alone is inside an access of the
        // object, and nothing else holds a reference into its shadow state.
        let st = unsafe { &mut *shadow.state.get() };
        if st.run != r.run {
            st.run = r.run;
            st.cell = hb::Cell::new();
        }
        let kind = AccessKind::new(write, false);
        if r.engine.cell_same_epoch(g.tid, &st.cell, kind) {
            return; // [Read Same Epoch], [Write Same Epoch]
        }
        // SAFETY: `fp` is our own frame pointer, on the running goroutine `g`'s stack
        // `[lo, hi)`, which is live while we run on it.
        let site = unsafe { r.site_fast(loc, fp, g.lo, g.hi) };
        if let Err(race) = r.engine.cell_access(g.tid, &mut st.cell, addr, kind, site) {
            // SAFETY: as for `site` above.
            unsafe { r.race_found(race, size, g.tid, g.id, site, fp, g.lo, g.hi) };
        }
    });
}

#[inline(never)]
fn range_at(loc: &'static Location<'static>, addr: u64, len: u64, write: bool) {
    let fp = capture::frame_pointer();
    on_cur(|r, g| {
        // SAFETY: `fp` is our own frame pointer, on the running goroutine `g`'s stack
        // `[lo, hi)`, which is live while we run on it.
        let site = unsafe { r.site(Some(loc), fp, g.lo, g.hi) };
        r.note_stack(g, addr, len);
        let res = if write {
            r.engine().write_range(g.tid, addr, len, site)
        } else {
            r.engine().read_range(g.tid, addr, len, site)
        };
        if let Err(race) = res {
            // SAFETY: as for `site` above.
            unsafe { r.race_found(race, len, g.tid, g.id, site, fp, g.lo, g.hi) };
        }
    });
}

// ── the public annotations (Go's runtime.RaceRead & co.) ────────────────────────

/// The exploration key of an access of `size` bytes at `addr`: its 8-byte granule
/// when it lies within one, else 0 (unknown: dependent with everything), so two
/// overlapping accesses always share a key.
fn granule(addr: usize, size: usize) -> usize {
    if size <= 8 && (addr & 7) + size.max(1) <= 8 {
        (addr & !7) | 1
    } else {
        0
    }
}

/// `size_of::<T>()` bytes at `p` were read by the running goroutine (Go's
/// `runtime.RaceRead`). A scheduling point.
#[inline]
#[track_caller]
pub fn read<T>(p: *const T) {
    sched::sched_point_on(granule(p as usize, std::mem::size_of::<T>()));
    if ENABLED {
        access_at(
            Location::caller(),
            p as u64,
            std::mem::size_of::<T>() as u64,
            false,
            false,
        );
    }
}

/// `size_of::<T>()` bytes at `p` were written (Go's `runtime.RaceWrite`).
#[inline]
#[track_caller]
pub fn write<T>(p: *const T) {
    sched::sched_point_on(granule(p as usize, std::mem::size_of::<T>()));
    if ENABLED {
        access_at(
            Location::caller(),
            p as u64,
            std::mem::size_of::<T>() as u64,
            true,
            false,
        );
    }
}

/// `len` bytes from `p` were read (Go's `runtime.RaceReadRange`).
#[inline]
#[track_caller]
pub fn read_range(p: *const u8, len: usize) {
    sched::sched_point();
    if ENABLED && len > 0 {
        range_at(Location::caller(), p as u64, len as u64, false);
    }
}

/// `len` bytes from `p` were written (Go's `runtime.RaceWriteRange`).
#[inline]
#[track_caller]
pub fn write_range(p: *const u8, len: usize) {
    sched::sched_point();
    if ENABLED && len > 0 {
        range_at(Location::caller(), p as u64, len as u64, true);
    }
}

/// An atomic access of `size` bytes at `addr` (instrumented atomics): never races with
/// another atomic access, races with a plain one. No scheduling point (the atomic
/// operation has its own).
#[inline]
#[track_caller]
pub(crate) fn atomic_access(addr: u64, size: u64, write: bool) {
    if ENABLED {
        access_at(Location::caller(), addr, size, write, true);
    }
}

/// The running goroutine acquires the sync clock keyed by `p` (Go's
/// `runtime.RaceAcquire`).
#[inline]
pub(crate) fn acquire_addr<T>(p: *const T) {
    if ENABLED {
        let addr = p as u64;
        on_cur(|r, g| {
            let c = r.addr_clock(addr).clone();
            r.acquire_sync(g.tid, &c);
        });
    }
}

/// Release-store into the sync clock keyed by `p` (Go's `runtime.RaceRelease`).
#[inline]
pub(crate) fn release_addr<T>(p: *const T) {
    if ENABLED {
        let addr = p as u64;
        on_cur(|r, g| r.release_addr(g.tid, addr, false));
    }
}

/// Release-merge into the sync clock keyed by `p` (Go's `runtime.RaceReleaseMerge`).
#[inline]
pub(crate) fn release_merge_addr<T>(p: *const T) {
    if ENABLED {
        let addr = p as u64;
        on_cur(|r, g| r.release_addr(g.tid, addr, true));
    }
}

/// Go's `runtime.RaceAcquire`: see `acquire_addr`. A scheduling point.
#[track_caller]
pub fn acquire_annotation<T>(p: *const T) {
    sched::sched_point();
    acquire_addr(p);
}

/// Go's `runtime.RaceRelease`: see `release_addr`. A scheduling point.
#[track_caller]
pub fn release_annotation<T>(p: *const T) {
    sched::sched_point();
    release_addr(p);
}

/// Go's `runtime.RaceReleaseMerge`: see `release_merge_addr`. A scheduling point.
#[track_caller]
pub fn release_merge_annotation<T>(p: *const T) {
    sched::sched_point();
    release_merge_addr(p);
}

/// Memory `addr..addr + len` was freed: its access history is forgotten.
#[inline]
pub fn freed(addr: u64, len: u64) {
    if ENABLED && len > 0 {
        on_run(|r| r.forget(addr, len));
    }
}

/// Whether the running goroutine's run detects races.
#[inline]
pub(crate) fn active() -> bool {
    sched::detecting()
}

/// A creation site without a frame-pointer walk (code built without frame pointers):
/// the creating goroutine's stack unwound with DWARF, once per `go` location (the
/// site is then keyed by the location alone). Empty outside a goroutine.
#[cold]
fn creator_unwound() -> Pcs {
    let g = crate::sched::current_g_ptr();
    if g.is_null() {
        return Pcs::new();
    }
    // SAFETY: the running goroutine's record (CUR_G); plain reads.
    let (lo, hi) = unsafe { ((*g).lo, (*g).hi) };
    capture::unwind(lo, hi, capture::MAX_FRAMES + capture::INTERNAL_FRAMES)
}
