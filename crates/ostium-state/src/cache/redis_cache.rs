//! The hot cache in Redis, shared by every node of a cluster (DESIGN §5): values are
//! JSON, keys are namespaced by cluster and carry a TTL no longer than their record.
//!
//! Redis being down or slow must cost a request at most the command timeout, never a
//! panic or a hang. So:
//! - one redis `ConnectionManager` (a multiplexed connection that reconnects by
//!   itself), created lazily so that Ostium starts while Redis is down;
//! - redis's own connection and response timeouts, and its reconnection backoff kept
//!   short, so that a restarted Redis is found again within a fraction of a second;
//! - on top, every call is bounded as a whole by the command timeout, because a call
//!   made while a reconnection is under way waits for that reconnection;
//! - every call runs as a task on the runtime the cache was created on, so that the
//!   connection and its reconnections belong to that (multi-thread) runtime and not to
//!   whichever actix worker happened to use the cache first.
//!
//! Redis 7.0 or later is required (`PEXPIRE … GT`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::runtime::Handle;

use crate::cache::keys::Keys;
use crate::cache::stats::{CacheStats, Counters};
use crate::cache::ttl::{as_px, now_millis, time_left};
use crate::cache::{CacheError, Watermark};
use crate::digest::TokenDigest;
use crate::record::{FamilyId, ReferenceTokenRecord, RefreshFamily, RefreshTokenRecord};

/// A Redis-backed hot cache. Cloning shares the connection and the counters.
#[derive(Clone)]
pub struct RedisCache {
    inner: Arc<Inner>,
}

struct Inner {
    manager: ConnectionManager,
    keys: Keys,
    runtime: Handle,
    command_timeout: Duration,
    watermark_ttl: Duration,
    stats: Counters,
    /// Whether the last call failed, so that an outage is logged once when it starts
    /// and once when it ends, not once per request.
    failing: AtomicBool,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the client: its connection info holds the password.
        f.debug_struct("RedisCache")
            .field("keys", &self.inner.keys)
            .field("command_timeout", &self.inner.command_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A cache on the Redis at `url`, in the namespace of `cluster`. Does not connect
    /// yet. Must be called inside the tokio runtime that is to own the connection, and
    /// that runtime must keep running for as long as the cache is used (Ostium's
    /// multi-thread runtime): the command timeout is enforced on it.
    pub fn connect(
        url: &str,
        cluster: &str,
        command_timeout: Duration,
        watermark_ttl: Duration,
    ) -> Result<Self, CacheError> {
        let keys = Keys::new(cluster)?;
        let runtime = Handle::try_current().map_err(|_| CacheError::NoRuntime)?;
        // redis's parse error does not repeat the URL, which may hold a password.
        let client = Client::open(url).map_err(|e| CacheError::Config(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(command_timeout))
            .set_response_timeout(Some(command_timeout))
            // One retry, soon: a caller waits at most the command timeout anyway, and
            // the next call after a failed reconnection starts another one.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(command_timeout);
        // The manager spawns a task at creation, so enter the runtime it belongs to.
        let manager = {
            let _guard = runtime.enter();
            ConnectionManager::new_lazy_with_config(client, config)?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                manager,
                keys,
                runtime,
                command_timeout,
                watermark_ttl,
                stats: Counters::default(),
                failing: AtomicBool::new(false),
            }),
        })
    }

    /// Runs one Redis call on the cache's runtime, bounded by the command timeout,
    /// and counts and logs its failure.
    async fn call<T, F, Fut>(&self, op: F) -> Result<T, CacheError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let limit = self.inner.command_timeout;
        let call = op(self.inner.manager.clone());
        let task = self
            .inner
            .runtime
            .spawn(async move { tokio::time::timeout(limit, call).await });
        let result = match task.await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(e))) => Err(CacheError::Redis(e)),
            Ok(Err(_elapsed)) => Err(CacheError::Timeout(limit)),
            Err(_cancelled) => Err(CacheError::Stopped),
        };
        self.note(result.as_ref().err());
        result
    }

    fn note(&self, error: Option<&CacheError>) {
        match error {
            Some(error) => {
                self.inner.stats.error();
                if !self.inner.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "Redis cache unavailable; serving from the replicated state");
                } else {
                    tracing::debug!(%error, "Redis cache call failed");
                }
            }
            None => {
                if self.inner.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis cache available again");
                }
            }
        }
    }

    /// `SET key json PX ttl`, unless the record has expired already.
    async fn put_json<V: Serialize>(
        &self,
        key: String,
        value: &V,
        expires_at: u64,
    ) -> Result<(), CacheError> {
        let Some(ttl) = time_left(expires_at, now_millis()) else {
            return Ok(());
        };
        let json = serde_json::to_string(value).map_err(|e| {
            self.inner.stats.error();
            CacheError::Encode(e)
        })?;
        self.call(move |mut con| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(json)
                .arg("PX")
                .arg(as_px(ttl))
                .exec_async(&mut con)
                .await
        })
        .await?;
        self.inner.stats.write();
        Ok(())
    }

    /// `GET key`, decoded; a value that does not decode (or is not about the key it
    /// is under, as `matches` judges) counts as an error and reads as "unknown".
    async fn get_json<V: DeserializeOwned>(
        &self,
        key: String,
        matches: impl FnOnce(&V) -> bool,
    ) -> Option<V> {
        let raw: Option<String> =
            self.call(move |mut con| async move {
                redis::cmd("GET").arg(key).query_async(&mut con).await
            })
            .await
            .ok()?;
        let Some(raw) = raw else {
            self.inner.stats.miss();
            return None;
        };
        match serde_json::from_str::<V>(&raw) {
            Ok(value) if matches(&value) => {
                self.inner.stats.hit();
                Some(value)
            }
            Ok(_) => {
                self.inner.stats.error();
                tracing::warn!("a cached value is filed under another key; ignored");
                None
            }
            Err(e) => {
                self.inner.stats.error();
                tracing::warn!(error = %CacheError::Decode(e), "cache entry ignored");
                None
            }
        }
    }

    pub(crate) async fn put_refresh(&self, record: &RefreshTokenRecord) -> Result<(), CacheError> {
        let key = self.inner.keys.refresh(&record.digest);
        self.put_json(key, record, record.expires_at).await
    }

    pub(crate) async fn get_refresh(&self, digest: &TokenDigest) -> Option<RefreshTokenRecord> {
        let key = self.inner.keys.refresh(digest);
        self.get_json(key, |r: &RefreshTokenRecord| r.digest == *digest)
            .await
    }

    pub(crate) async fn put_family(
        &self,
        id: &FamilyId,
        family: &RefreshFamily,
    ) -> Result<(), CacheError> {
        let key = self.inner.keys.family(id);
        self.put_json(key, family, family.absolute_expires_at).await
    }

    pub(crate) async fn get_family(&self, id: &FamilyId) -> Option<RefreshFamily> {
        let key = self.inner.keys.family(id);
        self.get_json(key, |_: &RefreshFamily| true).await
    }

    pub(crate) async fn put_reference(
        &self,
        record: &ReferenceTokenRecord,
    ) -> Result<(), CacheError> {
        let key = self.inner.keys.reference(&record.digest);
        self.put_json(key, record, record.expires_at).await
    }

    pub(crate) async fn get_reference(&self, digest: &TokenDigest) -> Option<ReferenceTokenRecord> {
        let key = self.inner.keys.reference(digest);
        self.get_json(key, |r: &ReferenceTokenRecord| r.digest == *digest)
            .await
    }

    pub(crate) async fn remove_reference(&self, digest: &TokenDigest) -> Result<(), CacheError> {
        let key = self.inner.keys.reference(digest);
        self.call(
            move |mut con| async move { redis::cmd("DEL").arg(key).exec_async(&mut con).await },
        )
        .await?;
        self.inner.stats.write();
        Ok(())
    }

    pub(crate) async fn put_revoked(
        &self,
        token_id: &str,
        expires_at: u64,
    ) -> Result<(), CacheError> {
        let Some(ttl) = time_left(expires_at, now_millis()) else {
            return Ok(());
        };
        let key = self.inner.keys.revoked(token_id);
        let px = as_px(ttl);
        // Created if absent, and its TTL only ever lengthened: a second revocation
        // with an earlier expiry must not let the first one lapse early (the state
        // machine keeps the later expiry too). In one MULTI so no reader sees a key
        // between the two.
        self.call(move |mut con| async move {
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&key)
                .arg(expires_at)
                .arg("NX")
                .arg("PX")
                .arg(px)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(px)
                .arg("GT")
                .ignore()
                .exec_async(&mut con)
                .await
        })
        .await?;
        self.inner.stats.write();
        Ok(())
    }

    pub(crate) async fn is_revoked(&self, token_id: &str) -> Option<bool> {
        let key = self.inner.keys.revoked(token_id);
        let found: bool = self
            .call(move |mut con| async move {
                redis::cmd("EXISTS").arg(key).query_async(&mut con).await
            })
            .await
            .ok()?;
        if found {
            self.inner.stats.hit();
        } else {
            self.inner.stats.miss();
        }
        Some(found)
    }

    pub(crate) async fn set_watermark(&self, mark: Watermark) -> Result<(), CacheError> {
        let key = self.inner.keys.watermark();
        let json = serde_json::to_string(&mark).map_err(|e| {
            self.inner.stats.error();
            CacheError::Encode(e)
        })?;
        let px = as_px(self.inner.watermark_ttl);
        self.call(move |mut con| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(json)
                .arg("PX")
                .arg(px)
                .exec_async(&mut con)
                .await
        })
        .await?;
        self.inner.stats.write();
        Ok(())
    }

    pub(crate) async fn watermark(&self) -> Option<Watermark> {
        let key = self.inner.keys.watermark();
        self.get_json(key, |_: &Watermark| true).await
    }

    pub(crate) fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot()
    }
}
