//! Why a hot-cache operation failed. Every failure means the same thing to a caller
//! (the cache cannot help now: ask the replicated state), so the variants exist for
//! logs and metrics, not for different handling.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache configuration cannot work (a malformed `redis_url`, a cluster name
    /// that would not make a clean key namespace). Only returned at start.
    #[error("cache configuration: {0}")]
    Config(String),
    /// A Redis cache owns its connection on a tokio runtime, so it must be created
    /// inside one.
    #[error("the Redis cache must be created inside a tokio runtime")]
    NoRuntime,
    /// The runtime the connection lives on has shut down.
    #[error("the runtime owning the Redis connection has stopped")]
    Stopped,
    /// Redis did not answer within the command timeout (down, unreachable, or slow).
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A cached value is not what this version of Ostium writes; it is ignored.
    #[error("a cached value does not decode: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("a value does not encode: {0}")]
    Encode(#[source] serde_json::Error),
}
