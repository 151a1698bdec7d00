//! Bounded-exhaustive exploration (`Strategy::Exhaustive`): schedule counts computed
//! by hand, complete verification of a correct harness, and a bug that needs exactly
//! two preemptions.

use gosan::sync::atomic::{AtomicU64, Ordering};
use gosan::sync::{Mutex, WaitGroup};
use gosan::{chan, check, go, Chan, Config, Report, Strategy};
use std::sync::Arc;

fn exhaustive(k: u32) -> Config {
    Config::new().strategy(Strategy::Exhaustive {
        preemption_bound: k,
    })
}

fn explored(r: &Report) -> (u64, bool) {
    let e = r
        .exploration
        .as_ref()
        .unwrap_or_else(|| panic!("check sets the exploration summary: {r}"));
    (e.schedules, e.complete)
}

/// Main and one goroutine, each doing two atomic stores (two scheduling points
/// each) on atomics of their own.
///
/// Hand count. A goroutine's *transitions* run from one scheduling point to the
/// next. Main: m1 = from `go`'s scheduling point to its first store's, m2 = the first
/// store, m3 = the second store and return. The goroutine: g1 = its start up to its
/// first store's scheduling point, g2, g3 likewise. Nothing blocks, so every
/// interleaving of m1 m2 m3 with g1 g2 g3 is one schedule: C(6,3) = 20 without a
/// bound. Main has already run (the `go` call) when the first decision is made, so a
/// schedule is the word "m" + w (w the interleaving) split into maximal blocks of
/// one goroutine; every switch between blocks is a preemption except the last one
/// (the goroutine of the second-to-last block has finished: switching is free), so
/// preemptions = blocks - 2.
/// - K=0: 2 blocks: w = mmmggg. 1 schedule.
/// - K=1: at most 3 blocks: w = mmmggg, mgggmm, mmgggm (starting with m, 2 or 3
///   blocks of w) and gggmmm (w starts with g: one more block). 4 schedules.
/// - K=2: at most 4 blocks. w starting with m with at most 4 blocks: 1 (mmmggg) +
///   2 (m^i ggg m^(3-i), i = 1, 2) + 4 (m^a g^b m^c g^d, a, b in 1..=2) = 7; w
///   starting with g with at most 3 blocks: gggmmm + g^b mmm g^(3-b) (b = 1, 2) = 3.
///   10 schedules.
/// - K=3: at most 5 blocks: all 20 but those with 6 or 7 blocks: w = mgmgmg,
///   w = gmgmgm, and w = g m g m g (three single g's, m's split 1+2 or 2+1): 16.
/// - Unbounded: 20 (atomics are not keyed operations: no reduction applies).
fn two_by_two() {
    let a = Arc::new(AtomicU64::new(0));
    let b = Arc::new(AtomicU64::new(0));
    let b2 = b.clone();
    go(move || {
        b2.store(1, Ordering::Relaxed);
        b2.store(2, Ordering::Relaxed);
    });
    a.store(1, Ordering::Relaxed);
    a.store(2, Ordering::Relaxed);
}

#[test]
fn schedule_counts_match_the_hand_count() {
    for (k, want) in [(0, 1), (1, 4), (2, 10), (3, 16), (u32::MAX, 20)] {
        let r = check(exhaustive(k), usize::MAX, two_by_two);
        assert!(r.is_clean(), "{r}");
        assert_eq!(explored(&r), (want, true), "bound {k}: {r}");
    }
}

/// Cross-check of the hand rule (preemptions = blocks of "m" + w, minus 2) over
/// all 20 words, for every bound in the table.
#[test]
fn hand_rule_by_enumeration() {
    for (k, want) in [(0, 1), (1, 4), (2, 10), (3, 16), (4, 19), (5, 20)] {
        let mut n = 0;
        for mask in 0u32..64 {
            if mask.count_ones() != 3 {
                continue;
            }
            let w = (0..6).map(|i| mask >> i & 1 == 1); // true = a main transition
            let word: Vec<bool> = std::iter::once(true).chain(w).collect();
            let blocks = 1 + word.windows(2).filter(|p| p[0] != p[1]).count();
            if blocks - 2 <= k {
                n += 1;
            }
        }
        assert_eq!(n, want, "bound {k}");
    }
}

/// A bug that needs exactly two preemptions: the goroutine must see the first store
/// and then, after main's second store, the second one (store1 < load1 < store2 <
/// load2): main runs, is preempted after store 1, the goroutine loads once and is
/// preempted, main stores again and returns (a free switch), the goroutine loads.
fn two_preemption_bug() {
    let a = Arc::new(AtomicU64::new(0));
    let a2 = a.clone();
    go(move || {
        let r1 = a2.load(Ordering::SeqCst);
        let r2 = a2.load(Ordering::SeqCst);
        assert!(!(r1 == 1 && r2 == 2), "saw both stores in order");
    });
    a.store(1, Ordering::SeqCst);
    a.store(2, Ordering::SeqCst);
}

#[test]
fn finds_a_bug_that_needs_two_preemptions_and_not_with_one() {
    let r1 = check(exhaustive(1).shrink(false), usize::MAX, two_preemption_bug);
    assert!(r1.is_clean(), "{r1}");
    let (n1, complete) = explored(&r1);
    assert!(complete);
    assert!(r1
        .to_string()
        .contains(&format!("explored {n1} schedules in")));
    assert!(
        r1.to_string()
            .contains("exhaustive within preemption bound 1"),
        "{r1}"
    );

    let r2 = check(exhaustive(2).shrink(false), usize::MAX, two_preemption_bug);
    let p = r2
        .panic
        .as_ref()
        .unwrap_or_else(|| panic!("K=2 finds it: {r2}"));
    assert!(p.message.contains("saw both stores in order"), "{p:?}");
    let (n2, complete) = explored(&r2);
    assert!(!complete, "stopped at the finding");
    assert!(n2 >= 1);
    // The report's replay token reproduces the finding.
    let again = gosan::run_with(
        Config::new().strategy(Strategy::Replay(r2.schedule.clone())),
        two_preemption_bug,
    );
    assert_eq!(again.panic.map(|p| p.message), Some(p.message.clone()));
    assert!(
        r2.to_string().contains("strategy=replay:"),
        "the reproduce line names the token: {r2}"
    );
}

/// A small correct harness, verified completely: two goroutines increment a counter
/// under a mutex and signal on a channel; main waits for both with a WaitGroup.
fn correct_harness() {
    let m = Arc::new(Mutex::new(0u32));
    let wg = WaitGroup::new();
    let done: Chan<u32> = chan(2);
    for i in 0..2 {
        let (m, wg, done) = (m.clone(), wg.clone(), done.clone());
        wg.add(1);
        go(move || {
            *m.lock() += 1;
            done.send(i);
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(*m.lock(), 2);
    let mut got = [done.recv().unwrap(), done.recv().unwrap()];
    got.sort();
    assert_eq!(got, [0, 1]);
}

#[test]
fn verifies_a_small_correct_harness_completely() {
    for k in [0, 2, u32::MAX] {
        let r = check(exhaustive(k), usize::MAX, correct_harness);
        assert!(r.is_clean(), "{r}");
        let (n, complete) = explored(&r);
        assert!(complete, "bound {k}: {r}");
        assert!(n >= 1);
        let text = r.to_string();
        let k_text = if k == u32::MAX {
            "unbounded".to_string()
        } else {
            k.to_string()
        };
        assert!(
            text.contains(&format!("exhaustive within preemption bound {k_text}")),
            "{text}"
        );
    }
}

/// Sleep sets (unbounded): the shape of `two_by_two` with sends on two buffered
/// channels instead of atomic stores. The sends are keyed operations on different
/// channels, so main's first send (m2) and the goroutine's (g2) are independent;
/// every other pair is dependent (m1 and g1 start at `go`'s / the goroutine's start,
/// unkeyed; m3 and g3 end in an exit, never isolated). The Mazurkiewicz traces are
/// the 20 interleavings less one per pair that differ only by swapping an adjacent
/// m2 g2: those have m1, g1 before the pair (2 orders) and m3, g3 after it (2
/// orders), so 4 pairs and 16 traces. Sleep sets run exactly one schedule per trace
/// here: 16.
#[test]
fn sleep_sets_prune_independent_interleavings() {
    fn independent() {
        let a: Chan<u32> = chan(2);
        let b: Chan<u32> = chan(2);
        let b2 = b.clone();
        go(move || {
            b2.send(1);
            b2.send(2);
        });
        a.send(1);
        a.send(2);
    }
    let r = check(exhaustive(u32::MAX), usize::MAX, independent);
    assert!(r.is_clean(), "{r}");
    let (n, complete) = explored(&r);
    assert!(complete);
    assert_eq!(n, 16, "{r}");
    // Without reduction (a bound high enough to allow every schedule), all 20.
    let full = check(exhaustive(5), usize::MAX, independent);
    assert_eq!(explored(&full), (20, true), "{full}");
}

#[test]
fn strategy_spelling_and_errors() {
    assert_eq!(
        "exhaustive:3".parse::<Strategy>(),
        Ok(Strategy::Exhaustive {
            preemption_bound: 3
        })
    );
    assert_eq!(
        "exhaustive:inf".parse::<Strategy>(),
        Ok(Strategy::Exhaustive {
            preemption_bound: u32::MAX
        })
    );
    for bad in ["exhaustive", "exhaustive:x", "exhaustive:-2"] {
        let e = bad.parse::<Strategy>().unwrap_err();
        assert!(e.contains("exhaustive:K"), "{bad}: {e}");
    }
}
