//! Differential test of the FastTrack engine (`gosan_detector::hb::Engine`) against a
//! brute-force happens-before model kept in this file.
//!
//! The reference is deliberately naive, so that it is obviously right:
//!
//! - every goroutine gets a fresh *logical* id, never reused, and a full vector clock
//!   indexed by logical id (own entry starts at 1, ticks after each release and fork);
//! - every byte keeps the full history of its accesses: (logical goroutine, that
//!   goroutine's own clock entry at the access, kind);
//! - an access `a` races at a byte iff some earlier access `b` to that byte conflicts
//!   with it (one of them writes, not both atomic) and `b`'s own entry is greater than
//!   `a`'s current clock entry for `b`'s goroutine;
//! - join = the joiner acquires the finished goroutine's final clock (the engine side
//!   releases into a per-goroutine sync clock right before finishing; Go has no join,
//!   so the engine has no join event).
//!
//! Random traces (fork, root creation, finish with or without a later join, join,
//! release, release-merge, acquire, plain/atomic reads and writes of 1..12 bytes at
//! aligned and unaligned addresses, free) drive both, and at every access the verdicts
//! must agree: "is there a race at this access", and when there is, the engine's
//! first racing byte, previous kind, previous epoch and previous site must name a
//! real racing pair of the reference.
//!
//! What FastTrack may miss: it is exact up to the first race on a location; after a
//! race its state summarizes a history that already has an error and may diverge
//! (e.g. the racing write replaced `W`). So once the reference reports a race on a
//! byte, that byte is *tainted* for the rest of the trace (until it is freed) and any
//! access touching a tainted byte is not compared.
//!
//! The engine reuses goroutine slots; the reference never does. The comparison thus
//! also checks that slot reuse neither hides nor invents races; the test asserts that
//! reuse happened and that accesses were compared against earlier accesses made by a
//! previous occupant of the same slot, both racing and not.
//!
//! Besides 5000 short traces (a few goroutines, a few words), long traces with
//! thousands of goroutines and a hub pattern (one goroutine waits for thousands, then
//! forks thousands that reuse their slots) make clocks know more goroutines than a
//! delta holds, so the shared trees of `hb/tree.rs` are forked, released, joined and
//! remembered (`seen`) under comparison too; the tests count the compared accesses
//! made by goroutines whose clock holds a tree.

#[path = "support/hb_model.rs"]
mod hb_model;

use gosan_detector::hb::{AccessKind, Engine, SyncClock};
use hb_model::*;

#[test]
fn fasttrack_agrees_with_brute_force_at_every_access() {
    // Under Miri (~10⁴x slower) a reduced run: the first 4 traces, with the
    // non-vacuity bounds scaled to them. They happen to hold no race against a slot's
    // previous occupant (the targeted tests below make those deterministically).
    const TRACES: u64 = if cfg!(miri) { 4 } else { 5000 };
    const STEPS: usize = 200;
    let mut stats = Stats::default();
    for i in 0..TRACES {
        let seed = 0x6057_A11D_0000_0000 ^ i;
        let mut rng = SplitMix64::seeded(seed);
        let weights = PROFILES[rng.below(PROFILES.len())];
        let mut trace = Trace::new(seed);
        for _ in 0..STEPS {
            trace.random_step(&mut rng, &weights, &mut stats);
        }
        stats.traces += 1;
    }
    eprintln!("hb differential: {stats:?}");
    assert_eq!(stats.traces, TRACES);
    // The comparison is not vacuous: many accesses, both verdicts, slot reuse, and
    // races and non-races against a slot's previous occupant. (At 5000 traces: more
    // than 100 000 compared, 5 000 races, 50 000 non-races, 10 000 reuses, 100 and
    // 1 000 cross-occupant races and orderings.)
    let per = |n: u64| n * TRACES / 5000;
    assert!(stats.compared > per(100_000), "{stats:?}");
    assert!(
        stats.races > per(5_000) && stats.compared - stats.races > per(50_000),
        "{stats:?}"
    );
    assert!(stats.reuses > per(10_000), "{stats:?}");
    assert!(
        stats.cross_occupant_race > per(100) || cfg!(miri),
        "{stats:?}"
    );
    assert!(stats.cross_occupant_ordered > per(1_000), "{stats:?}");
}

const X: u64 = 0x4000;
const Y: u64 = 0x4008;

/// The reuse hazard itself: a goroutine writes X and finishes; an unrelated goroutine
/// (its creator never synchronized with the first) writes X. If the second took over
/// the first's slot with a counter just above the first's final one, its own clock
/// entry would cover the first's write and the race would vanish. The engine must
/// report it, and therefore must not have handed over the slot.
#[test]
fn finished_goroutine_and_unrelated_successor_still_race() {
    let mut e = Engine::new();
    let main = e.goroutine_created(None);
    let old = e.goroutine_created(Some(main));
    e.write(old, X, 8, 1, false).unwrap();
    e.goroutine_finished(old);
    let new = e.goroutine_created(Some(main));
    let race = e
        .write(new, X, 8, 2, false)
        .expect_err("old and new occupant's writes are unordered");
    assert_eq!(race.previous, AccessKind::Write);
    assert_eq!(race.previous_site, 1);
    assert_eq!(race.previous_epoch.tid(), old);
    assert_ne!(
        new, old,
        "the slot went to a goroutine not ordered after its previous occupant"
    );
}

/// The boundary of the reuse rule: the creator knows the finished goroutine's release
/// (`wg.Done`) but not a write it made *after* it. Reusing the slot would hide the
/// race between that write and the successor's.
#[test]
fn write_after_last_release_blocks_reuse_and_still_races() {
    let mut e = Engine::new();
    let main = e.goroutine_created(None);
    let old = e.goroutine_created(Some(main));
    let mut wg = SyncClock::new();
    e.released_merge(old, &mut wg);
    e.write(old, X, 8, 1, false).unwrap();
    e.goroutine_finished(old);
    e.acquired(main, &wg);
    let new = e.goroutine_created(Some(main));
    assert_ne!(new, old);
    let race = e.write(new, X, 8, 2, false).unwrap_err();
    assert_eq!((race.previous_site, race.previous_epoch.tid()), (1, old));
}

/// A slot that *is* reused (its creator waited for the old occupant) keeps both
/// occupants' accesses apart for everybody else: a goroutine ordered with neither
/// races with each of them, and the new occupant does not race with the old.
#[test]
fn reused_slot_keeps_both_occupants_visible_to_others() {
    let mut e = Engine::new();
    let main = e.goroutine_created(None);
    let bystander = e.goroutine_created(Some(main));
    let old = e.goroutine_created(Some(main));
    e.write(old, X, 8, 1, false).unwrap();
    e.write(old, Y, 8, 2, false).unwrap();
    let mut wg = SyncClock::new();
    e.released_merge(old, &mut wg);
    e.goroutine_finished(old);
    e.acquired(main, &wg);
    let new = e.goroutine_created(Some(main));
    assert_eq!(
        new, old,
        "main waited for the old occupant: its slot is reused"
    );
    e.write(new, X, 8, 3, false)
        .expect("ordered after the old occupant's write");

    let race = e.read(bystander, X, 8, 4, false).unwrap_err();
    assert_eq!(race.previous_site, 3, "the new occupant's write");
    let race = e.read(bystander, Y, 8, 5, false).unwrap_err();
    assert_eq!(race.previous_site, 2, "the old occupant's write");
    assert_eq!(race.previous_epoch.tid(), new);
    assert!(race.previous_epoch.clock() < e.thread(new).epoch().clock());
}

/// Runs `count` random traces of `steps` steps each over `words` words with at most
/// `max_live` goroutines alive, with weights drawn from `profiles`.
fn random_traces(
    base_seed: u64,
    count: u64,
    steps: usize,
    (words, max_live): (usize, usize),
    profiles: &[[u64; 8]],
    stats: &mut Stats,
) {
    for i in 0..count {
        let seed = base_seed ^ i;
        let mut rng = SplitMix64::seeded(seed);
        let weights = profiles[rng.below(profiles.len())];
        let mut trace = Trace::with_shape(seed, words, max_live);
        for _ in 0..steps {
            trace.random_step(&mut rng, &weights, stats);
        }
        stats.traces += 1;
        stats.max_slots = stats.max_slots.max(trace.engine.threads().slot_count());
    }
}

/// Long traces (thousands of goroutines each, dozens alive at once, many slots reused)
/// in which goroutines learn about more goroutines than a clock's delta holds, so
/// their clocks fold into shared trees that forks, releases and joins then share.
#[test]
fn long_traces_with_thousands_of_goroutines_agree() {
    let mut stats = Stats::default();
    random_traces(
        0x1096_7ACE_0000_0000,
        8,
        30_000,
        (32, 32),
        &PROFILES[..2],
        &mut stats,
    );
    eprintln!("hb differential (long traces): {stats:?}");
    assert!(
        stats.created > 20_000 && stats.max_slots > 1_000,
        "{stats:?}"
    );
    assert!(stats.reuses > 5_000, "{stats:?}");
    assert!(stats.tree_compared > 20_000, "{stats:?}");
    assert!(
        stats.races > 5_000 && stats.compared - stats.races > 20_000,
        "{stats:?}"
    );
    assert!(
        stats.cross_occupant_race > 50 && stats.cross_occupant_ordered > 40,
        "{stats:?}"
    );
}

/// The hub pattern: one goroutine forks up to thousands of goroutines at once, each
/// writes or reads its own word (now and then any word) and, nearly always, calls
/// `Done` on a WaitGroup (a release-merge) before finishing; the hub waits (acquires),
/// sometimes joins finished ones directly, reads what they wrote, and forks the next
/// round, whose goroutines reuse the slots of those it waited for and touch the words
/// the previous round wrote. A bystander that synchronizes with the hub only now and
/// then races with both rounds; a goroutine that skipped `Done` races with the next
/// round. Sometimes a child of the hub becomes the next hub, so forks start from a
/// clock that shares the old hub's tree.
#[test]
fn hub_joins_thousands_then_forks_thousands_agree() {
    const HUB_WORDS: usize = 2048;
    let mut stats = Stats::default();
    for i in 0..3u64 {
        let seed = 0x4B0B_0000_0000_0000 ^ i;
        let mut rng = SplitMix64::seeded(seed);
        let mut t = Trace::with_shape(seed, HUB_WORDS, usize::MAX);
        let bystander = t.create(Some(0), &mut stats);
        let mut hub = 0;
        let mut offset = 0;
        for _round in 0..6 {
            let k = [50, 400, 2500][rng.below(3)];
            let children: Vec<usize> = (0..k).map(|_| t.create(Some(hub), &mut stats)).collect();
            for (n, &c) in children.iter().enumerate() {
                t.step += 1;
                let word = if rng.chance(90) {
                    (offset + n) % HUB_WORDS
                } else {
                    rng.below(HUB_WORDS)
                };
                let kind = if rng.chance(50) {
                    AccessKind::Write
                } else {
                    AccessKind::Read
                };
                t.access(c, BASE + 8 * word as u64, 8, kind, &mut stats);
                if rng.chance(3) {
                    t.random_access(&mut rng, c, &mut stats);
                }
                if rng.chance(97) {
                    t.release(c, 0, true); // wg.Done
                }
                t.finish(c, rng.chance(20));
            }
            t.step += 1;
            t.acquire(hub, 0); // wg.Wait
            for _ in 0..rng.below(5) {
                let f = rng.pick(&t.joinable);
                t.join(hub, f);
            }
            for _ in 0..10 {
                let word = rng.below(HUB_WORDS);
                t.access(hub, BASE + 8 * word as u64, 8, AccessKind::Read, &mut stats);
            }
            if rng.chance(50) {
                t.random_access(&mut rng, bystander, &mut stats);
            } else {
                // A hand-off both ways through locks 1 and 2.
                t.release(bystander, 1, false);
                t.acquire(hub, 1);
                t.release(hub, 2, false);
                t.acquire(bystander, 2);
            }
            if rng.chance(40) {
                let next = t.create(Some(hub), &mut stats);
                if hub != 0 {
                    t.finish(hub, false);
                }
                hub = next;
            }
            offset += k;
        }
        stats.traces += 1;
        stats.max_slots = stats.max_slots.max(t.engine.threads().slot_count());
    }
    eprintln!("hb differential (hub): {stats:?}");
    assert!(stats.max_slots > 2_048, "a tree of height 2: {stats:?}");
    assert!(stats.reuses > 1_000, "{stats:?}");
    assert!(stats.tree_compared > 1_000, "{stats:?}");
    assert!(
        stats.races > 10 && stats.compared - stats.races > 1_000,
        "{stats:?}"
    );
    assert!(
        stats.cross_occupant_race > 0 && stats.cross_occupant_ordered > 100,
        "{stats:?}"
    );
}
