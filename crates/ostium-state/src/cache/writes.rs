//! What a core copies into the hot cache for the commands it applies: the records a
//! command created or changed, and the denials it added. `State::apply` notes them
//! in a [`CacheWrites`] right where it makes each change (every aggregate in
//! `state/` does so for each of its commands), so a new command cannot skip the
//! write-through unnoticed. Pure (no I/O): what reaches Redis can be checked without
//! one.

use crate::digest::TokenDigest;
use crate::record::{Denial, ReferenceTokenRecord, RefreshTokenRecord};

/// One entry to copy into the hot cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheWrite {
    Refresh(RefreshTokenRecord),
    Reference(ReferenceTokenRecord),
    /// A denial, in force until `until` (seconds since the epoch).
    Deny {
        denial: Denial,
        until: u64,
    },
    /// A reference token that is no longer active.
    ForgetReference(TokenDigest),
}

/// The writes noted while applying commands. A node without a hot cache ignores them,
/// and then never builds them: noting takes a closure that runs only when collecting.
#[derive(Debug, Default)]
pub struct CacheWrites {
    collecting: bool,
    writes: Vec<CacheWrite>,
}

impl CacheWrites {
    /// Collects every write noted.
    pub fn collecting() -> Self {
        Self {
            collecting: true,
            writes: Vec::new(),
        }
    }

    /// Notes nothing: for a node without a hot cache.
    pub fn ignoring() -> Self {
        Self::default()
    }

    /// Notes the write `make` builds, if collecting.
    pub(crate) fn note(&mut self, make: impl FnOnce() -> CacheWrite) {
        if self.collecting {
            self.writes.push(make());
        }
    }

    /// The writes noted so far, in the order their changes were made.
    pub fn take(&mut self) -> Vec<CacheWrite> {
        std::mem::take(&mut self.writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignoring_builds_nothing() {
        let mut writes = CacheWrites::ignoring();
        writes.note(|| unreachable!("an ignored write is never built"));
        assert!(writes.take().is_empty());
        let mut writes = CacheWrites::collecting();
        writes.note(|| CacheWrite::ForgetReference(TokenDigest::of_handle("a")));
        assert_eq!(writes.take().len(), 1);
        assert!(writes.take().is_empty());
    }
}
