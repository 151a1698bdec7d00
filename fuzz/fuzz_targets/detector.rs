//! Differential fuzzing of the FastTrack engine (`gosan_detector::hb::Engine`)
//! against the brute-force full-vector-clock reference model of
//! `detector/tests/hb_differential.rs` (included by path): fuzzer bytes choose the
//! event profile, the trace length and every random draw of the trace (fork, finish,
//! join, release, release-merge, acquire, plain/atomic accesses of 1..12 bytes,
//! free). The model asserts at every access that the engine's verdict agrees (see
//! the model's header): a disagreement panics, and libFuzzer records a crash.
#![no_main]

#[path = "../../detector/tests/support/hb_model.rs"]
mod hb_model;

use hb_model::{SplitMix64, Stats, Trace, PROFILES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let weights = PROFILES[data[0] as usize % PROFILES.len()];
    let steps = 16 + data[1] as usize;
    let mut rng = SplitMix64::from_bytes(0x6057_A11D, &data[2..]);
    let mut stats = Stats::default();
    let mut trace = Trace::new(0x6057_A11D);
    for _ in 0..steps {
        trace.random_step(&mut rng, &weights, &mut stats);
    }
});
