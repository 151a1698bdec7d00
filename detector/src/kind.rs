//! [`AccessKind`]: what a memory access did. One type for the whole crate: the
//! engine ([`hb`](crate::hb)) classifies accesses and conflicts with it, and the
//! report model ([`report`](crate::report)) carries it as plain data (its
//! `Display`, Go's wording, lives with the rest of the rendering in
//! `report/format.rs`). Its serde form is the variant name (`"Read"`, `"Write"`,
//! `"AtomicRead"`, `"AtomicWrite"`).

use serde::{Deserialize, Serialize};

/// Read or write, plain or atomic, as Go's race report names it (`Read at`,
/// `Previous write at`, `Atomic read at`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccessKind {
    Read,
    Write,
    AtomicRead,
    AtomicWrite,
}

impl AccessKind {
    /// The kind of a read (`write == false`) or write, plain or atomic.
    #[inline]
    pub const fn new(write: bool, atomic: bool) -> Self {
        match (write, atomic) {
            (false, false) => AccessKind::Read,
            (true, false) => AccessKind::Write,
            (false, true) => AccessKind::AtomicRead,
            (true, true) => AccessKind::AtomicWrite,
        }
    }

    /// A write, plain or atomic.
    #[inline]
    pub const fn is_write(self) -> bool {
        matches!(self, AccessKind::Write | AccessKind::AtomicWrite)
    }

    /// An atomic access.
    #[inline]
    pub const fn is_atomic(self) -> bool {
        matches!(self, AccessKind::AtomicRead | AccessKind::AtomicWrite)
    }

    /// Whether an access of kind `self` and one of kind `other` to the same location
    /// race when unordered: at least one writes and not both are atomic.
    #[inline]
    pub const fn conflicts_with(self, other: AccessKind) -> bool {
        (self.is_write() || other.is_write()) && !(self.is_atomic() && other.is_atomic())
    }
}

#[cfg(test)]
mod tests {
    use super::AccessKind::{self, *};

    #[test]
    fn conflicts_need_a_write_and_a_plain_access() {
        let all = [Read, Write, AtomicRead, AtomicWrite];
        for a in all {
            for b in all {
                let expected = (a.is_write() || b.is_write()) && !(a.is_atomic() && b.is_atomic());
                assert_eq!(a.conflicts_with(b), expected, "{a:?} {b:?}");
                assert_eq!(a.conflicts_with(b), b.conflicts_with(a));
            }
        }
        assert!(Read.conflicts_with(AtomicWrite) && !AtomicRead.conflicts_with(AtomicWrite));
        assert!(!Read.conflicts_with(Read) && !Read.conflicts_with(AtomicRead));
        assert_eq!(
            [(false, false), (true, false), (false, true), (true, true)]
                .map(|(w, a)| AccessKind::new(w, a)),
            all
        );
    }

    #[test]
    fn serde_form_is_the_variant_name() {
        let json = serde_json::to_string(&[Read, Write, AtomicRead, AtomicWrite]).unwrap();
        assert_eq!(json, r#"["Read","Write","AtomicRead","AtomicWrite"]"#);
        let back: Vec<AccessKind> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, [Read, Write, AtomicRead, AtomicWrite]);
    }
}
