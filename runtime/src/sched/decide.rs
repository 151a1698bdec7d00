//! Decisions: who runs next at a scheduling point, and which ready arm a `select!`
//! takes — the two places where a run could go more than one way. The strategies
//! themselves (Random, PCT, RoundRobin, Replay) and the decision [`Record`] live in
//! `strategy.rs`; this file applies them to the run queue.
//!
//! # Protocol
//! - `decide` runs on the run's thread with `&mut Sched` (from a scheduling point,
//!   a park, the loop after a goroutine finished, or `idle`). It removes the pick
//!   from `runq`; when the pick is not `cur`, `cur` is queued, keeping the invariant
//!   "runnable and not about to run ⇒ queued".
//! - Every decision with at least two candidates is appended to `Sched::record`
//!   (goroutine id; select arm index for [`choose`]), so `Strategy::Replay` can feed
//!   it back. A replay that no longer fits records `replay_error` and ends the run.
//! - Only PCT changes priorities (`G::prio`): at its change points here, on yields
//!   in `park.rs`.
//! - Fairness: Random and PCT make every `FAIR_EVERY`-th decision a fair pick (the
//!   queued goroutine with the oldest `G::since` runs; `since` is set here when a
//!   goroutine gets the CPU, and where it becomes runnable); PCT decides as Random
//!   past `PCT_FAIR_TAIL` decisions. Bounds: `strategy.rs`.
//! - Every other choice (select arm, blocked-select queue order, timer arming and
//!   racing) goes
//!   through [`Sched::choice`], the one helper that knows the number of alternatives
//!   and records the value.
//!
//! [`Record`]: super::strategy::Record

use super::strategy::{Chooser, PCT_FAIR_TAIL};
use super::{sched_ptr, Sched};

impl Sched {
    /// Picks who runs next among the run queue and `cur` (the current goroutine, when
    /// it is still runnable). Removes the pick from the queue and, when the pick is
    /// not `cur`, queues `cur`. Records the decision when there was a choice.
    ///
    /// Fast path (Random, the default): one draw, and the pick's queue entry is
    /// overwritten with `cur` in place. The order of `runq` means nothing to Random,
    /// PCT or Replay (they choose by draw, priority or id), only to RoundRobin, which
    /// keeps strict FIFO handover (pop the front, queue `cur` at the back).
    #[inline(always)]
    pub(super) fn decide(&mut self, cur: Option<u32>) -> Option<u32> {
        let len = self.runq.len();
        if len == 0 {
            return cur;
        }
        if let Chooser::Guided(_) = self.chooser {
            return Some(self.decide_guided(cur));
        }
        if self.decisions >= self.fair_at && (cur.is_some() || len > 1) {
            return Some(self.decide_fair(cur));
        }
        match cur {
            None if len == 1 => self.runq.pop_front(),
            Some(c) if matches!(self.chooser, Chooser::Random) => {
                self.decisions += 1;
                let idx = self.rng.below(len + 1);
                let pick = match self.runq.get_mut(idx) {
                    Some(q) => std::mem::replace(q, c),
                    None => c,
                };
                let g = &mut self.gs[pick as usize];
                g.since = self.decisions;
                self.record.push(g.id);
                Some(pick)
            }
            None if matches!(self.chooser, Chooser::Random) => {
                self.decisions += 1;
                let idx = self.rng.below(len);
                let pick = self
                    .runq
                    .swap_remove_back(idx)
                    .unwrap_or_else(|| fatal!("Sched::decide", "index in range"));
                let g = &mut self.gs[pick as usize];
                g.since = self.decisions;
                self.record.push(g.id);
                Some(pick)
            }
            _ => Some(self.decide_slow(cur)),
        }
    }

    /// `decide` with at least two candidates, for the strategies other than Random.
    #[inline(never)]
    fn decide_slow(&mut self, cur: Option<u32>) -> u32 {
        let len = self.runq.len();
        self.decisions += 1;
        let idx = match self.chooser {
            Chooser::Random => self.rng.below(len + cur.is_some() as usize),
            _ => self.choose_index(cur),
        };
        let pick = if idx == len {
            cur.unwrap_or_else(|| fatal!("Sched::decide", "index runq.len() means cur"))
        } else if matches!(self.chooser, Chooser::RoundRobin) {
            let s = self
                .runq
                .pop_front()
                .unwrap_or_else(|| fatal!("Sched::decide", "runq is not empty"));
            if let Some(c) = cur {
                self.runq.push_back(c);
            }
            s
        } else {
            match cur {
                Some(c) => std::mem::replace(&mut self.runq[idx], c),
                None => self
                    .runq
                    .swap_remove_back(idx)
                    .unwrap_or_else(|| fatal!("Sched::decide", "index in range")),
            }
        };
        let g = &mut self.gs[pick as usize];
        g.since = self.decisions;
        self.record.push(g.id);
        pick
    }

    /// A fair pick (Random and PCT, every `FAIR_EVERY` decisions): the queued
    /// goroutine that has waited longest since it last ran or became runnable runs
    /// (ties: queue order). `cur` just ran, so it is never the oldest. At least two
    /// candidates.
    #[cold]
    #[inline(never)]
    fn decide_fair(&mut self, cur: Option<u32>) -> u32 {
        self.decisions += 1;
        self.fair_at = self.decisions + super::strategy::FAIR_EVERY;
        let idx = self
            .runq
            .iter()
            .enumerate()
            .min_by_key(|&(i, &s)| (self.gs[s as usize].since, i))
            .map(|(i, _)| i)
            .unwrap_or_else(|| fatal!("Sched::decide_fair", "runq is not empty"));
        let pick = match cur {
            Some(c) => std::mem::replace(&mut self.runq[idx], c),
            None => self
                .runq
                .swap_remove_back(idx)
                .unwrap_or_else(|| fatal!("Sched::decide_fair", "index in range")),
        };
        let g = &mut self.gs[pick as usize];
        g.since = self.decisions;
        self.record.push(g.id);
        pick
    }

    /// The index `decide` picks for the strategies other than Random: into `runq`,
    /// or `runq.len()` for `cur`. At least two candidates.
    fn choose_index(&mut self, cur: Option<u32>) -> usize {
        match &mut self.chooser {
            Chooser::Random => self.rng.below(self.runq.len() + cur.is_some() as usize),
            Chooser::RoundRobin => 0,
            // Past its priority prefix PCT is a fair random tail.
            Chooser::Pct { .. } if self.decisions > PCT_FAIR_TAIL => {
                self.rng.below(self.runq.len() + cur.is_some() as usize)
            }
            Chooser::Pct {
                change_points,
                next_low,
                ..
            } => {
                if let (Some(c), Some(&p)) = (cur, change_points.first()) {
                    if p <= self.decisions {
                        change_points.remove(0);
                        self.gs[c as usize].prio = *next_low;
                        *next_low -= 1;
                    }
                }
                let mut best = self.runq.len();
                let mut best_prio = cur.map_or(i64::MIN, |c| self.gs[c as usize].prio);
                for (i, &s) in self.runq.iter().enumerate() {
                    let p = self.gs[s as usize].prio;
                    if p > best_prio || (cur.is_none() && best == self.runq.len()) {
                        best = i;
                        best_prio = p;
                    }
                }
                best
            }
            Chooser::Guided(_) => fatal!("Sched::decide", "guided choosers decide in explore.rs"),
            Chooser::Replay(cursor) => {
                let want = cursor.next_value();
                let found = want.and_then(|id| {
                    if cur.is_some_and(|c| self.gs[c as usize].id == id) {
                        Some(self.runq.len())
                    } else {
                        self.runq.iter().position(|&s| self.gs[s as usize].id == id)
                    }
                });
                match found {
                    Some(i) => i,
                    None => {
                        self.replay_diverged(want, cur);
                        if cur.is_some() {
                            self.runq.len()
                        } else {
                            0
                        }
                    }
                }
            }
        }
    }

    #[cold]
    fn replay_diverged(&mut self, want: Option<u64>, cur: Option<u32>) {
        if self.replay_error.is_none() {
            let mut runnable: Vec<u64> =
                self.runq.iter().map(|&s| self.gs[s as usize].id).collect();
            if let Some(c) = cur {
                runnable.push(self.gs[c as usize].id);
            }
            runnable.sort_unstable();
            self.replay_error = Some(match want {
                Some(id) => format!(
                    "strategy=replay: the schedule diverged at decision {}: goroutine {id} is not runnable (runnable: {runnable:?}); the program or its inputs changed since the schedule was recorded",
                    self.decisions
                ),
                None => format!(
                    "strategy=replay: the schedule ended after {} decisions but the run goes on; the program or its inputs changed since the schedule was recorded",
                    self.decisions - 1
                ),
            });
        }
        self.end();
    }
}

/// What a recorded choice other than "who runs next" decides ([`Sched::choice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Which of a `select!`'s ready arms completes (uniform).
    SelectArm,
    /// A blocked `select!` queues its arms in a random order (Go's `lockorder`): the
    /// position, among the arms not queued yet, of the next one (uniform).
    SelectOrder,
    /// Whether a timer a goroutine arms is a racing timer: 1 = racing
    /// (probability `timer_race` under Random and PCT, never under RoundRobin).
    /// Always 2 alternatives.
    TimerArm,
    /// Whether a racing timer, the earliest pending one, fires now although
    /// goroutines are runnable: 1 = fire (probability 1/2 under Random and PCT,
    /// never under RoundRobin), 0 = work goes on. Always 2 alternatives.
    TimerRace,
}

impl Choice {
    fn what(self) -> &'static str {
        match self {
            Choice::SelectArm => "a select with several ready arms",
            Choice::SelectOrder => "the queue order of a blocked select",
            Choice::TimerArm => "a timer-arming choice",
            Choice::TimerRace => "a timer-race choice",
        }
    }
}

impl Sched {
    /// The one recording helper for every choice but "who runs next": a value in
    /// `0..n` (`n` alternatives), drawn by the strategy (or read back under Replay)
    /// and appended to the record. `n <= 1` is no choice: 0, nothing recorded.
    pub(super) fn choice(&mut self, kind: Choice, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        if let Chooser::Guided(_) = self.chooser {
            // Exhaustive exploration, shrinking's tolerant replay, fuzzer bytes.
            let i = self.choose_guided(n);
            self.record.push(i as u64);
            return i;
        }
        let i = match &mut self.chooser {
            Chooser::Replay(cursor) => {
                let v = cursor.next_value();
                match v {
                    Some(v) if (v as usize) < n => v as usize,
                    _ => {
                        if self.replay_error.is_none() {
                            self.replay_error = Some(format!(
                                "strategy=replay: the schedule diverged at {} ({n} alternatives; recorded: {v:?}); the program or its inputs changed since the schedule was recorded",
                                kind.what()
                            ));
                        }
                        self.end();
                        0
                    }
                }
            }
            Chooser::RoundRobin if matches!(kind, Choice::TimerArm | Choice::TimerRace) => 0,
            _ if kind == Choice::TimerArm => (self.rng.next_u64() < self.timer_race) as usize,
            _ => self.rng.below(n),
        };
        self.record.push(i as u64);
        i
    }
}

/// A recorded choice in `0..n` of kind `kind` from a goroutine (select), through
/// [`Sched::choice`]. `n >= 1`; outside a run, 0.
pub(crate) fn choose(kind: Choice, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let s = sched_ptr();
    if s.is_null() {
        return 0;
    }
    // SAFETY: this thread's run; short exclusive access.
    unsafe { (*s).choice(kind, n) }
}
