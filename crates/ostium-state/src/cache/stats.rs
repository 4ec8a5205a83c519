//! Hit, miss, write and error counts of a hot cache, kept in atomics so that the
//! request path never takes a lock to count; read by the metrics endpoint later
//! (the cache hit ratio of docs/architecture.md §10).

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the counters since the cache was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads that found an entry.
    pub hits: u64,
    /// Reads that the cache answered with "no entry".
    pub misses: u64,
    /// Entries written (or removed); an already expired entry that was not written
    /// does not count.
    pub writes: u64,
    /// Operations that failed (Redis down, slow, or a value that did not decode).
    pub errors: u64,
    /// The same failures by kind of operation, in the order of [`CacheOp::ALL`].
    pub errors_by_operation: [u64; CacheOp::ALL.len()],
}

/// What a Redis call was for, to tell failures apart on a dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOp {
    /// Reading records and denials (a decode failure counts here too).
    Read,
    /// Writing through, filling after a miss, publishing a denial.
    Write,
    /// Reading, renewing or creating the watermark.
    Watermark,
    /// Rate-limit counters.
    Counter,
    /// Health checks.
    Ping,
}

impl CacheOp {
    pub const ALL: [CacheOp; 5] = [
        CacheOp::Read,
        CacheOp::Write,
        CacheOp::Watermark,
        CacheOp::Counter,
        CacheOp::Ping,
    ];

    /// The `operation` label.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOp::Read => "read",
            CacheOp::Write => "write",
            CacheOp::Watermark => "watermark",
            CacheOp::Counter => "counter",
            CacheOp::Ping => "ping",
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    errors: [AtomicU64; CacheOp::ALL.len()],
}

impl Counters {
    // Relaxed: the counters are independent tallies, nothing is ordered by them.
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn wrote(&self, entries: u64) {
        self.writes.fetch_add(entries, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, op: CacheOp) {
        self.errors[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            errors: self.errors.iter().map(|e| e.load(Ordering::Relaxed)).sum(),
            errors_by_operation: std::array::from_fn(|i| self.errors[i].load(Ordering::Relaxed)),
        }
    }
}
