//! Clocks of synchronization objects: the carrier of every happens-before edge that is
//! not a fork.
//!
//! FastTrack's lock rules (Flanagan & Freund, PLDI 2009, Fig. 2), in Go's vocabulary:
//!
//! | event            | effect                 | then            | Go examples |
//! |------------------|------------------------|-----------------|-------------|
//! | [`release`]      | `S := C_t`             | `C_t[t] += 1`   | `Mutex.Unlock`, a release-store atomic |
//! | [`release_merge`]| `S := S ⊔ C_t`         | `C_t[t] += 1`   | `RUnlock`, `wg.Done`, a send into a buffer slot shared by many senders |
//! | [`acquire`]      | `C_t := C_t ⊔ S`       |                 | `Lock`, a receive, `wg.Wait` returning |
//!
//! The tick after a release starts a new epoch, so that accesses the goroutine makes
//! after the release are not covered by what an acquirer of `S` learns.
//!
//! [`release`]: SyncClock::release
//! [`release_merge`]: SyncClock::release_merge
//! [`acquire`]: SyncClock::acquire
//!
//! # Invariants
//!
//! - A sync clock holds only values copied out of goroutine clocks, and every copy is
//!   published (`ThreadState::publish`), which slot reuse relies on (`thread.rs`).
//! - `S` never holds a larger entry `t` than slot `t`'s current (or last) occupant.

use super::clock::VClock;
use super::thread::ThreadState;

/// The clock of one synchronization object (mutex, channel slot, WaitGroup, Once, an
/// atomic location used for synchronization, a timer…). Starts as the zero clock:
/// acquiring an object nobody released teaches nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncClock {
    clock: VClock,
}

impl SyncClock {
    /// A fresh object, in a `const` context.
    pub const fn new_const() -> Self {
        SyncClock {
            clock: VClock::new_const(),
        }
    }

    /// A fresh object: the zero clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// What an acquirer learns.
    pub fn clock(&self) -> &VClock {
        &self.clock
    }

    /// Release store: `S := C_t`, then `t` ticks. What earlier releasers put here is
    /// forgotten (a later acquirer synchronizes with `t` only), as for Go's mutex
    /// unlock or a release-store atomic.
    pub fn release(&mut self, thread: &mut ThreadState) {
        self.clock.clone_from(thread.clock());
        thread.publish_and_tick();
    }

    /// Release merge: `S ⊔= C_t`, then `t` ticks. A later acquirer synchronizes with
    /// every goroutine that merged since the last [`SyncClock::release`].
    pub fn release_merge(&mut self, thread: &mut ThreadState) {
        self.clock.join(thread.clock());
        thread.publish_and_tick();
    }

    /// `S ⊔= other`: a release made on behalf of another object, whose clock was
    /// published when it was released there (a timer firing sends what arming it
    /// released).
    pub fn join_from(&mut self, other: &SyncClock) {
        self.clock.join(&other.clock);
    }

    /// Acquire: `C_t ⊔= S`. Everything released here happens before `t`'s next event.
    pub fn acquire(&self, thread: &mut ThreadState) {
        thread.join(&self.clock);
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::Epoch;
    use super::super::thread::Threads;
    use super::*;

    #[test]
    fn release_then_acquire_orders_and_ticks() {
        let mut th = Threads::new();
        let a = th.create(None);
        let b = th.create(None);
        let mut mutex = SyncClock::new();
        let before = th.get(a).epoch();
        mutex.release(th.get_mut(a));
        assert_eq!(th.get(a).epoch(), Epoch::new(a, before.clock() + 1));
        assert!(!before.covered_by(th.get(b).clock()));
        mutex.acquire(th.get_mut(b));
        assert!(before.covered_by(th.get(b).clock()));
        // a's accesses after the release are not ordered before b.
        assert!(!th.get(a).epoch().covered_by(th.get(b).clock()));
        // Acquire changes nothing of its own epoch.
        assert_eq!(th.get(b).epoch(), Epoch::new(b, 1));
    }

    #[test]
    fn release_overwrites_and_release_merge_accumulates() {
        let mut th = Threads::new();
        let a = th.create(None);
        let b = th.create(None);
        let c = th.create(None);
        let ea = th.get(a).epoch();
        let eb = th.get(b).epoch();

        let mut store = SyncClock::new();
        store.release(th.get_mut(a));
        store.release(th.get_mut(b));
        assert_eq!(
            store.clock().get(a),
            0,
            "a plain release forgets earlier releasers"
        );
        assert_eq!(store.clock().get(b), eb.clock());

        let mut merged = SyncClock::new();
        merged.release_merge(th.get_mut(a));
        merged.release_merge(th.get_mut(b));
        merged.acquire(th.get_mut(c));
        assert!(ea.covered_by(th.get(c).clock()));
        assert!(eb.covered_by(th.get(c).clock()));
    }

    #[test]
    fn acquiring_a_fresh_object_teaches_nothing() {
        let mut th = Threads::new();
        let a = th.create(None);
        let before = th.get(a).clock().clone();
        SyncClock::new().acquire(th.get_mut(a));
        assert_eq!(th.get(a).clock(), &before);
    }

    /// A hub: 100 000 goroutines, each knowing only itself, `release_merge` into one
    /// clock (`wg.Done`) in a shuffled order, then one goroutine acquires it
    /// (`wg.Wait`). The hub turns dense once crowded, so each merge costs its own
    /// clock's length rather than shifting a 100 000-entry sorted vector (`O(n²)`).
    #[test]
    fn many_release_merges_into_one_hub_clock() {
        const N: u32 = if cfg!(miri) { 300 } else { 100_000 }; // Miri runs ~10⁴x slower
        let mut th = Threads::new();
        let mut tids: Vec<_> = (0..N).map(|_| th.create(None)).collect();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for i in (1..tids.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            tids.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        let mut wg = SyncClock::new();
        for &t in &tids {
            wg.release_merge(th.get_mut(t));
        }
        assert_eq!(wg.clock().len(), N as usize);
        assert!(wg.clock().has_tree());
        let waiter = th.create(None);
        wg.acquire(th.get_mut(waiter));
        let clock = th.get(waiter).clock();
        assert_eq!(clock.len(), N as usize + 1);
        for &t in &tids {
            assert_eq!(clock.get(t), 1);
            assert!(!th.get(t).epoch().covered_by(clock), "after the release");
        }
    }
}
