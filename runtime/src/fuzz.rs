//! Fuzzer bytes as scheduling decisions, for a user's cargo-fuzz (libFuzzer) target.
//!
//! Each decision the run makes — which runnable goroutine goes next, which ready arm
//! of a `select!` (and any other kind recorded through the same chooser) — takes the
//! next byte of the input (two bytes when it has more than 256 alternatives) and
//! picks alternative `byte % n` in a fixed canonical order: alternative 0 is keep
//! running the current goroutine (at a yield or a park: the runnable goroutine with
//! the lowest id), the others follow by goroutine id. Once the bytes run out every
//! decision takes alternative 0. So a run is a pure function of (harness, bytes), a
//! fuzzer's mutations of the bytes are mutations of the schedule, and an all-zero or
//! empty input is the plain "no preemption" schedule.
//!
//! ```
//! // fuzz/fuzz_targets/my_harness.rs (through the facade: `gosan::fuzz::run`)
//! // #![no_main]
//! // libfuzzer_sys::fuzz_target!(|data: &[u8]| gosan::fuzz::run(data, my_harness));
//! fn my_harness() {
//!     let c = gosan_runtime::chan(1);
//!     let tx = c.clone();
//!     gosan_runtime::go(move || tx.send(1));
//!     assert_eq!(c.recv(), Some(1));
//! }
//! gosan_runtime::fuzz::run(&[1, 0, 2], my_harness);
//! ```

use crate::config::{Config, Strategy};
use crate::sched::explore::Guided;
use gosan_detector::report::{Exploration, Report};

/// Runs `harness` once (as `gosan::run` would, under `GOSAN_OPTIONS` and the default
/// [`Config`], with the race detector) with its scheduling decisions taken from
/// `data`, and panics when the run has any finding — a race, a deadlock, a leak, a
/// panic, a lock-order inversion or a livelock — with the full report and its replay
/// token (`GOSAN_OPTIONS="strategy=replay:…"` reproduces the run without the
/// fuzzer), so libFuzzer records the input as a crash.
///
/// # Panics
/// On any finding, as said; and like [`run_with`](crate::run_with) on an invalid
/// option.
#[track_caller]
pub fn run<F: FnOnce() + Send + 'static>(data: &[u8], harness: F) {
    let report = report(Config::new(), data, harness);
    if !report.is_clean() {
        panic!("gosan::fuzz: the harness has a finding under this input\n{report}");
    }
}

/// [`run`] without the panic: the run's report under `cfg` (its seed, default 0,
/// only seeds the detector's internal choices; the schedule comes from `data`).
#[track_caller]
pub fn report<F: FnOnce() + Send + 'static>(cfg: Config, data: &[u8], harness: F) -> Report {
    let mut r = match cfg.resolve() {
        Ok(r) => r,
        Err(e) => panic!("gosan: {e}"),
    };
    if !r.seed_given {
        r.seed = 0;
    }
    let (mut report, _, _) = crate::run::run_once_with(
        &r,
        r.seed,
        &Strategy::Random,
        Some(Box::new(Guided::bytes(data))),
        harness,
    );
    report.exploration = Some(Exploration {
        schedules: 1,
        found_by: Some(format!("fuzzer input of {} bytes", data.len())),
        ..Exploration::default()
    });
    report
}
