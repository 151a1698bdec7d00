//! Go's `time` package on the virtual clock (filled by the time work).
