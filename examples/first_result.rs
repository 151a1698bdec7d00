//! The seed book's first-response query (from "Go Concurrency Patterns"): ask every
//! replica, keep whichever answers first. The buffered channel and the
//! `select`-with-`default` send make sure slower replicas never block (no leak).

use gosan::time::{sleep, Duration};
use gosan::{chan, go, select, Chan};

#[derive(Clone, Debug)]
struct Conn {
    name: &'static str,
    latency: Duration,
}

impl Conn {
    fn do_query(&self, query: &str) -> String {
        sleep(self.latency);
        format!("{} answered {query:?} after {:?}", self.name, self.latency)
    }
}

fn query(conns: &[Conn], q: &'static str) -> String {
    let ch: Chan<String> = chan(conns.len());
    for c in conns {
        let (c, ch) = (c.clone(), ch.clone());
        go(move || {
            let r = c.do_query(q);
            select! {
                send(ch, r) => {},
                default => {},
            }
        });
    }
    ch.recv().expect("at least one replica answers")
}

#[gosan::main]
fn main() {
    let conns = [
        Conn {
            name: "replica-a",
            latency: Duration::from_millis(120),
        },
        Conn {
            name: "replica-b",
            latency: Duration::from_millis(40),
        },
        Conn {
            name: "replica-c",
            latency: Duration::from_millis(300),
        },
    ];
    let result = query(&conns, "SELECT 1");
    println!("{result}");
    assert!(result.starts_with("replica-b"));
}
