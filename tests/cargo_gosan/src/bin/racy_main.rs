//! `cargo gosan run --bin racy_main`: a Go-like program with a race on a `static mut`;
//! prints the report and exits 66.
use cargo_gosan_example::{bump_counter, counter};

#[gosan::main]
fn main() {
    let done = gosan::chan::<()>(0);
    let d = done.clone();
    gosan::go(move || {
        bump_counter(6);
        d.send(());
    });
    bump_counter(6);
    done.recv();
    println!("counter = {}", counter(6));
}
