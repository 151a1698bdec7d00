//! Helpers shared by the runtime's integration tests (each test binary uses a subset).
#![allow(dead_code)]

use gosan_runtime::gosched;
use std::time::Duration;

/// Runs `f` on its own thread and fails the test if it has not finished within
/// `secs` seconds: a spin loop that makes no progress fails instead of hanging.
pub fn within<R: Send + 'static>(secs: u64, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("did not finish in time (or panicked): a spin loop made no progress")
}

/// Gosched until `cond` holds (bounded).
pub fn spin_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..100_000 {
        if cond() {
            return;
        }
        gosched();
    }
    panic!("condition never became true");
}
