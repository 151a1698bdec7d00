//! The scheduler's timer heap, ordered by (virtual deadline, arming sequence).
//!
//! Deterministic mode never reads a real clock: `now` moves only when the scheduler
//! fires a timer (every goroutine blocked, or every runnable one spinning), so a test
//! with a 10-minute timeout ends at once and identically every run. Entries of a
//! stopped or reset timer stay in the heap and are skipped when popped (their
//! generation no longer matches), like Go's lazily deleted timers.

use std::cmp::Ordering;
use std::sync::Weak;

/// Something a timer does when it fires. Runs in scheduler context: it may make
/// goroutines runnable, close channels or spawn goroutines, but never park.
pub trait Fire: Send + Sync {
    /// Whether the entry armed with `gen` is still wanted.
    fn live(&self, gen: u64) -> bool;
    /// Fires the entry armed with `gen` (only called when `live(gen)`).
    fn fire(&self, gen: u64);
}

pub enum Action {
    /// Wake a sleeping goroutine (slot, goroutine id).
    Wake(u32, u64),
    /// A user-visible timer (Timer, Ticker, after, after_func, context deadline).
    Fire(Weak<dyn Fire>, u64),
}

pub struct Entry {
    pub when: u64,
    pub seq: u64,
    pub action: Action,
}

impl Entry {
    /// Whether firing this entry still does anything.
    pub fn live(&self) -> bool {
        match &self.action {
            Action::Wake(..) => true,
            Action::Fire(w, gen) => w.upgrade().is_some_and(|t| t.live(*gen)),
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.when, self.seq) == (o.when, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest entry.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.when, o.seq).cmp(&(self.when, self.seq))
    }
}
