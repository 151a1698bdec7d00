//! The seed book's race-detector chapter: `num += a` from two goroutines races;
//! `GOSAN_OPTIONS` picks the schedule, `#[gosan::main]` exits 66 like `go run -race`.
use gosan::sync::WaitGroup;
use gosan::{go, Shared};

fn add(num: &Shared<i64>, a: i64) {
    num.update(|n| *n += a);
}

#[gosan::main]
fn main() {
    let num = Shared::new(0i64);
    let wg = WaitGroup::new();
    wg.add(2);
    {
        let (num, wg) = (num.clone(), wg.clone());
        go(move || {
            add(&num, 1);
            wg.done();
        });
    }
    {
        let (num, wg) = (num.clone(), wg.clone());
        go(move || {
            add(&num, -1);
            wg.done();
        });
    }
    wg.wait();
    println!("{}", num.get());
}
