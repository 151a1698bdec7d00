//! The seed book's timeouts with `time.After`: a per-select timeout (measured from
//! each `after` call), and an overall timeout for a loop of selects. Virtual time:
//! the seconds below pass instantly and identically on every run.

use gosan::time::{after, now, sleep, Duration};
use gosan::{chan, go, select, Chan};

#[gosan::main]
fn main() {
    let start = now();
    let ch1: Chan<&'static str> = chan(0);
    let tx = ch1.clone();
    go(move || {
        sleep(Duration::from_secs(2)); // too slow for a 1-second timeout
        let _ = tx.try_send("late");
    });
    select! {
        recv(ch1) -> v => println!("received {v:?}"),
        recv(after(Duration::from_secs(1))) -> _ => println!("timeout after {:?}", now() - start),
    }

    // Keep selecting for one second in total: `after` outside the loop.
    let ticks: Chan<u32> = chan(0);
    let tx = ticks.clone();
    go(move || {
        for i in 0.. {
            sleep(Duration::from_millis(300));
            if tx.try_send(i).is_err() {
                return;
            }
        }
    });
    let timeout = after(Duration::from_secs(1));
    let start = now();
    loop {
        select! {
            recv(ticks) -> v => println!("tick {} at {:?}", v.unwrap(), now() - start),
            recv(timeout) -> _ => { println!("overall timeout at {:?}", now() - start); break; }
        }
    }
}
