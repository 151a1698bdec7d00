//! The seed book's fan-in with a done channel: two generators merged into one
//! channel by a select loop (`fanIn1`, with its busy `default: continue`), and the
//! variadic version built from one forwarding goroutine per input and a WaitGroup
//! (`fanIn2`). Closing `done` stops everything; main drains `result` until it closes.

use gosan::sync::WaitGroup;
use gosan::{chan, go, select, Chan, RecvChan};

fn generator(done: RecvChan<()>, n: i32) -> RecvChan<i32> {
    let result: Chan<i32> = chan(0);
    let tx = result.sender();
    go(move || {
        loop {
            select! {
                recv(done) -> _ => break,
                send(tx, n) => {},
            }
        }
        tx.close();
    });
    result.receiver()
}

fn fan_in1(done: RecvChan<()>, c1: RecvChan<i32>, c2: RecvChan<i32>) -> RecvChan<i32> {
    let result: Chan<i32> = chan(0);
    let tx = result.sender();
    go(move || {
        loop {
            select! {
                recv(done) -> _ => { println!("done"); break; }
                recv(c1) -> num => { println!("send 1"); tx.send(num.unwrap_or_default()); }
                recv(c2) -> num => { println!("send 2"); tx.send(num.unwrap_or_default()); }
                default => continue,
            }
        }
        println!("closed fanin");
        tx.close();
    });
    result.receiver()
}

fn fan_in2(done: RecvChan<()>, cs: Vec<RecvChan<i32>>) -> RecvChan<i32> {
    let result: Chan<i32> = chan(0);
    let wg = WaitGroup::new();
    wg.add(cs.len() as i64);
    for (i, c) in cs.into_iter().enumerate() {
        let (done, tx, wg) = (done.clone(), result.sender(), wg.clone());
        go(move || {
            for num in &c {
                select! {
                    recv(done) -> _ => { println!("wg.Done {i}"); break; }
                    send(tx, num) => println!("send {i}"),
                }
            }
            wg.done();
        });
    }
    let tx = result.sender();
    go(move || {
        wg.wait();
        tx.close();
    });
    result.receiver()
}

fn drain(result: &RecvChan<i32>) {
    while result.recv().is_some() {}
}

#[gosan::main]
fn main() {
    let done: Chan<()> = chan(0);
    let gen1 = generator(done.receiver(), 1);
    let gen2 = generator(done.receiver(), 2);
    let result = fan_in1(done.receiver(), gen1, gen2);
    for _ in 0..5 {
        println!("got {}", result.recv().unwrap());
    }
    done.close();
    println!("main close done");
    drain(&result);

    let done: Chan<()> = chan(0);
    let gens = (1..=3).map(|n| generator(done.receiver(), n)).collect();
    let result = fan_in2(done.receiver(), gens);
    for _ in 0..5 {
        println!("got {}", result.recv().unwrap());
    }
    done.close();
    drain(&result);
}
