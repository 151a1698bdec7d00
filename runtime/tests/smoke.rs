use gosan_runtime::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn goroutines_run_and_finish() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let r = run(move || {
        for _ in 0..10 {
            let n = n2.clone();
            go(move || {
                n.fetch_add(1, Ordering::SeqCst);
            });
        }
        while n2.load(Ordering::SeqCst) < 10 {
            gosched();
        }
    });
    assert!(r.is_clean(), "{r}");
    assert_eq!(n.load(Ordering::SeqCst), 10);
}
