//! The hot cache in front of the replicated state (docs/architecture.md §5): copies of
//! refresh-token and reference-token records, the denials (revoked tokens and families,
//! spent refresh tokens), and the watermark that tells edge nodes whether those copies
//! can be trusted. Shared by every node of a cluster through Redis.
//!
//! The cache must never be what makes a token valid. What that asks of its users:
//! - A miss, an error and "unknown" all mean the same: ask the replicated state. No
//!   call blocks for longer than the command timeout, and none panics when Redis is
//!   down; reads then answer "unknown" (`None`) and writes return an error.
//! - Every state change that invalidates something is decided by a Raft command's
//!   `apply`. Cores copy what each applied command changed ([`writes`]) before the
//!   command is answered ([`CacheWriter`]); every invalidation is a [`Denial`], and
//!   denials only accumulate, so a stale copy of a record can only lack a denial.
//! - An edge reads "not denied" as an answer only while the watermark exists. The
//!   leader keeps it alive (short TTL) only while every denial it has applied is in
//!   Redis: after a failed write, a FLUSHALL or a Redis restart it first copies every
//!   denial again, then re-creates the watermark.
//! - Every entry expires no later than the record it copies; an expired record is not
//!   written at all.
//!
//! Redis must run with `maxmemory-policy noeviction`: an evicted denial would be a
//! stale copy the watermark cannot reveal. A node checks it at start, and the leader
//! again before every refill, so no watermark is ever written into a Redis that may
//! evict ([`eviction`]). A node without `[cache] redis_url` has no hot cache: it
//! answers every read from its state machine, which is in memory.

mod error;
pub mod eviction;
mod keys;
mod redis_cache;
mod stats;
mod ttl;
pub mod writer;
pub mod writes;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::error::CacheError;
pub use self::eviction::{EvictionCheck, UnsafeCache};
pub use self::redis_cache::HotCache;
pub use self::stats::{CacheOp, CacheStats};
pub use self::writer::CacheWriter;
pub use self::writes::{CacheWrite, CacheWrites};

/// How the hot cache is set up (`[cache]` in the configuration file).
#[derive(Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// `redis://…` or `rediss://…`.
    pub redis_url: String,
    /// Names the key namespace `ostium:{cluster}:`; 1 to 64 of `A-Z a-z 0-9 - _ .`.
    pub cluster: String,
    /// The longest any one Redis call may take, connecting included, before it
    /// counts as failed; a request then goes on without the cache.
    pub command_timeout: Duration,
    /// How long the watermark lives unless the leader writes it again: how long an
    /// edge may go on trusting the cache after the leader stopped vouching for it.
    pub watermark_ttl: Duration,
    /// Use a Redis whose `maxmemory-policy` may evict keys (or that will not say
    /// which it has) anyway, with a warning, instead of refusing it: for
    /// `serve --dev` only ([`eviction`]).
    pub tolerate_eviction: bool,
}

impl CacheConfig {
    pub fn new(redis_url: impl Into<String>, cluster: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            cluster: cluster.into(),
            // Redis answers in well under a millisecond on a healthy network; 100 ms
            // is the most a request should lose to a Redis that does not answer.
            command_timeout: Duration::from_millis(100),
            watermark_ttl: Duration::from_secs(2),
            tolerate_eviction: false,
        }
    }

    /// How often the leader renews the watermark: several times per TTL, so that one
    /// slow renewal does not make every edge fall back to the cores.
    pub fn watermark_renewal(&self) -> Duration {
        self.watermark_ttl / 4
    }
}

// By hand: the URL may carry a password, which must not reach a log.
impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("redis_url", &"<set>")
            .field("cluster", &self.cluster)
            .field("command_timeout", &self.command_timeout)
            .field("watermark_ttl", &self.watermark_ttl)
            .field("tolerate_eviction", &self.tolerate_eviction)
            .finish()
    }
}

/// How far the copies in the cache reach: the last Raft log index the leader had
/// applied (and written through) when it last vouched for the cache, and when (its
/// clock, milliseconds since the Unix epoch). For operators; edges only need it to
/// exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub applied_index: u64,
    pub at_millis: u64,
}
