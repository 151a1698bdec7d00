//! The seed book's (and Effective Go's) semaphore: a buffered channel of capacity
//! `MAX_OUTSTANDING` bounds how many requests are processed at once.

use gosan::sync::atomic::{AtomicUsize, Ordering};
use gosan::sync::WaitGroup;
use gosan::time::{sleep, Duration};
use gosan::{chan, go, Chan};
use std::sync::Arc;

const MAX_OUTSTANDING: usize = 3;

#[gosan::main]
fn main() {
    let sem: Chan<i32> = chan(MAX_OUTSTANDING);
    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let wg = WaitGroup::new();
    for req in 0..10 {
        wg.add(1);
        let (sem, active, peak, wg) = (sem.clone(), active.clone(), peak.clone(), wg.clone());
        go(move || {
            sem.send(1); // wait for the active queue to drain
            let now = active.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            println!("request {req}: processing ({now} active)");
            sleep(Duration::from_millis(100)); // process(r): may take a long time
            active.fetch_sub(1, Ordering::SeqCst);
            sem.recv(); // done; enable the next request to run
            wg.done();
        });
    }
    wg.wait();
    let peak = peak.load(Ordering::SeqCst);
    println!("at most {peak} requests were processed at once (limit {MAX_OUTSTANDING})");
    assert!(peak <= MAX_OUTSTANDING);
}
