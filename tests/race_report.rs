//! Snapshot tests of race report text (addresses normalized, paths stripped with
//! `strip_path_prefix`): both stacks, the creation stacks, Go's wording; dedup; JSON.

// Race-detector tests: they need the detector compiled in (the default `race` feature).
#![cfg(feature = "race")]

use gosan::{chan, go, run_with, Chan, Config, Shared, Strategy};

fn line_of(marker: &str) -> u32 {
    1 + include_str!("race_report.rs")
        .lines()
        .position(|l| l.ends_with(marker))
        .unwrap_or_else(|| panic!("marker {marker}")) as u32
}

/// Replaces every hex address with 0xADDR.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 2..];
        let n = tail.chars().take_while(|c| c.is_ascii_hexdigit()).count();
        out.push_str("0xADDR");
        rest = &tail[n..];
    }
    out.push_str(rest);
    out
}

// `black_box` after the access keeps it from being a tail call: in release builds a
// tail call replaces this frame by the callee's, and no unwinder can show it then.
#[inline(never)]
fn store(x: &Shared<i64>, v: i64) {
    x.set(v); // site: store
    std::hint::black_box(());
}

#[inline(never)]
fn load(x: &Shared<i64>) -> i64 {
    std::hint::black_box(x.get()) // site: load
}

fn program() {
    let x = Shared::new(0i64);
    let done: Chan<()> = chan(1);
    let (x2, d2) = (x.clone(), done.clone());
    #[rustfmt::skip]
    go(move || { // site: go statement
        store(&x2, 1); // site: goroutine calls store
        d2.send(());
    });
    load(&x); // site: main calls load
    done.recv();
}

fn config() -> Config {
    Config::new()
        .seed(7)
        .strategy(Strategy::RoundRobin)
        .strip_path_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/"))
}

#[test]
fn race_report_text_matches_go() {
    let r = run_with(config(), program);
    assert_eq!(r.races.len(), 1, "{r}");
    let got = normalize(&r.races[0].to_string());
    let f = "tests/race_report.rs";
    let go_line = line_of("{ // site: go statement");
    let expected = format!(
        "==================
WARNING: DATA RACE
Read at 0xADDR by main goroutine:
  race_report::load()
      {f}:{load}
  race_report::program()
      {f}:{calls_load}

Previous write at 0xADDR by goroutine 2:
  race_report::store()
      {f}:{store}
  race_report::program::{{{{closure}}}}()
      {f}:{calls_store}

Goroutine 2 (running) created at:
  race_report::program()
      {f}:{go_line}
==================
",
        store = line_of("// site: store"),
        calls_store = line_of("// site: goroutine calls store"),
        load = line_of("// site: load"),
        calls_load = line_of("// site: main calls load"),
    );
    assert_eq!(got, expected, "\nfull report:\n{r}");
}

#[test]
fn report_ends_with_found_and_reproduce_lines() {
    let r = run_with(config(), program);
    let text = r.to_string();
    assert!(text.contains("Found 1 data race(s)\n"), "{text}");
    assert!(
        text.trim_end()
            .ends_with(&format!("(or strategy=replay:{})", r.schedule)),
        "{text}"
    );
    // Replaying the schedule gives the same race.
    let again = run_with(
        Config::new()
            .strategy(Strategy::Replay(r.schedule.clone()))
            .strip_path_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/")),
        program,
    );
    let strip_addr = |rs: &[gosan::RaceReport]| {
        rs.iter()
            .map(|x| {
                let mut x = x.clone();
                x.current.addr = 0;
                x.previous.addr = 0;
                x
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_addr(&again.races), strip_addr(&r.races));
}

#[test]
fn one_report_per_distinct_pair_of_sites() {
    let r = run_with(config(), || {
        let x = Shared::new(0i64);
        let x2 = x.clone();
        go(move || {
            for i in 0..10 {
                store(&x2, i);
            }
        });
        for _ in 0..10 {
            load(&x);
        }
        gosan::time::sleep(std::time::Duration::from_secs(1));
    });
    assert!(!r.races.is_empty());
    let mut pairs: Vec<_> = r
        .races
        .iter()
        .map(|x| (x.current.stack[0].line, x.previous.stack[0].line))
        .collect();
    let n = pairs.len();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), n, "duplicate report for a pair of sites: {r}");
    assert!(n <= 2, "{r}");
}

#[test]
fn json_report_has_the_same_content() {
    let r = run_with(config(), program);
    let json = r.to_json();
    let back: gosan::Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    assert!(json.contains("\"races\""));
    assert!(json.contains("race_report::store"));
}

#[test]
fn previous_access_site_is_known_without_history() {
    let r = run_with(config().history_size(0), program);
    assert_eq!(r.races.len(), 1);
    let prev = &r.races[0].previous.stack;
    assert_eq!(
        prev.len(),
        1,
        "history_size=0 keeps only the site: {prev:?}"
    );
    assert_eq!(prev[0].line, line_of("// site: store"));
    assert!(prev[0].function.ends_with("store"), "{prev:?}");
}

#[test]
fn halt_on_error_stops_at_the_first_race() {
    let r = run_with(config().halt_on_error(true), || {
        let x = Shared::new(0i64);
        let y = Shared::new(0i64);
        let (x2, y2) = (x.clone(), y.clone());
        go(move || {
            store(&x2, 1);
            store(&y2, 1);
        });
        load(&x);
        load(&y);
        gosan::time::sleep(std::time::Duration::from_secs(1));
    });
    assert_eq!(r.races.len(), 1, "{r}");
}
