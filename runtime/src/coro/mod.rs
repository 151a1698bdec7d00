//! Goroutine stacks for corosensei coroutines (see [`stack`]).

pub(crate) mod stack;
