//! The data model of gosan's findings, kept apart from how they are found.
//!
//! Every type here is plain data (`Debug + Clone + serde`), built once at the end of a
//! run (or when a finding is made) from raw program counters symbolized by
//! [`symbolize`]. Rendering lives in [`format`](mod@format): the text is Go's, verbatim where Go
//! has a message, so that a Go engineer reads a gosan report like a Go crash.

pub mod format;
pub mod symbolize;

pub use crate::AccessKind;
use serde::{Deserialize, Serialize};

/// One symbolized stack frame: `function` and the `file:line` it was executing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Frame {
    /// Demangled function path without its hash (`my_crate::worker::{{closure}}`).
    pub function: String,
    /// Source file, with `strip_path_prefix` already removed.
    pub file: String,
    /// 1-based source line; 0 when unknown.
    pub line: u32,
}

/// A goroutine as a dump shows it: `goroutine N [wait reason]:` then its stack, then
/// where it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoroutineDump {
    pub id: u64,
    /// Go's wait reason (`chan receive`, `sync.Mutex.Lock`, `sleep`, …), or `running`.
    pub wait_reason: String,
    /// Innermost frame first, runtime frames removed.
    pub stack: Vec<Frame>,
    /// The `go` call site first, then its callers; empty for the main goroutine.
    pub created_at: Vec<Frame>,
    /// Why the goroutine can never proceed, when gosan knows (a wait-for cycle: the
    /// lock it waits for and who holds it); printed as `blocked forever: …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// Goroutines proven blocked forever before main returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlockReport {
    /// The run ended because every goroutine was asleep (Go's fatal error).
    pub global: bool,
    pub goroutines: Vec<GoroutineDump>,
}

/// An unrecovered panic, or a fatal error that cannot be recovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanicReport {
    /// The panic message (`send on closed channel`) or fatal error text
    /// (`sync: unlock of unlocked mutex`).
    pub message: String,
    /// `true` for Go's `fatal error:` class (a throw), `false` for `panic:`.
    pub fatal: bool,
    /// The goroutine that panicked, with the stack at the panic site.
    pub goroutine: GoroutineDump,
}

/// One side of a data race.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    pub kind: AccessKind,
    pub addr: u64,
    pub size: u64,
    /// Goroutine id; 1 is printed as `main goroutine`.
    pub goroutine: u64,
    pub stack: Vec<Frame>,
}

/// A goroutine named in a race report, with where it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoroutineOrigin {
    pub id: u64,
    /// `true` while it still runs (`(running)`), `false` once it ended (`(finished)`).
    pub running: bool,
    pub created_at: Vec<Frame>,
}

/// `WARNING: DATA RACE`: two conflicting accesses not ordered by happens-before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaceReport {
    pub current: Access,
    pub previous: Access,
    pub goroutines: Vec<GoroutineOrigin>,
}

/// Locks taken in opposite orders (a cycle in the run's lock-order graph, Linux
/// lockdep / TSan's `lock-order-inversion`): a potential deadlock, even if this run
/// did not deadlock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockOrderReport {
    /// The cycle's locks, numbered in the order of their first lock in the run.
    pub locks: Vec<u64>,
    /// For each edge `locks[i] → locks[i+1]` (the last one back to `locks[0]`), the
    /// stack that acquired the second lock while holding the first.
    pub stacks: Vec<Vec<Frame>>,
    /// Each lock's creation site (`file:line`), parallel to `locks`.
    #[serde(default)]
    pub sites: Vec<String>,
    /// For each edge, the goroutine that took it.
    #[serde(default)]
    pub goroutines: Vec<u64>,
    /// For each edge, the stack that acquired the first lock (held at that moment).
    #[serde(default)]
    pub held_stacks: Vec<Vec<Frame>>,
}

/// A run that did not end by itself: it reached its bound on scheduling steps, on
/// virtual time or on the memory of its schedule record (`max_steps`, `max_time`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivelockReport {
    /// Which bound was reached, with its value (`the run reached max_steps=1000
    /// scheduling steps`).
    pub reason: String,
    /// Scheduling steps taken when the run was stopped.
    pub steps: u64,
    /// Virtual nanoseconds elapsed when the run was stopped.
    pub virtual_nanos: u64,
    /// Every goroutine still alive, the ones that kept running first (`running` /
    /// `runnable`), each with the stack where it was when the run stopped.
    pub goroutines: Vec<GoroutineDump>,
}

/// What `check` did to get a report: how many schedules it explored, how long it
/// took, whether the exploration was exhaustive, and what shrinking removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exploration {
    /// Schedules run to their end (exhaustive mode: leaves of the tree reached).
    pub schedules: u64,
    /// Wall-clock milliseconds spent exploring (shrinking included).
    pub elapsed_ms: u64,
    /// `Some(k)` under `Strategy::Exhaustive` (`u32::MAX`: unbounded).
    pub preemption_bound: Option<u32>,
    /// Exhaustive mode: the tree was exhausted (else `check` stopped at its
    /// `iterations` or at a finding).
    pub complete: bool,
    /// Exhaustive mode: runs cut short by sleep sets (equivalent to explored ones).
    pub pruned: u64,
    /// Shrinking of the failing schedule: decisions before and after, and the
    /// replays it took. `None` when nothing was shrunk.
    pub shrunk: Option<Shrunk>,
    /// The seed and strategy that found the schedule before shrinking (the report's
    /// own `seed`/`strategy` still name them; its `schedule` is the shrunk one).
    pub found_by: Option<String>,
}

/// What shrinking a failing schedule did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shrunk {
    /// Decisions in the schedule as found.
    pub before: u64,
    /// Decisions in the shrunk schedule (never more than `before`).
    pub after: u64,
    /// Preemptions as found and after shrinking.
    pub preemptions_before: u64,
    pub preemptions_after: u64,
    /// Replays run while shrinking.
    pub replays: u64,
}

/// Everything one run found, and how to reproduce it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub races: Vec<RaceReport>,
    pub deadlock: Option<DeadlockReport>,
    pub leaks: Vec<GoroutineDump>,
    pub panic: Option<PanicReport>,
    pub lock_order: Vec<LockOrderReport>,
    /// The seed the run's strategy was built from.
    pub seed: u64,
    /// Every scheduling choice the run made; `Strategy::Replay(schedule)` repeats it.
    pub schedule: String,
    /// The strategy that made the choices, as `GOSAN_OPTIONS` spells it
    /// (`random`, `pct:3`, `roundrobin`).
    #[serde(default)]
    pub strategy: String,
    /// What the reader must know about the run itself (e.g. the race detector stopped
    /// for memory); not findings.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The run reached a bound instead of ending (see [`LivelockReport`]).
    #[serde(default)]
    pub livelock: Option<LivelockReport>,
    /// Set by `check`: schedules explored, time, exhaustiveness, shrinking.
    #[serde(default)]
    pub exploration: Option<Exploration>,
}

impl Report {
    /// No race, deadlock, leak, panic, lock-order or livelock finding.
    pub fn is_clean(&self) -> bool {
        self.livelock.is_none()
            && self.races.is_empty()
            && self.deadlock.is_none()
            && self.leaks.is_empty()
            && self.panic.is_none()
            && self.lock_order.is_empty()
    }

    /// The report as JSON (`format=json`): the same content as the text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report: serialization cannot fail")
    }
}
