//! Go's `context` package (filled by the time work).
