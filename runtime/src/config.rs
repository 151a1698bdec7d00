//! `Config`, `Strategy` and `GOSAN_OPTIONS` / `GOSAN_DEBUG` parsing.
//!
//! Precedence (DESIGN.md): an explicit `Config` call wins over the environment, the
//! environment wins over the defaults. Every field is an `Option` so that "set by the
//! user" and "default" stay distinguishable until [`Config::resolve`]. An unknown key
//! or a bad value is an [`OptionError`] naming it; the runtime refuses to start with
//! it (a panic with the error's text), never a silent default.

use std::fmt;
use std::path::PathBuf;

/// How the deterministic scheduler picks the next goroutine at a scheduling point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// Uniform choice among the runnable goroutines, from the seed.
    Random,
    /// Probabilistic Concurrency Testing (Burckhardt et al., ASPLOS 2010) with
    /// `depth - 1` priority change points.
    Pct { depth: u32 },
    /// Each scheduling point hands over to the longest-waiting runnable goroutine.
    RoundRobin,
    /// Repeats a recorded `Report::schedule` choice for choice.
    Replay(String),
}

impl Strategy {
    /// The spelling `GOSAN_OPTIONS="strategy=…"` accepts.
    pub fn spelling(&self) -> String {
        match self {
            Strategy::Random => "random".into(),
            Strategy::Pct { depth } => format!("pct:{depth}"),
            Strategy::RoundRobin => "roundrobin".into(),
            Strategy::Replay(s) => format!("replay:{s}"),
        }
    }

    fn parse_spelling(v: &str) -> Result<Strategy, String> {
        let lower = v.to_ascii_lowercase();
        if lower == "random" {
            return Ok(Strategy::Random);
        }
        if lower == "roundrobin" || lower == "rr" {
            return Ok(Strategy::RoundRobin);
        }
        if let Some(d) = lower.strip_prefix("pct:") {
            return match d.parse::<u32>() {
                Ok(depth) if depth >= 1 => Ok(Strategy::Pct { depth }),
                _ => Err("expected pct:N with N >= 1".into()),
            };
        }
        if lower == "pct" {
            return Ok(Strategy::Pct { depth: 3 });
        }
        if let Some(s) = v.strip_prefix("replay:") {
            return Ok(Strategy::Replay(s.to_string()));
        }
        Err("expected random, roundrobin, pct:N or replay:SCHEDULE".into())
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    /// `random`, `roundrobin`, `pct` / `pct:N`, `replay:SCHEDULE`.
    fn from_str(s: &str) -> Result<Strategy, String> {
        Strategy::parse_spelling(s)
    }
}

/// Report output format (`format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

/// An unknown option or a bad value in `GOSAN_OPTIONS`, `GOSAN_DEBUG` or a `Config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// Where it came from: `GOSAN_OPTIONS`, `GOSAN_DEBUG`, `Config` or an attribute.
    pub source: &'static str,
    pub key: String,
    pub value: Option<String>,
    pub reason: String,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(
                f,
                "{}: invalid value `{}` for `{}`: {}",
                self.source, v, self.key, self.reason
            ),
            None => write!(f, "{}: `{}`: {}", self.source, self.key, self.reason),
        }
    }
}

impl std::error::Error for OptionError {}

/// Options of one run. Builder methods take and return `self`; unset fields fall back
/// to `GOSAN_OPTIONS`, then to the defaults.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub(crate) seed: Option<u64>,
    pub(crate) strategy: Option<Strategy>,
    pub(crate) procs: Option<usize>,
    pub(crate) detect_races: Option<bool>,
    pub(crate) leak_check: Option<bool>,
    pub(crate) exitcode: Option<i32>,
    pub(crate) halt_on_error: Option<bool>,
    pub(crate) log_path: Option<PathBuf>,
    pub(crate) strip_path_prefix: Option<String>,
    pub(crate) history_size: Option<u32>,
    pub(crate) detect_lock_order: Option<bool>,
    pub(crate) format: Option<Format>,
    pub(crate) trace: Option<PathBuf>,
    pub(crate) shard: Option<(u32, u32)>,
}

macro_rules! setters {
    ($($(#[$m:meta])* $name:ident : $t:ty),* $(,)?) => {$(
        $(#[$m])*
        pub fn $name(mut self, v: $t) -> Self {
            self.$name = Some(v);
            self
        }
    )*};
}

impl Config {
    pub fn new() -> Config {
        Config::default()
    }

    setters! {
        /// Seed of the run's strategy (default: fresh, printed in every report).
        seed: u64,
        /// Scheduling strategy (default: Random for `run`, Random+PCT for `check`).
        strategy: Strategy,
        /// 1 = deterministic single-thread scheduler (default); >1 = parallel.
        procs: usize,
        /// Run the race detector (default true).
        detect_races: bool,
        /// After main returns, run the others on and report those blocked for good
        /// (default true; false = main's return ends the run, as in Go).
        leak_check: bool,
        /// Exit code of `#[gosan::main]` when races or leaks were found (default 66).
        exitcode: i32,
        /// Stop at the first race (default false).
        halt_on_error: bool,
        /// History of previous accesses kept for race reports (0..=7, default 1).
        history_size: u32,
        /// Report lock-order inversions (default true).
        detect_lock_order: bool,
        /// Report format (default text).
        format: Format,
    }

    /// Write reports to `<path>.<pid>` instead of stderr.
    pub fn log_path(mut self, p: impl Into<PathBuf>) -> Self {
        self.log_path = Some(p.into());
        self
    }

    /// Remove this prefix from every file path in reports.
    pub fn strip_path_prefix(mut self, p: impl Into<String>) -> Self {
        self.strip_path_prefix = Some(p.into());
        self
    }

    /// Write a Chrome/Perfetto trace of the run here.
    pub fn trace(mut self, p: impl Into<PathBuf>) -> Self {
        self.trace = Some(p.into());
        self
    }

    /// Run only shard `k` of `n` (1-based) of `check`'s iterations.
    pub fn shard(mut self, k: u32, n: u32) -> Self {
        self.shard = Some((k, n));
        self
    }

    /// Fills every unset field from `GOSAN_OPTIONS`, then from the defaults.
    pub fn resolve(&self) -> Result<Resolved, OptionError> {
        let env = match std::env::var("GOSAN_OPTIONS") {
            Ok(s) => parse_options(&s, "GOSAN_OPTIONS")?,
            Err(_) => Config::default(),
        };
        let seed = self.seed.or(env.seed);
        let procs = self.procs.or(env.procs).unwrap_or(1);
        if procs == 0 {
            return Err(OptionError {
                source: "Config",
                key: "procs".into(),
                value: Some("0".into()),
                reason: "expected at least 1".into(),
            });
        }
        let shard = self.shard.or(env.shard);
        if let Some((k, n)) = shard {
            if n == 0 || k == 0 || k > n {
                return Err(OptionError {
                    source: "Config",
                    key: "shard".into(),
                    value: Some(format!("{k}/{n}")),
                    reason: "expected K/N with 1 <= K <= N".into(),
                });
            }
        }
        let history_size = self.history_size.or(env.history_size).unwrap_or(1);
        if history_size > 7 {
            return Err(OptionError {
                source: "Config",
                key: "history_size".into(),
                value: Some(history_size.to_string()),
                reason: "expected 0..=7".into(),
            });
        }
        let debug = match std::env::var("GOSAN_DEBUG") {
            Ok(s) => parse_debug(&s)?,
            Err(_) => Debug::default(),
        };
        Ok(Resolved {
            seed_given: seed.is_some(),
            seed: seed.unwrap_or_else(fresh_seed),
            strategy: self.strategy.clone().or(env.strategy),
            procs,
            detect_races: self.detect_races.or(env.detect_races).unwrap_or(true),
            leak_check: self.leak_check.or(env.leak_check).unwrap_or(true),
            exitcode: self.exitcode.or(env.exitcode).unwrap_or(66),
            halt_on_error: self.halt_on_error.or(env.halt_on_error).unwrap_or(false),
            log_path: self.log_path.clone().or(env.log_path),
            strip_path_prefix: self
                .strip_path_prefix
                .clone()
                .or(env.strip_path_prefix)
                .unwrap_or_default(),
            history_size,
            detect_lock_order: self
                .detect_lock_order
                .or(env.detect_lock_order)
                .unwrap_or(true),
            format: self.format.or(env.format).unwrap_or(Format::Text),
            trace: self.trace.clone().or(env.trace),
            shard,
            debug,
        })
    }
}

/// `GOSAN_DEBUG` (GODEBUG style, comma-separated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Debug {
    /// Print a scheduler summary every N ms (`schedtrace=N`).
    pub schedtrace: Option<u64>,
    /// With schedtrace, one line per goroutine (`scheddetail=1`).
    pub scheddetail: bool,
}

/// A [`Config`] with every field decided.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub seed: u64,
    pub seed_given: bool,
    pub strategy: Option<Strategy>,
    pub procs: usize,
    pub detect_races: bool,
    pub leak_check: bool,
    pub exitcode: i32,
    pub halt_on_error: bool,
    pub log_path: Option<PathBuf>,
    pub strip_path_prefix: String,
    pub history_size: u32,
    pub detect_lock_order: bool,
    pub format: Format,
    pub trace: Option<PathBuf>,
    pub shard: Option<(u32, u32)>,
    pub debug: Debug,
}

/// A seed no earlier run in this process used: time, address-space and counter mixed.
pub fn fresh_seed() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

fn bad(source: &'static str, key: &str, value: &str, reason: &str) -> OptionError {
    OptionError {
        source,
        key: key.to_string(),
        value: Some(value.to_string()),
        reason: reason.to_string(),
    }
}

fn parse_bool(source: &'static str, key: &str, v: &str) -> Result<bool, OptionError> {
    match v {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(bad(source, key, v, "expected 0 or 1")),
    }
}

fn parse_u64(source: &'static str, key: &str, v: &str) -> Result<u64, OptionError> {
    let r = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse::<u64>(),
    };
    r.map_err(|_| bad(source, key, v, "expected an integer (decimal or 0x-hex)"))
}

const KNOWN: &str = "exitcode, halt_on_error, log_path, strip_path_prefix, history_size, seed, \
                     strategy, procs, race, leak_check, detect_lock_order, format, trace, shard";

/// Parses `GOSAN_OPTIONS` text: space-separated `key=value` pairs.
pub fn parse_options(text: &str, source: &'static str) -> Result<Config, OptionError> {
    let mut c = Config::default();
    for item in text.split_whitespace() {
        let Some((key, v)) = item.split_once('=') else {
            return Err(OptionError {
                source,
                key: item.to_string(),
                value: None,
                reason: "expected key=value".into(),
            });
        };
        match key {
            "exitcode" => {
                c.exitcode = Some(
                    v.parse::<i32>()
                        .ok()
                        .filter(|n| (0..=255).contains(n))
                        .ok_or_else(|| bad(source, key, v, "expected an integer 0..=255"))?,
                )
            }
            "halt_on_error" => c.halt_on_error = Some(parse_bool(source, key, v)?),
            "log_path" => {
                if v.is_empty() {
                    return Err(bad(source, key, v, "expected a path"));
                }
                c.log_path = Some(PathBuf::from(v))
            }
            "strip_path_prefix" => c.strip_path_prefix = Some(v.to_string()),
            "history_size" => {
                let n = parse_u64(source, key, v)?;
                if n > 7 {
                    return Err(bad(source, key, v, "expected 0..=7"));
                }
                c.history_size = Some(n as u32)
            }
            "seed" => c.seed = Some(parse_u64(source, key, v)?),
            "strategy" => {
                c.strategy = Some(Strategy::parse_spelling(v).map_err(|r| bad(source, key, v, &r))?)
            }
            "procs" => {
                let n = parse_u64(source, key, v)?;
                if n == 0 {
                    return Err(bad(source, key, v, "expected at least 1"));
                }
                c.procs = Some(n as usize)
            }
            "race" => c.detect_races = Some(parse_bool(source, key, v)?),
            "leak_check" => c.leak_check = Some(parse_bool(source, key, v)?),
            "detect_lock_order" => c.detect_lock_order = Some(parse_bool(source, key, v)?),
            "format" => {
                c.format = Some(match v {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    "sarif" => Format::Sarif,
                    _ => return Err(bad(source, key, v, "expected text, json or sarif")),
                })
            }
            "trace" => {
                if v.is_empty() {
                    return Err(bad(source, key, v, "expected a path"));
                }
                c.trace = Some(PathBuf::from(v))
            }
            "shard" => {
                let parsed = v
                    .split_once('/')
                    .and_then(|(k, n)| Some((k.parse::<u32>().ok()?, n.parse::<u32>().ok()?)))
                    .filter(|&(k, n)| k >= 1 && k <= n);
                c.shard = Some(
                    parsed.ok_or_else(|| bad(source, key, v, "expected K/N with 1 <= K <= N"))?,
                )
            }
            _ => {
                return Err(OptionError {
                    source,
                    key: key.to_string(),
                    value: None,
                    reason: format!("unknown option (known: {KNOWN})"),
                })
            }
        }
    }
    Ok(c)
}

/// Parses `GOSAN_DEBUG`: comma-separated `key=value` (GODEBUG style).
pub fn parse_debug(text: &str) -> Result<Debug, OptionError> {
    const SRC: &str = "GOSAN_DEBUG";
    let mut d = Debug::default();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((key, v)) = item.split_once('=') else {
            return Err(OptionError {
                source: SRC,
                key: item.to_string(),
                value: None,
                reason: "expected key=value".into(),
            });
        };
        match key {
            "schedtrace" => d.schedtrace = Some(parse_u64(SRC, key, v)?),
            "scheddetail" => d.scheddetail = parse_bool(SRC, key, v)?,
            _ => {
                return Err(OptionError {
                    source: SRC,
                    key: key.to_string(),
                    value: None,
                    reason: "unknown option (known: schedtrace, scheddetail)".into(),
                })
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_option() {
        let c = parse_options(
            "exitcode=3 halt_on_error=1 log_path=/tmp/g strip_path_prefix=/src/ history_size=2 \
             seed=0x2a strategy=pct:3 procs=2 race=0 leak_check=0 detect_lock_order=1 \
             format=json trace=out.json shard=2/8",
            "GOSAN_OPTIONS",
        )
        .unwrap();
        assert_eq!(c.exitcode, Some(3));
        assert_eq!(c.halt_on_error, Some(true));
        assert_eq!(c.log_path, Some(PathBuf::from("/tmp/g")));
        assert_eq!(c.strip_path_prefix.as_deref(), Some("/src/"));
        assert_eq!(c.history_size, Some(2));
        assert_eq!(c.seed, Some(42));
        assert_eq!(c.strategy, Some(Strategy::Pct { depth: 3 }));
        assert_eq!(c.procs, Some(2));
        assert_eq!(c.detect_races, Some(false));
        assert_eq!(c.leak_check, Some(false));
        assert_eq!(c.detect_lock_order, Some(true));
        assert_eq!(c.format, Some(Format::Json));
        assert_eq!(c.trace, Some(PathBuf::from("out.json")));
        assert_eq!(c.shard, Some((2, 8)));
    }

    #[test]
    fn unknown_key_and_bad_value_name_themselves() {
        let e = parse_options("seed=1 colour=red", "GOSAN_OPTIONS").unwrap_err();
        assert_eq!(e.key, "colour");
        assert!(e.to_string().contains("`colour`"), "{e}");
        assert!(e.to_string().contains("unknown option"), "{e}");
        let e = parse_options("seed=banana", "GOSAN_OPTIONS").unwrap_err();
        assert_eq!(
            e.to_string(),
            "GOSAN_OPTIONS: invalid value `banana` for `seed`: expected an integer (decimal or 0x-hex)"
        );
        for bad in [
            "procs=0",
            "strategy=pct:0",
            "shard=9/8",
            "history_size=8",
            "race=yes",
            "format=xml",
            "exitcode=-1",
            "nokey",
        ] {
            assert!(
                parse_options(bad, "GOSAN_OPTIONS").is_err(),
                "{bad} accepted"
            );
        }
        assert!(parse_debug("schedtrace=1000,scheddetail=1").is_ok());
        assert_eq!(parse_debug("gctrace=1").unwrap_err().key, "gctrace");
    }

    #[test]
    fn strategy_spelling_round_trips() {
        for s in [
            Strategy::Random,
            Strategy::RoundRobin,
            Strategy::Pct { depth: 5 },
            Strategy::Replay("1*3.2".into()),
        ] {
            assert_eq!(s.spelling().parse::<Strategy>().unwrap(), s);
        }
    }
}
