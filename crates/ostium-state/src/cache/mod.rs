//! The hot cache in front of the replicated state (DESIGN §5): copies of refresh-token
//! records and families, reference tokens, the deny list of revoked token ids, and
//! the watermark that tells edge nodes how fresh those copies are.
//!
//! [`HotCache`] is chosen once at start: [`RedisCache`] when `[cache] redis_url` is
//! configured, [`LocalCache`] (in-process, bounded) otherwise.
//!
//! The cache must never be what makes a token valid. What that asks of callers:
//! - A miss, an error and "unknown" all mean the same: ask the replicated state. No
//!   method blocks for longer than the command timeout, and none panics when Redis is
//!   down; reads then answer "unknown" (`None`) and writes return an error.
//! - Every state change that invalidates something is decided by a Raft command's
//!   `apply`; a stale cached record may slow a request down but must never let one
//!   through that the state would refuse. The entries whose *absence* is read as an
//!   answer (the deny list, a removed reference token) are only trustworthy to an
//!   edge while the [`Watermark`] is fresh, and only if every write-through before it
//!   succeeded: a core that fails to write a revocation through must not advance the
//!   watermark until it has written it.
//! - Every entry expires no later than the record it copies (`expires_at`, the
//!   family's `absolute_expires_at`); an already expired record is not written. The
//!   watermark expires after a short TTL, so that it disappears when no core keeps it.

mod error;
mod keys;
mod local_cache;
mod redis_cache;
mod stats;
mod ttl;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::error::CacheError;
pub use self::local_cache::LocalCache;
pub use self::redis_cache::RedisCache;
pub use self::stats::CacheStats;

use crate::digest::TokenDigest;
use crate::record::{FamilyId, ReferenceTokenRecord, RefreshFamily, RefreshTokenRecord};

/// How the hot cache is set up (`[cache]` in the configuration file).
#[derive(Clone)]
pub struct CacheConfig {
    /// `redis://…` or `rediss://…`; `None` selects the in-process cache.
    pub redis_url: Option<String>,
    /// Names the key namespace `ostium:{cluster}:`; 1 to 64 of `A-Z a-z 0-9 - _ .`.
    pub cluster: String,
    /// The longest any one Redis call may take, connecting included, before it
    /// counts as failed; a request then goes on without the cache.
    pub command_timeout: Duration,
    /// How long the watermark lives unless a core writes it again.
    pub watermark_ttl: Duration,
    /// The in-process cache's bound on entries.
    pub local_max_entries: usize,
}

impl CacheConfig {
    pub fn new(cluster: impl Into<String>) -> Self {
        Self {
            redis_url: None,
            cluster: cluster.into(),
            // Redis answers in well under a millisecond on a healthy network; 100 ms
            // is the most a request should lose to a Redis that does not answer.
            command_timeout: Duration::from_millis(100),
            watermark_ttl: Duration::from_secs(10),
            local_max_entries: 100_000,
        }
    }
}

// By hand: the URL may carry a password, which must not reach a log.
impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<set>"))
            .field("cluster", &self.cluster)
            .field("command_timeout", &self.command_timeout)
            .field("watermark_ttl", &self.watermark_ttl)
            .field("local_max_entries", &self.local_max_entries)
            .finish()
    }
}

/// How far the state copied into the cache reaches: the last Raft log index a core
/// had applied, and when (its clock, milliseconds since the Unix epoch), when it last
/// confirmed that everything up to that index was written through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub applied_index: u64,
    pub at_millis: u64,
}

/// The hot cache, as the rest of Ostium uses it. Cloning is cheap and shares the
/// cache (and its counters).
#[derive(Debug, Clone)]
pub enum HotCache {
    Redis(RedisCache),
    Local(LocalCache),
}

impl HotCache {
    /// The cache `config` asks for. A Redis cache does not connect here (Redis may be
    /// down when Ostium starts; it connects on first use and reconnects by itself),
    /// but it must be created inside the tokio runtime that should own its connection.
    pub fn from_config(config: &CacheConfig) -> Result<Self, CacheError> {
        match &config.redis_url {
            Some(url) => Ok(Self::Redis(RedisCache::connect(
                url,
                &config.cluster,
                config.command_timeout,
                config.watermark_ttl,
            )?)),
            None => Ok(Self::Local(LocalCache::new(
                config.local_max_entries,
                config.watermark_ttl,
            ))),
        }
    }

    /// `"redis"` or `"local"`, for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Redis(_) => "redis",
            Self::Local(_) => "local",
        }
    }

    /// Caches a refresh token until it expires.
    pub async fn put_refresh(&self, record: &RefreshTokenRecord) -> Result<(), CacheError> {
        match self {
            Self::Redis(cache) => cache.put_refresh(record).await,
            Self::Local(cache) => cache.put_refresh(record),
        }
    }

    /// The cached refresh token with this digest; `None` on a miss or when the cache
    /// is unavailable.
    pub async fn get_refresh(&self, digest: &TokenDigest) -> Option<RefreshTokenRecord> {
        match self {
            Self::Redis(cache) => cache.get_refresh(digest).await,
            Self::Local(cache) => cache.get_refresh(digest),
        }
    }

    /// Caches a refresh-token family until its absolute expiry.
    pub async fn put_family(
        &self,
        id: &FamilyId,
        family: &RefreshFamily,
    ) -> Result<(), CacheError> {
        match self {
            Self::Redis(cache) => cache.put_family(id, family).await,
            Self::Local(cache) => cache.put_family(id, family),
        }
    }

    pub async fn get_family(&self, id: &FamilyId) -> Option<RefreshFamily> {
        match self {
            Self::Redis(cache) => cache.get_family(id).await,
            Self::Local(cache) => cache.get_family(id),
        }
    }

    /// Caches a reference access token until it expires.
    pub async fn put_reference(&self, record: &ReferenceTokenRecord) -> Result<(), CacheError> {
        match self {
            Self::Redis(cache) => cache.put_reference(record).await,
            Self::Local(cache) => cache.put_reference(record),
        }
    }

    pub async fn get_reference(&self, digest: &TokenDigest) -> Option<ReferenceTokenRecord> {
        match self {
            Self::Redis(cache) => cache.get_reference(digest).await,
            Self::Local(cache) => cache.get_reference(digest),
        }
    }

    /// Forgets a reference token (it was revoked); written through before the
    /// revocation call returns.
    pub async fn remove_reference(&self, digest: &TokenDigest) -> Result<(), CacheError> {
        match self {
            Self::Redis(cache) => cache.remove_reference(digest).await,
            Self::Local(cache) => cache.remove_reference(digest),
        }
    }

    /// Puts a token id on the cached deny list until `expires_at` (seconds since the
    /// epoch). A second revocation of the same id never shortens the first.
    pub async fn put_revoked(&self, token_id: &str, expires_at: u64) -> Result<(), CacheError> {
        match self {
            Self::Redis(cache) => cache.put_revoked(token_id, expires_at).await,
            Self::Local(cache) => cache.put_revoked(token_id, expires_at),
        }
    }

    /// `Some(true)`: the id is on the cached deny list. `Some(false)`: Redis answered
    /// and holds no revocation for it, which means "not revoked" only under a fresh
    /// watermark. `None`: the cache does not know (unavailable; or the in-process
    /// cache, which may have evicted the entry, holds none).
    pub async fn is_revoked(&self, token_id: &str) -> Option<bool> {
        match self {
            Self::Redis(cache) => cache.is_revoked(token_id).await,
            Self::Local(cache) => cache.is_revoked(token_id),
        }
    }

    /// Records how far the cache has been written through; kept by cores.
    pub async fn set_watermark(
        &self,
        applied_index: u64,
        at_millis: u64,
    ) -> Result<(), CacheError> {
        let mark = Watermark {
            applied_index,
            at_millis,
        };
        match self {
            Self::Redis(cache) => cache.set_watermark(mark).await,
            Self::Local(cache) => cache.set_watermark(mark),
        }
    }

    /// The watermark, if a core has written one within its TTL and the cache answers.
    pub async fn watermark(&self) -> Option<Watermark> {
        match self {
            Self::Redis(cache) => cache.watermark().await,
            Self::Local(cache) => cache.watermark(),
        }
    }

    /// Counters since the cache was created.
    pub fn stats(&self) -> CacheStats {
        match self {
            Self::Redis(cache) => cache.stats(),
            Self::Local(cache) => cache.stats(),
        }
    }
}
