//! The seed book's sieve of Eratosthenes: a chain of goroutines, one filter per prime
//! found, each passing on the numbers its prime does not divide. A `done` channel
//! shuts the whole chain down when main has enough primes (without it, every filter
//! would be a leaked goroutine — which gosan reports and Go does not).

use gosan::{chan, go, select, Chan, RecvChan, SendChan};

/// Sends 2, 3, 4, … until `done` is closed.
fn generate(ch: SendChan<u64>, done: RecvChan<()>) {
    let mut i = 2;
    loop {
        select! {
            send(ch, i) => i += 1,
            recv(done) -> _ => return,
        }
    }
}

/// Passes on the values from `src` that `prime` does not divide.
fn filter(src: RecvChan<u64>, dst: SendChan<u64>, prime: u64, done: RecvChan<()>) {
    loop {
        let i = select! {
            recv(src) -> v => match v { Some(v) => v, None => return },
            recv(done) -> _ => return,
        };
        if i % prime != 0 {
            select! {
                send(dst, i) => {},
                recv(done) -> _ => return,
            }
        }
    }
}

#[gosan::main]
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(25);
    let done: Chan<()> = chan(0);
    let mut ch: Chan<u64> = chan(0);
    {
        let (ch, done) = (ch.sender(), done.receiver());
        go(move || generate(ch, done));
    }
    for _ in 0..n {
        let prime = ch.recv().expect("the chain never closes before done");
        println!("{prime}");
        let ch1: Chan<u64> = chan(0);
        let (src, dst, d) = (ch.receiver(), ch1.sender(), done.receiver());
        go(move || filter(src, dst, prime, d));
        ch = ch1;
    }
    done.close();
    // every goroutine of the chain sees `done` and returns: no leak
}
