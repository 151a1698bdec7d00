//! gosan-detector: everything gosan knows about *what happened*, and nothing about
//! *how goroutines are scheduled*.
//!
//! - [`report`]: the data model of findings (races, deadlocks, leaks, panics) and their
//!   Go-format rendering; [`report::symbolize`] turns raw program counters into
//!   `function` + `file:line` only when a report is built.
//! - [`hb`]: the happens-before engine (vector clocks with FastTrack epochs, Flanagan &
//!   Freund, PLDI 2009), fed by events from the runtime.
//! - [`AccessKind`] (read/write, plain/atomic) is the one type both use: the engine
//!   classifies with it, a report carries it. `report` depends on `hb` for nothing,
//!   and `hb` renders nothing.
//!
//! The runtime (`gosan-runtime`) owns goroutines and the scheduler; it calls into this
//! crate with plain data (goroutine ids, addresses, raw PCs) and never the reverse.

pub mod hb;
mod kind;
pub mod report;

pub use kind::AccessKind;
