//! Plain Rust memory shared between goroutines: what `cargo gosan test` checks with
//! compiler instrumentation, with no `Shared<T>` or annotation in sight.

/// Counters two goroutines bump, one per test (libtest runs tests on parallel threads).
pub static mut COUNTERS: [u64; 8] = [0; 8];

/// `COUNTERS[i] += 1`, unsynchronized: a read and a write of `COUNTERS[i]`.
pub fn bump_counter(i: usize) {
    // SAFETY: not safe at all when two goroutines call it without synchronization:
    // that is the data race the tests make the detector find.
    unsafe { COUNTERS[i] += 1 }
}

/// Counter `i`'s value (a read).
pub fn counter(i: usize) -> u64 {
    // SAFETY: a plain read; racy unless synchronized, as above.
    unsafe { COUNTERS[i] }
}

/// A raw pointer that may cross goroutines (the user's `unsafe` promise).
#[derive(Clone, Copy)]
pub struct SendPtr(pub *mut u64);

// SAFETY: the tests synchronize every use, except in the racy case on purpose.
unsafe impl Send for SendPtr {}

/// Stores `v` at slot `i` of the buffer behind `p`.
pub fn store_slot(p: SendPtr, i: usize, v: u64) {
    // SAFETY: the caller keeps the buffer alive and `i` in bounds.
    unsafe { *p.0.add(i) = v }
}
