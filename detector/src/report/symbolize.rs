//! Raw program counters → [`Frame`]s, done only when a report is built.
//!
//! Capturing a stack on a hot path stores return addresses only (a frame-pointer walk
//! in the runtime, a few ns); this module pays the debug-info cost (first lookup loads
//! DWARF through `backtrace` → `addr2line`/`gimli`, then ~150 ns a frame) and caches
//! every address it resolved.
//!
//! Frames of gosan itself, of `std`/`core`/`alloc`, of the unwinder and of the
//! coroutine library are dropped, like Go's tracebacks hide `runtime.*` frames.
//! Goroutine dumps choose with [`Traceback`]: panics and fatal errors keep one line
//! for each gosan entry point the user called (Go prints `sync.(*Mutex).Unlock` above
//! `main.main` too), and `GOSAN_DEBUG=traceback=all` keeps everything.
//!
//! Names are the demangler's, without the hash: `crate::module::Type::method`,
//! `<T as Trait>::method`, and a closure as its parent's path plus `::{{closure}}`
//! (Go's `main.main.func1`).

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

/// Whether `function` is gosan's own (a frame that may be an entry point).
fn is_gosan(function: &str) -> bool {
    let f = function.trim_start_matches('<');
    f.starts_with("gosan_") || f.starts_with("gosan::")
}

/// Which frames a goroutine dump keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traceback {
    /// The user's frames only ([`symbolize`]): deadlock and leak dumps, whose wait
    /// reason already names the blocking call, and race reports.
    User,
    /// The user's frames plus, for each call from user code into gosan, the
    /// outermost gosan frame of that call (the entry point the user called, e.g.
    /// `gosan_runtime::chan::Chan<T>::send`): panics and fatal errors.
    EntryPoints,
    /// Every frame, internals included (`GOSAN_DEBUG=traceback=all`).
    All,
}

/// Symbolizes return addresses (innermost first), expanding inlined calls, dropping
/// internal frames and removing `strip_prefix` from file paths.
pub fn symbolize(pcs: &[usize], strip_prefix: &str) -> Vec<Frame> {
    traceback(pcs, strip_prefix, Traceback::User)
}

/// [`symbolize`] keeping the frames `mode` asks for.
pub fn traceback(pcs: &[usize], strip_prefix: &str, mode: Traceback) -> Vec<Frame> {
    let all: Vec<Frame> = pcs.iter().flat_map(|&pc| resolve_pc(pc)).collect();
    let keep = |i: usize, f: &Frame| match mode {
        Traceback::All => true,
        Traceback::User => !is_internal(&f.function),
        Traceback::EntryPoints => {
            !is_internal(&f.function)
                || (is_gosan(&f.function)
                    && all
                        .get(i + 1)
                        .is_some_and(|caller| !is_internal(&caller.function)))
        }
    };
    all.iter()
        .enumerate()
        .filter(|&(i, f)| keep(i, f))
        .map(|(_, f)| strip(f.clone(), strip_prefix))
        .collect()
}

/// The function that ran a `go` statement, from the goroutine's own stack when its
/// creation stack could not be walked (code built without frame pointers): the
/// goroutine's outermost user frame is the closure given to `go`, named after the
/// function it was written in (`app::main::{{closure}}` → `app::main`).
pub fn creator_from_stack(stack: &[Frame]) -> Option<String> {
    let root = stack.iter().rev().find(|f| !is_internal(&f.function))?;
    root.function
        .strip_suffix("::{{closure}}")
        .map(str::to_string)
}

/// Names a creation site whose function is unknown (`?`: only the `#[track_caller]`
/// location of the `go` call was known) after [`creator_from_stack`].
pub fn name_unknown_creator(created_at: &mut [Frame], stack: &[Frame]) {
    if let Some(site) = created_at.first_mut() {
        if site.function == "?" {
            if let Some(name) = creator_from_stack(stack) {
                site.function = name;
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_and_entry_point_frames_are_told_apart() {
        assert!(is_internal("gosan_runtime::chan::Chan<T>::send"));
        assert!(is_internal("<gosan_runtime::sync::Mutex<T>>::lock"));
        assert!(is_internal("backtrace::backtrace::trace"));
        assert!(is_internal("corosensei::coroutine::on_stack"));
        assert!(!is_internal("app::main::{{closure}}"));
        assert!(is_gosan("<gosan_runtime::sync::Mutex<T>>::lock"));
        assert!(!is_gosan("std::panicking::begin_panic"));
    }

    #[test]
    fn the_creator_is_the_parent_of_the_goroutine_closure() {
        let f = |function: &str| Frame {
            function: function.to_string(),
            file: "src/main.rs".to_string(),
            line: 1,
        };
        let stack = [f("app::worker"), f("app::main::{{closure}}::{{closure}}")];
        assert_eq!(
            creator_from_stack(&stack).as_deref(),
            Some("app::main::{{closure}}")
        );
        assert_eq!(creator_from_stack(&[f("app::worker")]), None);
        assert_eq!(creator_from_stack(&[]), None);
    }
}
