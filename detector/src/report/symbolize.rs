//! Raw program counters → [`Frame`]s, done only when a report is built.
//!
//! Capturing a stack on a hot path stores return addresses only (a frame-pointer walk
//! in the runtime, a few ns); this module pays the debug-info cost (first lookup loads
//! DWARF through `backtrace` → `addr2line`/`gimli`, then ~150 ns a frame) and caches
//! every address it resolved.
//!
//! Frames of gosan itself, of `std`/`core`/`alloc` and of the coroutine library are
//! dropped, like Go's tracebacks hide `runtime.*` frames.

use super::Frame;
use std::collections::HashMap;
use std::sync::Mutex;

static CACHE: Mutex<Option<HashMap<usize, Vec<Frame>>>> = Mutex::new(None);

/// Function-path prefixes whose frames are runtime machinery, not user code.
const INTERNAL_PREFIXES: &[&str] = &[
    "gosan_runtime::",
    "gosan_detector::",
    "gosan_instrument::",
    "corosensei::",
    "std::",
    "core::",
    "alloc::",
    "backtrace::",
    "__rust",
    "test::",
    // corosensei's assembly entry of every coroutine stack
    "stack_init_trampoline",
    "stack_call_trampoline",
];

/// Whether `function` belongs to gosan or the standard library rather than user code.
pub fn is_internal(function: &str) -> bool {
    let f = function.trim_start_matches('<');
    INTERNAL_PREFIXES.iter().any(|p| f.starts_with(p))
}

/// Symbolizes return addresses (innermost first), expanding inlined calls, dropping
/// internal frames and removing `strip_prefix` from file paths.
pub fn symbolize(pcs: &[usize], strip_prefix: &str) -> Vec<Frame> {
    let mut out = Vec::new();
    for &pc in pcs {
        for f in resolve_pc(pc) {
            if !is_internal(&f.function) {
                out.push(strip(f, strip_prefix));
            }
        }
    }
    out
}

/// The innermost user frame at `pc` (after inlining), for a `created by` line.
pub fn symbolize_one(pc: usize) -> Option<Frame> {
    resolve_pc(pc)
        .into_iter()
        .find(|f| !is_internal(&f.function))
}

/// Removes `prefix` from the front of a frame's file, as `strip_path_prefix` asks.
pub fn strip(mut f: Frame, prefix: &str) -> Frame {
    if !prefix.is_empty() {
        if let Some(rest) = f.file.strip_prefix(prefix) {
            f.file = rest.to_string();
        }
    }
    f
}

fn resolve_pc(pc: usize) -> Vec<Frame> {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(v) = cache.get(&pc) {
        return v.clone();
    }
    let mut frames = Vec::new();
    // A return address points after the call; the call itself is one byte earlier.
    let addr = pc.saturating_sub(1) as *mut std::ffi::c_void;
    backtrace::resolve(addr, |sym| {
        let function = sym
            .name()
            .map(|n| format!("{n:#}"))
            .unwrap_or_else(|| format!("{pc:#x}"));
        let file = sym
            .filename()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "?".to_string());
        frames.push(Frame {
            function,
            file,
            line: sym.lineno().unwrap_or(0),
        });
    });
    cache.insert(pc, frames.clone());
    frames
}
