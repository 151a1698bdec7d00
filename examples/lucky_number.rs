//! The seed book's first program: a goroutine tells its fortune, the main goroutine
//! waits for it on a channel (`go getLuckyNum(c)`, `num := <-c`).
//!
//! The "random" fortune-telling time is a virtual `sleep`: the program ends at once,
//! and the same `GOSAN_OPTIONS="seed=…"` gives the same run.

use gosan::time::{sleep, Duration};
use gosan::{Chan, SendChan};

fn get_lucky_num(c: SendChan<u64>) {
    println!("...");
    // fortune telling takes a random time (up to 3 s of virtual time)
    let t = gosan::time::now();
    let r = pseudo_random(t.elapsed().as_nanos() as u64 ^ gosan::goid());
    sleep(Duration::from_millis(r % 3000));
    c.send(r % 10);
}

fn pseudo_random(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15) ^ std::process::id() as u64;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^ (z >> 31)
}

#[gosan::main]
fn main() {
    println!("what is today's lucky number?");
    let c: Chan<u64> = gosan::chan(0);
    let tx = c.sender();
    gosan::go(move || get_lucky_num(tx));
    let num = c.recv().expect("the fortune teller always answers");
    println!("Today's your lucky number is {num}!");
    c.close();
}
