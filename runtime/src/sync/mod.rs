//! Go's `sync` package (filled by the sync work).
