//! Goroutine stacks for corosensei coroutines (see [`stack`]).

pub mod stack;
