//! Guided choosers: bounded-exhaustive exploration (`Strategy::Exhaustive`), the
//! tolerant replay that shrinking uses, and fuzzer bytes (`gosan::fuzz`). All three
//! see every recorded decision the same way: a list of alternatives in a canonical
//! order (alternative 0 is the *default*: keep running the current goroutine, or at a
//! yield or a park the runnable goroutine with the lowest id) and the index taken.
//! Goroutine decisions (`decide`) carry goroutine ids; any other recorded choice
//! (`choose(n)`: a select's ready arm, and whatever kinds are added through it) is an
//! "other" decision with alternatives `0..n`. The run's [`Record`] is written exactly
//! as under the other strategies, so every report's schedule is a strict replay token.
//!
//! # Exhaustive mode
//! Stateless depth-first search over the decision tree (Godefroid, VeriSoft, POPL
//! 1997): each run replays the prefix of the previous run up to the deepest node with
//! an unexplored alternative, takes that alternative, then defaults. A run is a pure
//! function of its decisions, so the prefix reaches the same node; a harness that is
//! not (real time, OS randomness) is detected (the node's alternatives differ) and
//! reported as a clear error.
//!
//! **Preemption bounding** (Musuvathi & Qadeer, "Iterative context bounding for
//! systematic testing of multithreaded programs", PLDI 2007): a preemption is taking a
//! goroutine other than the current one while the current one is still runnable and
//! did not yield; at a yield (`gosched`, a `select!` default, a failed `try_*`)
//! switching is free and running the yielder again costs one preemption (else a spin
//! loop would be an infinite path). A park or a goroutine's exit switches for free.
//! Alternatives that would exceed the bound are never taken.
//!
//! **Sleep sets** (Godefroid, "Partial-Order Methods for the Verification of
//! Concurrent Systems", LNCS 1032, 1996), only when the bound is unlimited
//! (`exhaustive:inf`): after alternative `p` was explored at node `s`, `p` sleeps in
//! the subtrees of `s`'s later alternatives until a transition dependent with `p`'s
//! transition runs; a sleeping goroutine is not taken, and a run whose every
//! alternative sleeps is cut short (counted as pruned, not as a schedule). Combined
//! naively with a finite preemption bound sleep sets are unsound (the equivalent
//! schedule they rely on may need more preemptions than the pruned one: Coons,
//! Musuvathi & McKinley, "Bounded partial-order reduction", OOPSLA 2013), so a finite
//! bound explores without reduction. DPOR-style backtracking (Flanagan & Godefroid,
//! "Dynamic partial-order reduction for model checking software", POPL 2005) is not
//! implemented: every alternative within the bound is a backtrack point.
//!
//! **Transitions and independence.** A transition is what a goroutine runs from one
//! scheduling point (or its resumption after a park) to the next. Its footprint is
//! *known* only when it started at a keyed scheduling point ([`sched_point_on`]: a
//! channel send/receive/close, a mutex lock, a plain memory access within one 8-byte
//! granule) or at the resumption of a park inside such an operation; it is then the
//! key plus the address of every runtime state lock (`SpinLock`: the state of every
//! channel and primitive) taken during the transition. Anything else is *unknown* and
//! dependent with everything (sound). Two known footprints are independent when they
//! share no key. A transition that is not isolated — a goroutine exits, a decision of
//! another kind, a switch with a single candidate, a scheduling point with nobody else
//! runnable — empties the sleep set (sound: a smaller sleep set prunes less).
//! Assumption (documented in README): code between two scheduling points touches no
//! state other goroutines can observe except through gosan's primitives.
//!
//! # Invariants
//! - Alternative 0 of every decision costs no preemption, so the first run of a tree
//!   and every run's tail (past the replayed prefix) stay within any bound.
//! - A node's `done` holds exactly the alternatives explored before `chosen`.
//! - `sleep` only names goroutines that are runnable at that node and did not run
//!   since they were explored.
//!
//! [`Record`]: super::strategy::Record
//! [`sched_point_on`]: super::sched_point_on

use super::g::GState;
use super::Sched;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs in progress (any thread) whose chooser tracks footprints: `touch` is a
/// no-op (one relaxed load) while this is zero.
pub(crate) static FOOTPRINT_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Unlimited preemption bound (`exhaustive:inf`).
pub(crate) const UNBOUNDED: u32 = u32::MAX;

/// What a transition touched: `None` = unknown (dependent with everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Footprint(Option<SmallVec<[usize; 4]>>);

impl Footprint {
    fn unknown() -> Footprint {
        Footprint(None)
    }
    fn known(keys: &[usize]) -> Footprint {
        Footprint(Some(keys.iter().copied().collect()))
    }
    fn is_known(&self) -> bool {
        self.0.is_some()
    }
    fn add(&mut self, key: usize) {
        if let Some(v) = &mut self.0 {
            if !v.contains(&key) {
                if v.len() >= 16 {
                    self.0 = None; // too many to compare cheaply: unknown (sound)
                } else {
                    v.push(key);
                }
            }
        }
    }
    fn independent(&self, other: &Footprint) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => !a.iter().any(|k| b.contains(k)),
            _ => false,
        }
    }
}

/// Whether a node decided which goroutine runs, or something else (`choose(n)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Goroutine,
    Other,
}

/// One decision of the exploration tree.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    kind: Kind,
    /// Alternatives in canonical order: the recorded value (goroutine id or index)
    /// and whether taking it is a preemption.
    alts: Vec<(u64, bool)>,
    chosen: usize,
    /// Preemptions spent before this node.
    preemptions: u32,
    /// Sleep set at this node (goroutine id, footprint of its next transition).
    sleep: Vec<(u64, Footprint)>,
    /// Alternatives explored before `chosen`, with the footprint observed.
    done: Vec<(u64, Footprint)>,
    /// Footprint observed for `chosen`'s transition in the latest run (unknown
    /// until the next isolated decision).
    chosen_fp: Footprint,
}

/// The state of one exhaustive run.
#[derive(Debug)]
pub(crate) struct Explore {
    bound: u32,
    /// The tree path: nodes `..replay_len` are followed, later ones were created
    /// by this run (default alternatives).
    pub(crate) path: Vec<Node>,
    replay_len: usize,
    pos: usize,
    preemptions: u32,
    /// The latest decision node and the scheduler's step count then.
    last: Option<(usize, u64)>,
    /// The footprint of the transition in progress.
    cur_fp: Footprint,
    /// The starting footprint of each suspended goroutine's next transition.
    starts: HashMap<u64, Footprint>,
    /// The run was cut short: every alternative slept (a redundant schedule).
    pub(crate) pruned: bool,
    /// Set when a replayed prefix did not reach the same node.
    pub(crate) diverged: Option<String>,
}

/// A guided chooser's mode.
#[derive(Debug)]
pub(crate) enum Mode {
    Explore(Explore),
    /// Replay that never fails: a value that names no candidate (or the end of the
    /// list) takes the default alternative. Counts the preemptions it made.
    Tolerant {
        values: Vec<u64>,
        pos: usize,
    },
    /// Fuzzer bytes: each decision takes one byte (two when more than 256
    /// alternatives), alternative `byte % n`; past the end, the default.
    Bytes {
        data: Vec<u8>,
        pos: usize,
    },
}

/// A guided chooser (`Chooser::Guided`).
#[derive(Debug)]
pub(crate) struct Guided {
    pub(crate) mode: Mode,
    /// The operation key given to the scheduling point being decided (0: none).
    pending_key: usize,
    /// The scheduling point being decided is a yield.
    yielding: bool,
    /// Preemptions this run made (as exhaustive mode counts them).
    pub(crate) preemptions: u64,
}

impl Guided {
    pub(crate) fn explore(bound: u32, path: Vec<Node>, replay_len: usize) -> Guided {
        Guided::with(Mode::Explore(Explore {
            bound,
            path,
            replay_len,
            pos: 0,
            preemptions: 0,
            last: None,
            cur_fp: Footprint::unknown(),
            starts: HashMap::new(),
            pruned: false,
            diverged: None,
        }))
    }

    pub(crate) fn tolerant(values: Vec<u64>) -> Guided {
        Guided::with(Mode::Tolerant { values, pos: 0 })
    }

    pub(crate) fn bytes(data: &[u8]) -> Guided {
        Guided::with(Mode::Bytes {
            data: data.to_vec(),
            pos: 0,
        })
    }

    fn with(mode: Mode) -> Guided {
        Guided {
            mode,
            pending_key: 0,
            yielding: false,
            preemptions: 0,
        }
    }

    /// Whether this chooser tracks footprints (exhaustive with sleep sets).
    pub(crate) fn tracks_footprints(&self) -> bool {
        matches!(&self.mode, Mode::Explore(e) if e.bound == UNBOUNDED)
    }

    /// Sets the key of the scheduling point about to be decided.
    pub(crate) fn set_pending_key(&mut self, key: usize) {
        self.pending_key = key;
    }

    /// Marks the scheduling point about to be decided as a yield (`clear`: done).
    pub(crate) fn set_yielding(&mut self, yielding: bool) {
        self.yielding = yielding;
    }

    /// A runtime state lock at `addr` was taken by the running transition.
    pub(crate) fn touched(&mut self, addr: usize) {
        if let Mode::Explore(e) = &mut self.mode {
            e.cur_fp.add(addr);
        }
    }
}

/// The next run's path after a finished run, or `None` when the tree is exhausted:
/// the deepest node with an alternative not yet explored, within the bound and (with
/// sleep sets) not asleep, takes it; nodes below it are dropped.
pub(crate) fn backtrack(bound: u32, mut path: Vec<Node>) -> Option<(Vec<Node>, usize)> {
    while let Some(mut node) = path.pop() {
        let (v, _) = node.alts[node.chosen];
        node.done.push((v, std::mem::take(&mut node.chosen_fp)));
        let reduce = bound == UNBOUNDED && node.kind == Kind::Goroutine;
        let next = (node.chosen + 1..node.alts.len()).find(|&j| {
            let (v, preempts) = node.alts[j];
            node.preemptions.saturating_add(preempts as u32) <= bound
                && !(reduce && node.sleep.iter().any(|(p, _)| *p == v))
        });
        if let Some(j) = next {
            node.chosen = j;
            node.chosen_fp = Footprint::unknown();
            path.push(node);
            let len = path.len();
            return Some((path, len));
        }
    }
    None
}

impl Sched {
    /// The candidates of a goroutine decision in canonical order, as slots, and
    /// whether each is a preemption. Alternative 0 is the default and never one.
    fn guided_candidates(&self, cur: Option<u32>, yielding: bool) -> Vec<(u32, bool)> {
        let mut others: Vec<u32> = self.runq.iter().copied().collect();
        others.sort_unstable_by_key(|&s| self.gs[s as usize].id);
        match cur {
            None => others.into_iter().map(|s| (s, false)).collect(),
            Some(c) if yielding && !others.is_empty() => others
                .into_iter()
                .map(|s| (s, false))
                .chain(std::iter::once((c, true)))
                .collect(),
            Some(c) => std::iter::once((c, false))
                .chain(others.into_iter().map(|s| (s, true)))
                .collect(),
        }
    }

    /// `decide` under a guided chooser (at least one candidate).
    pub(super) fn decide_guided(&mut self, cur: Option<u32>) -> u32 {
        let super::strategy::Chooser::Guided(g) = &mut self.chooser else {
            fatal!("decide_guided", "the chooser is guided");
        };
        let key = std::mem::take(&mut g.pending_key);
        let yielding = std::mem::take(&mut g.yielding);
        let cands = self.guided_candidates(cur, yielding);
        let idx = if cands.len() == 1 {
            if let super::strategy::Chooser::Guided(g) = &mut self.chooser {
                if let Mode::Explore(e) = &mut g.mode {
                    // A forced switch: the next decision is not isolated.
                    e.close_transition(self.steps);
                    e.last = None;
                    let id = self.gs[cands[0].0 as usize].id;
                    e.cur_fp = e.starts.remove(&id).unwrap_or_default();
                }
            }
            0
        } else {
            self.decisions += 1;
            let ids: Vec<(u64, bool)> = cands
                .iter()
                .map(|&(s, p)| (self.gs[s as usize].id, p))
                .collect();
            let parked = (cur.is_none() && (self.current as usize) < self.gs.len())
                .then(|| &self.gs[self.current as usize])
                .filter(|g| g.state == GState::Waiting)
                .map(|g| g.id);
            let cur_id = cur.map(|c| self.gs[c as usize].id);
            let steps = self.steps;
            let super::strategy::Chooser::Guided(g) = &mut self.chooser else {
                fatal!("decide_guided", "the chooser is guided");
            };
            let i = match &mut g.mode {
                Mode::Explore(e) => e.decide(&ids, steps, key, cur_id, parked),
                Mode::Tolerant { values, pos } => {
                    let want = values.get(*pos).copied();
                    *pos += 1;
                    want.and_then(|v| ids.iter().position(|&(id, _)| id == v))
                        .unwrap_or(0)
                }
                Mode::Bytes { data, pos } => take_bytes(data, pos, ids.len()),
            };
            if ids[i].1 {
                g.preemptions += 1;
            }
            if matches!(&g.mode, Mode::Explore(e) if e.pruned) {
                self.end();
            }
            self.record.push(ids[i].0);
            i
        };
        let (pick, _) = cands[idx];
        if Some(pick) != cur {
            let at = self
                .runq
                .iter()
                .position(|&s| s == pick)
                .unwrap_or_else(|| fatal!("decide_guided", "a candidate is queued"));
            match cur {
                Some(c) => self.runq[at] = c,
                None => {
                    // As `decide_slow` does, so strict replay keeps the same queue.
                    self.runq.swap_remove_back(at);
                }
            }
        }
        pick
    }

    /// `choose(n)` under a guided chooser (`n >= 2`).
    pub(super) fn choose_guided(&mut self, n: usize) -> usize {
        let super::strategy::Chooser::Guided(g) = &mut self.chooser else {
            fatal!("choose_guided", "the chooser is guided");
        };
        match &mut g.mode {
            Mode::Explore(e) => {
                let alts: Vec<(u64, bool)> = (0..n as u64).map(|i| (i, false)).collect();
                e.close_transition(self.steps);
                let i = e.node(Kind::Other, &alts, Vec::new());
                e.last = None;
                e.cur_fp = Footprint::unknown();
                i
            }
            Mode::Tolerant { values, pos } => {
                let want = values.get(*pos).copied();
                *pos += 1;
                want.filter(|&v| v < n as u64).unwrap_or(0) as usize
            }
            Mode::Bytes { data, pos } => take_bytes(data, pos, n),
        }
    }

    /// Notes that the running transition touched the runtime state at `addr`.
    pub(super) fn guided_touch(&mut self, addr: usize) {
        if let super::strategy::Chooser::Guided(g) = &mut self.chooser {
            g.touched(addr);
        }
    }
}

/// One alternative from fuzzer bytes: `byte % n` (two bytes when `n > 256`); the
/// default (0) once the bytes run out.
fn take_bytes(data: &[u8], pos: &mut usize, n: usize) -> usize {
    let width = if n > 256 { 2 } else { 1 };
    let Some(b) = data.get(*pos..*pos + width) else {
        *pos = data.len();
        return 0;
    };
    *pos += width;
    let v = b.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize);
    v % n
}

impl Explore {
    /// Ends the transition chosen at the latest node: records its footprint there
    /// when it was isolated (exactly one step since the decision), else unknown.
    fn close_transition(&mut self, steps: u64) -> Option<Footprint> {
        let fp = std::mem::take(&mut self.cur_fp);
        let (at, then) = self.last.take()?;
        let isolated = steps == then + 1;
        let fp = if isolated { fp } else { Footprint::unknown() };
        self.path[at].chosen_fp = fp.clone();
        isolated.then_some(fp)
    }

    /// A goroutine decision: `ids` are the candidates (id, preempts) in canonical
    /// order; `key` the current goroutine's operation key; `cur_id` the current
    /// goroutine when it is a candidate, `parked` when it just parked.
    fn decide(
        &mut self,
        ids: &[(u64, bool)],
        steps: u64,
        key: usize,
        cur_id: Option<u64>,
        parked: Option<u64>,
    ) -> usize {
        let prev = self.last;
        let fp = self.close_transition(steps);
        let parked_known = fp.as_ref().is_some_and(Footprint::is_known);
        // The sleep set here: the previous node's sleep set and explored
        // alternatives, less the goroutine that ran and those dependent with it.
        let sleep = match (prev, fp) {
            (Some((at, _)), Some(fp)) if self.path[at].kind == Kind::Goroutine => {
                let n = &self.path[at];
                let ran = n.alts[n.chosen].0;
                n.sleep
                    .iter()
                    .chain(n.done.iter())
                    .filter(|(p, f)| *p != ran && f.independent(&fp))
                    .cloned()
                    .collect()
            }
            _ => Vec::new(),
        };
        // The current goroutine's next transition starts here.
        if let Some(c) = cur_id {
            let start = if key != 0 {
                Footprint::known(&[key])
            } else {
                Footprint::unknown()
            };
            self.starts.insert(c, start);
        }
        if let Some(p) = parked {
            // Its resumption continues the operation that parked it.
            let start = if parked_known {
                Footprint::known(&[])
            } else {
                Footprint::unknown()
            };
            self.starts.insert(p, start);
        }
        let i = self.node(Kind::Goroutine, ids, sleep);
        let at = self.pos - 1;
        if !self.pruned {
            self.last = Some((at, steps));
            self.cur_fp = self.starts.remove(&ids[i].0).unwrap_or_default();
        }
        i
    }

    /// Takes the decision at the next node: the replayed prefix's choice, or for a
    /// new node the first alternative within the bound that does not sleep.
    fn node(&mut self, kind: Kind, alts: &[(u64, bool)], sleep: Vec<(u64, Footprint)>) -> usize {
        let at = self.pos;
        self.pos += 1;
        if at < self.replay_len {
            let n = &mut self.path[at];
            if n.kind != kind || n.alts != alts {
                if self.diverged.is_none() {
                    self.diverged = Some(format!(
                        "strategy=exhaustive: the harness is not deterministic: decision {at} offered {:?} when replayed but {:?} before (a harness explored exhaustively must depend only on its schedule: no real time, OS randomness or state kept across runs)",
                        alts.iter().map(|a| a.0).collect::<Vec<_>>(),
                        n.alts.iter().map(|a| a.0).collect::<Vec<_>>()
                    ));
                }
                self.pruned = true;
                return 0;
            }
            n.sleep = sleep;
            let i = n.chosen;
            self.preemptions += alts[i].1 as u32;
            return i;
        }
        self.path.truncate(at);
        let reduce = self.bound == UNBOUNDED && kind == Kind::Goroutine;
        let pick = (0..alts.len()).find(|&j| {
            self.preemptions.saturating_add(alts[j].1 as u32) <= self.bound
                && !(reduce && sleep.iter().any(|(p, _)| *p == alts[j].0))
        });
        let Some(i) = pick else {
            // Every alternative sleeps: this schedule is equivalent to one explored.
            self.pruned = true;
            return 0;
        };
        self.path.push(Node {
            kind,
            alts: alts.to_vec(),
            chosen: i,
            preemptions: self.preemptions,
            sleep,
            done: Vec::new(),
            chosen_fp: Footprint::unknown(),
        });
        self.preemptions += alts[i].1 as u32;
        i
    }
}

/// Counts a footprint-tracking run in [`FOOTPRINT_RUNS`] while alive.
pub(crate) struct FootprintGuard(());

impl FootprintGuard {
    pub(crate) fn new() -> FootprintGuard {
        FOOTPRINT_RUNS.fetch_add(1, Ordering::Relaxed);
        FootprintGuard(())
    }
}

impl Drop for FootprintGuard {
    fn drop(&mut self) {
        FOOTPRINT_RUNS.fetch_sub(1, Ordering::Relaxed);
    }
}
