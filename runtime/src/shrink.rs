//! Shrinking a failing schedule before `check` prints it (delta debugging, Zeller &
//! Hildebrandt, "Simplifying and isolating failure-inducing input", TSE 2002, applied
//! to the decision list as QuickCheck-style shrinkers do).
//!
//! A candidate is a list of decision values replayed *tolerantly* (`explore.rs`,
//! `Mode::Tolerant`): a value that names no candidate of its decision, and every
//! decision past the list's end, takes the default alternative (keep running the
//! current goroutine; at a yield or park the runnable goroutine with the lowest id;
//! arm 0 of a select). The run records what it actually did, so its record is a
//! strict replay token. A candidate is kept only when its run has the same
//! [`signature`] (kind and site of every finding) as the original, at most as many
//! decisions as the best so far, and fewer preemptions or (as many and) fewer
//! decisions. Passes: binary search on the shortest prefix (truncation), then chunks
//! of decisions replaced by the default, halving the chunk size down to one
//! decision (ddmin's complement step).
//!
//! # Invariants
//! - The shrunk token is never longer (in decisions) than the one found: the
//!   baseline is the original itself and acceptance requires `len <= best.len()`.
//! - The report returned is the strict replay (`Strategy::Replay`) of the shrunk
//!   token, so replaying it again reproduces it exactly (runs are deterministic).
//! - Bounded: at most [`MAX_REPLAYS`] runs and [`MAX_TIME`] of wall time.

use crate::config::{Resolved, Strategy};
use crate::sched::explore::Guided;
use crate::sched::strategy::Record;
use gosan_detector::report::{Frame, Report, Shrunk};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most replays one shrink runs.
pub(crate) const MAX_REPLAYS: u64 = 200;
/// Most wall time one shrink takes (it stops between replays).
pub(crate) const MAX_TIME: Duration = Duration::from_secs(3);
/// Schedules longer than this (in decisions) are not shrunk.
const MAX_DECISIONS: u64 = 1 << 20;
/// A value that never names a candidate: the default alternative.
const DEFAULT: u64 = u64::MAX;

/// What identifies a report's findings across schedules: each finding's kind and
/// site (the innermost two frames), not goroutine ids, addresses or counts of
/// steps. Sorted and deduplicated.
pub(crate) fn signature(r: &Report) -> Vec<String> {
    fn top(st: &[Frame]) -> String {
        st.iter()
            .take(2)
            .map(|f| format!("{}@{}:{}", f.function, f.file, f.line))
            .collect::<Vec<_>>()
            .join(" < ")
    }
    let mut out = Vec::new();
    for x in &r.races {
        out.push(format!(
            "race {:?} {} / {:?} {}",
            x.current.kind,
            top(&x.current.stack),
            x.previous.kind,
            top(&x.previous.stack)
        ));
    }
    if let Some(d) = &r.deadlock {
        for g in &d.goroutines {
            out.push(format!(
                "deadlock global={} [{}] {}",
                d.global,
                g.wait_reason,
                top(&g.stack)
            ));
        }
    }
    for g in &r.leaks {
        out.push(format!("leak [{}] {}", g.wait_reason, top(&g.stack)));
    }
    if let Some(p) = &r.panic {
        out.push(format!("panic fatal={} {}", p.fatal, p.message));
    }
    for l in &r.lock_order {
        out.push(format!("lock-order {:?}", l.sites));
    }
    if let Some(l) = &r.livelock {
        out.push(format!("livelock {}", l.reason));
    }
    out.sort();
    out.dedup();
    out
}

fn decisions(schedule: &str) -> Option<Vec<u64>> {
    let runs = Record::decode_runs(schedule).ok()?;
    let total: u64 = runs.iter().map(|&(_, n)| n).sum();
    if total > MAX_DECISIONS {
        return None;
    }
    Some(
        runs.into_iter()
            .flat_map(|(v, n)| std::iter::repeat_n(v, n as usize))
            .collect(),
    )
}

/// Shrinks `found` (a report of `f` run with `seed`/`strategy`). Returns the strict
/// replay of the shrunk schedule and what shrinking did, or `None` when nothing
/// shorter or with fewer preemptions reproduces the same findings.
pub(crate) fn shrink<F: Fn() + Send + Sync + 'static>(
    r: &Resolved,
    seed: u64,
    f: &Arc<F>,
    found: &Report,
) -> Option<(Report, Shrunk)> {
    let start = Instant::now();
    let want = signature(found);
    let orig = decisions(&found.schedule)?;
    let mut rr = r.clone();
    rr.stream_races = false;
    let replays = std::cell::Cell::new(0u64);
    let attempt = |values: Vec<u64>| -> Option<(Vec<u64>, u64)> {
        replays.set(replays.get() + 1);
        let g = f.clone();
        let (rep, _, guided) = crate::run::run_once_with(
            &rr,
            seed,
            &Strategy::Random,
            Some(Box::new(Guided::tolerant(values))),
            move || g(),
        );
        let pre = guided.map_or(0, |g| g.preemptions);
        (signature(&rep) == want).then(|| decisions(&rep.schedule).map(|d| (d, pre)))?
    };
    // The baseline: the original replayed tolerantly (the same run).
    let (mut best, mut best_pre) = attempt(orig.clone())?;
    let before_pre = best_pre;
    if best.len() > orig.len() {
        return None; // not the same run: the harness is not deterministic
    }
    let within = |replays: u64| replays < MAX_REPLAYS && start.elapsed() < MAX_TIME;
    // Truncation: the shortest prefix that still fails (binary search).
    let (mut lo, mut hi) = (0usize, best.len());
    while lo < hi && within(replays.get()) {
        let mid = (lo + hi) / 2;
        match attempt(best[..mid].to_vec()) {
            Some((d, p)) if d.len() <= best.len() && (p, d.len()) < (best_pre, best.len()) => {
                best = d;
                best_pre = p;
                hi = mid.min(best.len());
            }
            _ => lo = mid + 1,
        }
    }
    // Delta debugging: chunks replaced by the default, halving the chunk size.
    let mut chunk = (best.len() / 2).max(1);
    'sizes: loop {
        let mut i = 0;
        while i < best.len() {
            if !within(replays.get()) {
                break 'sizes;
            }
            let end = (i + chunk).min(best.len());
            let mut cand = best.clone();
            cand[i..end].iter_mut().for_each(|v| *v = DEFAULT);
            match attempt(cand) {
                Some((d, p)) if d.len() <= best.len() && (p, d.len()) < (best_pre, best.len()) => {
                    best = d;
                    best_pre = p;
                }
                _ => i = end,
            }
        }
        if chunk == 1 {
            break;
        }
        chunk /= 2;
    }
    if best == orig {
        return None;
    }
    let token = {
        let mut rec = Record::default();
        best.iter().for_each(|&v| rec.push(v));
        rec.encode()
    };
    let g = f.clone();
    let (report, _, _) =
        crate::run::run_once_with(&rr, seed, &Strategy::Replay(token), None, move || g());
    replays.set(replays.get() + 1);
    if signature(&report) != want {
        fatal!(
            "shrink",
            "the strict replay of a shrunk schedule reproduces its tolerant run"
        );
    }
    Some((
        report,
        Shrunk {
            before: orig.len() as u64,
            after: best.len() as u64,
            preemptions_before: before_pre,
            preemptions_after: best_pre,
            replays: replays.get(),
        },
    ))
}
