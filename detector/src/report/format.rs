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
        if let Some(why) = &self.why {
            writeln!(f, "blocked forever: {why}")?;
        }
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
                "WARNING: PARTIAL DEADLOCK: {} goroutine(s) blocked forever while the program ran",
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

impl Display for LivelockReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fatal error: gosan: livelock: {} ({} steps, {:.3}s of virtual time); the goroutines that kept running:",
            self.reason,
            self.steps,
            self.virtual_nanos as f64 / 1e9
        )?;
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
            "{RACE_FRAME}\nWARNING: lock-order-inversion (potential deadlock)"
        )?;
        let name = |i: usize| format!("M{}", self.locks.get(i).copied().unwrap_or(0));
        let mut cycle: Vec<String> = (0..self.locks.len()).map(name).collect();
        if let Some(first) = cycle.first().cloned() {
            cycle.push(first);
        }
        writeln!(f, "  Cycle in lock order graph: {}", cycle.join(" => "))?;
        for (i, site) in self.sites.iter().enumerate() {
            writeln!(f, "  {} created at {site}", name(i))?;
        }
        let n = self.locks.len();
        for (i, s) in self.stacks.iter().enumerate() {
            let g = self.goroutines.get(i).copied().unwrap_or(0);
            writeln!(
                f,
                "\n  {} acquired here while holding {} by {}:",
                name((i + 1) % n.max(1)),
                name(i),
                who(g)
            )?;
            write_race_frames(f, s)?;
            if let Some(h) = self.held_stacks.get(i) {
                writeln!(
                    f,
                    "\n  {} previously acquired by the same goroutine here:",
                    name(i)
                )?;
                write_race_frames(f, h)?;
            }
        }
        writeln!(f, "{RACE_FRAME}")
    }
}

impl crate::report::Exploration {
    /// One line: `gosan: explored N schedules in T ms, exhaustive within preemption
    /// bound K` (or why the exploration stopped), then what shrinking removed.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "gosan: explored {} schedule{} in {} ms",
            self.schedules,
            if self.schedules == 1 { "" } else { "s" },
            self.elapsed_ms
        );
        if let Some(k) = self.preemption_bound {
            let k = if k == u32::MAX {
                "unbounded".to_string()
            } else {
                k.to_string()
            };
            if self.complete {
                s += &format!(", exhaustive within preemption bound {k}");
            } else {
                s += &format!(", not exhaustive (stopped before the tree within preemption bound {k} was exhausted)");
            }
            if self.pruned > 0 {
                s += &format!(" ({} more cut short by sleep sets)", self.pruned);
            }
        }
        if let Some(sh) = &self.shrunk {
            s += &format!(
                "\ngosan: shrinking removed {} of {} decisions ({} -> {}; preemptions {} -> {}) in {} replays",
                sh.before - sh.after,
                sh.before,
                sh.before,
                sh.after,
                sh.preemptions_before,
                sh.preemptions_after,
                sh.replays
            );
        }
        s
    }
}

impl Report {
    /// The line that reproduces this run exactly, as `GOSAN_OPTIONS` takes it. A
    /// shrunk (or exhaustively found, or fuzzer-made) schedule is reproduced by its
    /// replay token (with the seed, so even `Report::seed` comes out the same).
    pub fn reproduce_line(&self) -> String {
        if let Some(by) = self.exploration.as_ref().and_then(|e| e.found_by.as_ref()) {
            return format!(
                "gosan: reproduce with GOSAN_OPTIONS=\"seed={:#x} strategy=replay:{}\" ({by})",
                self.seed, self.schedule
            );
        }
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

impl Report {
    /// The text without the race blocks, for a run that printed each race when it
    /// found it (Go's way): the rest of the findings, the `Found N data race(s)`
    /// summary, notes and the reproduce line.
    pub fn text_after_streamed_races(&self) -> String {
        struct NoRaces<'a>(&'a Report);
        impl Display for NoRaces<'_> {
            fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
                self.0.write_text(f, false)
            }
        }
        NoRaces(self).to_string()
    }

    fn write_text(&self, f: &mut Formatter<'_>, races: bool) -> fmt::Result {
        if races {
            for r in &self.races {
                write!(f, "{r}")?;
            }
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
        if let Some(l) = &self.livelock {
            write!(f, "{l}")?;
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
        if !self.lock_order.is_empty() {
            writeln!(
                f,
                "Found {} lock-order inversion(s) (potential deadlocks)",
                self.lock_order.len()
            )?;
        }
        for n in &self.notes {
            writeln!(f, "gosan: note: {n}")?;
        }
        if let Some(e) = &self.exploration {
            writeln!(f, "{}", e.summary())?;
        }
        writeln!(f, "{}", self.reproduce_line())
    }
}

impl Display for Report {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.write_text(f, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, line: u32) -> Frame {
        Frame {
            function: function.to_string(),
            file: "src/main.rs".to_string(),
            line,
        }
    }

    fn dump(id: u64, reason: &str) -> GoroutineDump {
        GoroutineDump {
            id,
            wait_reason: reason.to_string(),
            stack: vec![frame("app::worker", 7)],
            created_at: if id == 1 {
                vec![]
            } else {
                vec![frame("app::main", 3)]
            },
            why: None,
        }
    }

    #[test]
    fn race_report_reads_like_go() {
        let r = Report {
            races: vec![RaceReport {
                current: Access {
                    kind: AccessKind::Read,
                    addr: 0xc000012345,
                    size: 8,
                    goroutine: 1,
                    stack: vec![frame("app::main", 9)],
                },
                previous: Access {
                    kind: AccessKind::AtomicWrite,
                    addr: 0xc000012345,
                    size: 8,
                    goroutine: 7,
                    stack: vec![],
                },
                goroutines: vec![GoroutineOrigin {
                    id: 7,
                    running: false,
                    created_at: vec![frame("app::main", 4)],
                }],
            }],
            seed: 0x2a,
            schedule: "1*3".to_string(),
            strategy: "pct:3".to_string(),
            ..Report::default()
        };
        assert!(!r.is_clean());
        assert_eq!(
            r.to_string(),
            "==================\n\
             WARNING: DATA RACE\n\
             Read at 0x00c000012345 by main goroutine:\n  \
               app::main()\n      src/main.rs:9\n\
             \n\
             Previous atomic write at 0x00c000012345 by goroutine 7:\n  \
               [failed to restore the stack]\n\
             \n\
             Goroutine 7 (finished) created at:\n  \
               app::main()\n      src/main.rs:4\n\
             ==================\n\
             Found 1 data race(s)\n\
             gosan: reproduce with GOSAN_OPTIONS=\"seed=0x2a strategy=pct:3\" (or strategy=replay:1*3)\n"
        );
        let back: Report = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
        assert!(r.to_json().contains("\"kind\": \"AtomicWrite\""));
    }

    #[test]
    fn lock_order_and_partial_deadlock_texts_are_stable() {
        let r = Report {
            lock_order: vec![LockOrderReport {
                locks: vec![1, 2],
                stacks: vec![vec![frame("app::ab", 12)], vec![frame("app::ba", 22)]],
                sites: vec!["src/main.rs:5".to_string(), "src/main.rs:6".to_string()],
                goroutines: vec![2, 3],
                held_stacks: vec![vec![frame("app::ab", 11)], vec![frame("app::ba", 21)]],
            }],
            deadlock: Some(DeadlockReport {
                global: false,
                goroutines: vec![GoroutineDump {
                    why: Some("no other handle of this channel is alive".to_string()),
                    ..dump(4, "chan send")
                }],
            }),
            seed: 1,
            ..Report::default()
        };
        assert_eq!(
            r.to_string(),
            "==================\n\
             WARNING: lock-order-inversion (potential deadlock)\n  \
               Cycle in lock order graph: M1 => M2 => M1\n  \
               M1 created at src/main.rs:5\n  \
               M2 created at src/main.rs:6\n\
             \n  \
               M2 acquired here while holding M1 by goroutine 2:\n  \
               app::ab()\n      src/main.rs:12\n\
             \n  \
               M1 previously acquired by the same goroutine here:\n  \
               app::ab()\n      src/main.rs:11\n\
             \n  \
               M1 acquired here while holding M2 by goroutine 3:\n  \
               app::ba()\n      src/main.rs:22\n\
             \n  \
               M2 previously acquired by the same goroutine here:\n  \
               app::ba()\n      src/main.rs:21\n\
             ==================\n\
             WARNING: PARTIAL DEADLOCK: 1 goroutine(s) blocked forever while the program ran\n\
             \n\
             goroutine 4 [chan send]:\n\
             blocked forever: no other handle of this channel is alive\n\
             app::worker()\n\tsrc/main.rs:7\n\
             created by app::main\n\tsrc/main.rs:3\n\
             \n\
             Found 1 lock-order inversion(s) (potential deadlocks)\n\
             gosan: reproduce with GOSAN_OPTIONS=\"seed=0x1\" (or strategy=replay:)\n"
        );
        let back: Report = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
        // Dumps without a reason serialize as before (no `why` key).
        let plain = serde_json::to_string(&dump(1, "chan receive")).unwrap();
        assert!(!plain.contains("why"), "{plain}");
    }

    #[test]
    fn deadlock_panic_and_leaks_read_like_go() {
        let deadlock = Report {
            deadlock: Some(DeadlockReport {
                global: true,
                goroutines: vec![dump(1, "chan receive"), dump(2, "sync.Mutex.Lock")],
            }),
            seed: 1,
            ..Report::default()
        };
        assert_eq!(
            deadlock.to_string(),
            "fatal error: all goroutines are asleep - deadlock!\n\
             \n\
             goroutine 1 [chan receive]:\n\
             app::worker()\n\tsrc/main.rs:7\n\
             \n\
             goroutine 2 [sync.Mutex.Lock]:\n\
             app::worker()\n\tsrc/main.rs:7\n\
             created by app::main\n\tsrc/main.rs:3\n\
             \n\
             gosan: reproduce with GOSAN_OPTIONS=\"seed=0x1\" (or strategy=replay:)\n"
        );
        let panic = Report {
            panic: Some(PanicReport {
                message: "sync: unlock of unlocked mutex".to_string(),
                fatal: true,
                goroutine: dump(1, "running"),
            }),
            leaks: vec![dump(3, "chan send")],
            notes: vec!["race detection stopped".to_string()],
            ..Report::default()
        };
        let text = panic.to_string();
        assert!(
            text.starts_with(
                "fatal error: sync: unlock of unlocked mutex\n\ngoroutine 1 [running]:\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "WARNING: GOROUTINE LEAK: 1 goroutine(s) blocked forever after main returned\n\
             \n\
             goroutine 3 [chan send]:\n"
        ));
        assert!(
            text.contains("gosan: note: race detection stopped\n"),
            "{text}"
        );
        assert!(Report::default().is_clean());
    }
}
