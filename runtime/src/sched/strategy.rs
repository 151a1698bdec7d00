//! Scheduling strategies and the decision record that makes every run replayable.
//!
//! A *decision* is made wherever the run could go more than one way: at a scheduling
//! point with at least one other runnable goroutine (which goroutine runs next), and
//! in `select!` with several ready arms (which arm). Every decision is appended to a
//! [`Record`]; `Strategy::Replay` feeds the same values back, so a run is a pure
//! function of (program, strategy, seed) or of (program, schedule string).
//!
//! Schedule string: decisions as decimal numbers separated by `.`, a run of equal
//! values written `v*n` (`1*40.3.1*7`). Goroutine decisions store the goroutine id,
//! select decisions the arm index.
//!
//! PCT (Burckhardt, Kothari, Musuvathi, Nagarakatte, "A Randomized Scheduler with
//! Probabilistic Guarantees of Finding Bugs", ASPLOS 2010): each goroutine gets a
//! random priority above `depth`; the highest-priority runnable goroutine runs; at
//! `depth - 1` change points the running goroutine's priority drops to below every
//! initial priority. The paper draws change points uniformly from `[1, k]` with `k`
//! the run's length; gosan does not know `k` up front and a run must be reproducible
//! from (seed, `pct:d`) alone, so change points are drawn log-uniformly from
//! `[1, 2^20]` instead: every scale of run length gets its share. A yield (gosched,
//! `select!` default, failed `try_*`) drops the yielder to the lowest priority so the
//! goroutine it waits for gets to run.
//!
//! # Other decisions
//! Besides "which goroutine runs", four choices are recorded through one helper,
//! `Sched::choice` in `decide.rs`, each with its number of alternatives (an explorer
//! can enumerate them there): the ready arm a `select!` takes (uniform), the order in
//! which a blocked `select!` queues its arms (uniform, one position at a time: Go's
//! random `lockorder`, so a partner that could complete several arms completes each
//! with equal chance), whether a timer a goroutine arms is a *racing* timer
//! (`timer_race=P`: probability P), and whether a racing timer that is the earliest
//! pending one fires now although goroutines are runnable (probability 1/2). Both
//! timer choices are never taken under RoundRobin. In the schedule string they are
//! values like the others.
//!
//! # Fairness bounds
//! Every strategy lets every runnable goroutine run within a bound:
//! - RoundRobin: strict FIFO handover; a runnable goroutine runs within `n`
//!   decisions (`n` runnable goroutines).
//! - Random and PCT: every [`FAIR_EVERY`]-th decision is a *fair pick*: the queued
//!   goroutine that has waited longest since it last ran (or became runnable) runs.
//!   So a goroutine runnable for `FAIR_EVERY * n` decisions has run. Random is fair
//!   in expectation anyway; the fair pick makes it a hard bound. PCT keeps its
//!   priorities for the first [`PCT_FAIR_TAIL`] decisions (past its last possible
//!   change point) and then decides as Random (Coyote's fair PCT: a priority prefix,
//!   a fair random tail), so a program that terminates under a fair scheduler also
//!   terminates under PCT in time proportional to its work.
//! - Replay follows the record.
//! - Timers: a pending timer fires at the latest once the scheduling steps taken
//!   since virtual time last moved cover its deadline at `WORK_QUANTUM_NANOS`
//!   (100 ns) each (`timer.rs`), under every strategy, Replay included (it is a
//!   function of the step count): Go's guarantee that a due timer fires even while
//!   goroutines are always runnable.
//!
//! At the run's `max_steps` a run still going is a livelock finding naming the
//! goroutines still running and runnable, with their stacks (`end.rs`).

use crate::config::Strategy;

/// Every this many decisions, Random and PCT make a fair pick (see the module docs).
pub(crate) const FAIR_EVERY: u64 = 256;

/// Decisions after which PCT decides as Random (past its last change point, which
/// is drawn from `[1, 2^20]`).
pub(crate) const PCT_FAIR_TAIL: u64 = 1 << 21;

/// SplitMix64 (Steele, Lea, Flood, OOPSLA 2014): tiny, seedable, good enough here.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0), by multiply-shift (Lemire).
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

/// Derives the seed of `check`'s iteration `i` from the base seed.
pub(crate) fn derive_seed(base: u64, i: u64) -> u64 {
    let mut r = Rng::new(base ^ i.wrapping_mul(0xd1b5_4a32_d192_ed03));
    r.next_u64()
}

/// Run-length encoded decisions.
#[derive(Debug, Default, Clone)]
pub(crate) struct Record {
    runs: Vec<(u64, u32)>,
    /// Set once [`MAX_RECORD_RUNS`] entries exist: later decisions are not recorded
    /// and the run ends (a livelock finding: its memory is bounded).
    pub(crate) full: bool,
}

/// Most run-length entries a run's decision record holds (16 bytes each: 256 MiB).
pub(crate) const MAX_RECORD_RUNS: usize = 1 << 24;

impl Record {
    #[inline]
    pub(crate) fn push(&mut self, v: u64) {
        if let Some((last, n)) = self.runs.last_mut() {
            if *last == v && *n < u32::MAX {
                *n += 1;
                return;
            }
        }
        if self.runs.len() >= MAX_RECORD_RUNS {
            self.full = true;
            return;
        }
        self.runs.push((v, 1));
    }

    pub(crate) fn encode(&self) -> String {
        // Hand-rolled digits: a long run has millions of decisions, mostly small
        // goroutine ids. No division loop for one digit, and no `memcpy` call (a
        // variable-length `extend_from_slice`) for the others.
        #[inline]
        fn digits(out: &mut Vec<u8>, v: u64) {
            if v < 10 {
                out.push(b'0' + v as u8);
            } else {
                digits_long(out, v);
            }
        }
        fn digits_long(out: &mut Vec<u8>, mut v: u64) {
            const PAIRS: &[u8; 200] = b"\
                0001020304050607080910111213141516171819\
                2021222324252627282930313233343536373839\
                4041424344454647484950515253545556575859\
                6061626364656667686970717273747576777879\
                8081828384858687888990919293949596979899";
            // Digits left-aligned in a fixed buffer, copied whole (a fixed-size copy
            // is a few moves), then the tail past the number is cut off.
            let len = v.ilog10() as usize + 1;
            let mut buf = [0u8; 20];
            let mut i = len;
            while v >= 100 {
                let r = (v % 100) as usize * 2;
                v /= 100;
                i -= 2;
                buf[i] = PAIRS[r];
                buf[i + 1] = PAIRS[r + 1];
            }
            if v >= 10 {
                let r = v as usize * 2;
                buf[i - 2] = PAIRS[r];
                buf[i - 1] = PAIRS[r + 1];
            } else {
                buf[i - 1] = b'0' + v as u8;
            }
            let start = out.len();
            out.extend_from_slice(&buf);
            out.truncate(start + len);
        }
        let mut out = Vec::with_capacity(self.runs.len() * 3);
        for (i, &(v, n)) in self.runs.iter().enumerate() {
            // Common shapes first, each one fixed-size append: `.v`, `.v*n`.
            if i > 0 && v < 10 && n < 10 {
                let d = b'0' + v as u8;
                if n == 1 {
                    out.extend_from_slice(&[b'.', d]);
                } else {
                    out.extend_from_slice(&[b'.', d, b'*', b'0' + n as u8]);
                }
                continue;
            }
            if i > 0 {
                out.push(b'.');
            }
            digits(&mut out, v);
            if n > 1 {
                out.push(b'*');
                digits(&mut out, n as u64);
            }
        }
        String::from_utf8(out)
            .unwrap_or_else(|_| fatal!("Record::encode", "digits, '.' and '*' are ASCII"))
    }

    /// The decisions of `text`, run-length encoded as written (`v*n` is one entry):
    /// memory in proportion to the text, never to the counts it names.
    pub(crate) fn decode_runs(text: &str) -> Result<Vec<(u64, u64)>, String> {
        let mut out = Vec::new();
        let mut total: u64 = 0;
        for tok in text.split('.').filter(|t| !t.is_empty()) {
            let (v, n) = match tok.split_once('*') {
                Some((v, n)) => (
                    v,
                    n.parse::<u64>()
                        .map_err(|_| format!("bad count in `{tok}`"))?,
                ),
                None => (tok, 1),
            };
            let v = v
                .parse::<u64>()
                .map_err(|_| format!("bad value in `{tok}`"))?;
            total = total.saturating_add(n);
            if total > MAX_REPLAY_DECISIONS {
                return Err(format!(
                    "schedule too long (more than {MAX_REPLAY_DECISIONS} decisions)"
                ));
            }
            if n > 0 {
                out.push((v, n));
            }
        }
        Ok(out)
    }

    /// The decisions of `text`, one entry each (tests).
    #[cfg(test)]
    pub(crate) fn decode(text: &str) -> Result<Vec<u64>, String> {
        Ok(Self::decode_runs(text)?
            .into_iter()
            .flat_map(|(v, n)| std::iter::repeat_n(v, n as usize))
            .collect())
    }
}

/// Most decisions a `replay:` schedule may name (a run is bounded well below it).
pub(crate) const MAX_REPLAY_DECISIONS: u64 = 1 << 31;

/// Largest PCT depth accepted (`pct:N`): the strategy keeps `N - 1` change points.
pub const MAX_PCT_DEPTH: u32 = 1 << 16;

/// A replayed schedule being consumed, run-length encoded.
#[derive(Debug)]
pub(crate) struct ReplayCursor {
    runs: Vec<(u64, u64)>,
    run: usize,
    used: u64,
}

impl ReplayCursor {
    /// The next recorded decision, or `None` past the end.
    #[inline]
    pub(crate) fn next_value(&mut self) -> Option<u64> {
        let &(v, n) = self.runs.get(self.run)?;
        self.used += 1;
        if self.used == n {
            self.run += 1;
            self.used = 0;
        }
        Some(v)
    }
}

/// The state a strategy keeps across decisions.
#[derive(Debug)]
pub(crate) enum Chooser {
    Random,
    RoundRobin,
    Pct {
        change_points: Vec<u64>,
        /// Next priority handed to a change-point victim (counts down from depth).
        next_low: i64,
        /// Next priority handed to a yielder (below everything else, counts down).
        next_yield: i64,
    },
    Replay(ReplayCursor),
    /// Exhaustive exploration, tolerant replay, fuzzer bytes (`explore.rs`).
    Guided(Box<super::explore::Guided>),
}

impl Chooser {
    pub(crate) fn new(strategy: &Strategy, rng: &mut Rng) -> Result<Chooser, String> {
        Ok(match strategy {
            Strategy::Random => Chooser::Random,
            Strategy::RoundRobin => Chooser::RoundRobin,
            Strategy::Pct { depth } if *depth > MAX_PCT_DEPTH => {
                return Err(format!("strategy=pct:{depth}: depth above {MAX_PCT_DEPTH}"));
            }
            Strategy::Pct { depth } => {
                let mut change_points: Vec<u64> = (1..*depth)
                    .map(|_| {
                        let scale = 1u64 << rng.below(21); // 1 ..= 2^20, log-uniform
                        scale + rng.next_u64() % scale
                    })
                    .collect();
                change_points.sort_unstable();
                Chooser::Pct {
                    change_points,
                    next_low: *depth as i64,
                    next_yield: -1,
                }
            }
            Strategy::Exhaustive { preemption_bound } => Chooser::Guided(Box::new(
                super::explore::Guided::explore(*preemption_bound, Vec::new(), 0),
            )),
            Strategy::Replay(s) => Chooser::Replay(ReplayCursor {
                runs: Record::decode_runs(s).map_err(|e| format!("strategy=replay: {e}"))?,
                run: 0,
                used: 0,
            }),
        })
    }

    /// A fresh goroutine's PCT priority (ignored by the other strategies).
    pub(crate) fn initial_priority(&self, rng: &mut Rng, depth_floor: i64) -> i64 {
        match self {
            Chooser::Pct { .. } => depth_floor + 1 + (rng.next_u64() >> 2) as i64,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Record;

    #[test]
    fn record_round_trips_through_text() {
        let values: Vec<u64> = [0, 1, 1, 1, 9, 10, 10, 42, 99, 100, 101, 12345, u64::MAX, 7]
            .into_iter()
            .chain(std::iter::repeat_n(3, 250))
            .chain([u64::MAX - 1, 5])
            .collect();
        let mut r = Record::default();
        for &v in &values {
            r.push(v);
        }
        let text = r.encode();
        assert!(
            text.starts_with("0.1*3.9.10*2.42.99.100.101.12345."),
            "{text}"
        );
        assert!(text.contains(".7.3*250."), "{text}");
        assert_eq!(Record::decode(&text).unwrap(), values);
    }
}
