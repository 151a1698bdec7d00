//! `GOSAN_OPTIONS` / `GOSAN_DEBUG` parsing and schedule-string decoding never panic:
//! bad input is an error value naming the key, and whatever parses round-trips.
#![no_main]

use gosan_runtime::Strategy;
use gosan_runtime::__private::{parse_debug, parse_options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_options(text, "GOSAN_OPTIONS") {
        Ok(_) => {}
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let _ = parse_debug(text);
    if let Ok(s) = text.parse::<Strategy>() {
        assert_eq!(s.spelling().parse::<Strategy>().unwrap(), s);
    }
});
