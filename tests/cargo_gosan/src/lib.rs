//! Plain Rust memory shared between goroutines: what `cargo gosan test` checks with
//! compiler instrumentation, with no `Shared<T>` or annotation in sight.

/// A counter two goroutines bump.
pub static mut COUNTER: u64 = 0;

/// `COUNTER += 1`, unsynchronized: a read and a write of `COUNTER`.
pub fn bump_counter() {
    // SAFETY: not safe at all when two goroutines call it without synchronization:
    // that is the data race the tests make the detector find.
    unsafe { COUNTER += 1 }
}

/// The counter's value (a read).
pub fn counter() -> u64 {
    // SAFETY: a plain read; racy unless synchronized, as above.
    unsafe { COUNTER }
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
