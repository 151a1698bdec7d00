//! Go-format text for every report type. The wording is Go's where Go has a message
//! (`fatal error: all goroutines are asleep - deadlock!`, `WARNING: DATA RACE`,
//! `goroutine N [chan receive]:`); what goes beyond Go (leaks) follows the same shape.

use super::*;
use std::fmt::{self, Display, Formatter};

const RACE_FRAME: &str = "==================";

/// Frames as a goroutine dump prints them: `function()` then a tab and `file:line`.
fn write_dump_frames(f: &mut Formatter<'_>, frames: &[Frame]) -> fmt::Result {
    for fr in frames {
        writeln!(f, "{}()\n\t{}:{}", fr.function, fr.file, fr.line)?;
    }
    Ok(())
}

/// Frames as a race report prints them (TSan's indentation).
fn write_race_frames(f: &mut Formatter<'_>, frames: &[Frame]) -> fmt::Result {
    if frames.is_empty() {
        return writeln!(f, "  [failed to restore the stack]");
    }
    for fr in frames {
        writeln!(f, "  {}()\n      {}:{}", fr.function, fr.file, fr.line)?;
    }
    Ok(())
}

fn who(goroutine: u64) -> String {
    if goroutine == 1 {
        "main goroutine".to_string()
    } else {
        format!("goroutine {goroutine}")
    }
}

impl Display for GoroutineDump {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "goroutine {} [{}]:", self.id, self.wait_reason)?;
        write_dump_frames(f, &self.stack)?;
        if let Some(site) = self.created_at.first() {
            writeln!(
                f,
                "created by {}\n\t{}:{}",
                site.function, site.file, site.line
            )?;
        }
        Ok(())
    }
}

impl Display for DeadlockReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.global {
            writeln!(f, "fatal error: all goroutines are asleep - deadlock!")?;
        } else {
            writeln!(
                f,
                "WARNING: DEADLOCK: {} goroutine(s) blocked forever",
                self.goroutines.len()
            )?;
        }
        for g in &self.goroutines {
            writeln!(f)?;
            write!(f, "{g}")?;
        }
        Ok(())
    }
}

impl Display for PanicReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let class = if self.fatal { "fatal error" } else { "panic" };
        writeln!(f, "{class}: {}\n", self.message)?;
        write!(f, "{}", self.goroutine)
    }
}

impl Display for AccessKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccessKind::Read => "read",
            AccessKind::Write => "write",
            AccessKind::AtomicRead => "atomic read",
            AccessKind::AtomicWrite => "atomic write",
        })
    }
}

fn capitalized(kind: AccessKind) -> String {
    let s = kind.to_string();
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => s,
    }
}

impl Display for RaceReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "{RACE_FRAME}\nWARNING: DATA RACE")?;
        let c = &self.current;
        writeln!(
            f,
            "{} at {:#014x} by {}:",
            capitalized(c.kind),
            c.addr,
            who(c.goroutine)
        )?;
        write_race_frames(f, &c.stack)?;
        let p = &self.previous;
        writeln!(
            f,
            "\nPrevious {} at {:#014x} by {}:",
            p.kind,
            p.addr,
            who(p.goroutine)
        )?;
        write_race_frames(f, &p.stack)?;
        for g in &self.goroutines {
            let state = if g.running { "running" } else { "finished" };
            writeln!(f, "\nGoroutine {} ({state}) created at:", g.id)?;
            write_race_frames(f, &g.created_at)?;
        }
        writeln!(f, "{RACE_FRAME}")
    }
}

impl Display for LockOrderReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{RACE_FRAME}\nWARNING: POTENTIAL DEADLOCK: lock-order inversion"
        )?;
        let cycle: Vec<String> = self.locks.iter().map(|a| format!("{a:#014x}")).collect();
        writeln!(f, "Cycle: {}", cycle.join(" => "))?;
        for (i, s) in self.stacks.iter().enumerate() {
            writeln!(f, "\nEdge {} acquired at:", i + 1)?;
            write_race_frames(f, s)?;
        }
        writeln!(f, "{RACE_FRAME}")
    }
}

impl Report {
    /// The line that reproduces this run exactly, as `GOSAN_OPTIONS` takes it.
    pub fn reproduce_line(&self) -> String {
        let strategy = if self.strategy.is_empty() || self.strategy == "random" {
            String::new()
        } else {
            format!(" strategy={}", self.strategy)
        };
        format!(
            "gosan: reproduce with GOSAN_OPTIONS=\"seed={:#x}{strategy}\" (or strategy=replay:{})",
            self.seed, self.schedule
        )
    }
}

impl Display for Report {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for r in &self.races {
            write!(f, "{r}")?;
        }
        for l in &self.lock_order {
            write!(f, "{l}")?;
        }
        if let Some(p) = &self.panic {
            write!(f, "{p}")?;
            writeln!(f)?;
        }
        if let Some(d) = &self.deadlock {
            write!(f, "{d}")?;
            writeln!(f)?;
        }
        if !self.leaks.is_empty() {
            writeln!(
                f,
                "WARNING: GOROUTINE LEAK: {} goroutine(s) blocked forever after main returned",
                self.leaks.len()
            )?;
            for g in &self.leaks {
                writeln!(f)?;
                write!(f, "{g}")?;
            }
            writeln!(f)?;
        }
        if !self.races.is_empty() {
            writeln!(f, "Found {} data race(s)", self.races.len())?;
        }
        for n in &self.notes {
            writeln!(f, "gosan: note: {n}")?;
        }
        writeln!(f, "{}", self.reproduce_line())
    }
}
