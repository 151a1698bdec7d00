//! What must not compile: a reference borrowed inside a `with`/`with_mut` closure
//! cannot leave it (the borrow state is released when the closure returns), and a
//! handle to a value that is not `Send` cannot reach another goroutine or thread
//! (`Shared<T>`, `SharedVec<T>`, `RaceCell<T>` are `Send + Sync` only when `T: Send`).
//! Each case is a file under `tests/compile_fail/` with the compiler's error as its
//! `.stderr` snapshot (`TRYBUILD=overwrite cargo test --test compile_fail` rewrites
//! them after a toolchain change; review the diff).

#[test]
fn compile_fail() {
    trybuild::TestCases::new().compile_fail("tests/compile_fail/*.rs");
}
