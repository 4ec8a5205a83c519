//! The hot cache in Redis, shared by every node of a cluster (docs/architecture.md §5):
//! values are JSON, keys are namespaced by cluster and carry a TTL no longer than their
//! record.
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
use tracing::Instrument;

use crate::cache::keys::Keys;
use crate::cache::stats::{CacheOp, CacheStats, Counters};
use crate::cache::ttl::{as_px, now_millis, time_left};
use crate::cache::{CacheConfig, CacheError, CacheWrite, Watermark};
use crate::digest::TokenDigest;
use crate::record::{Denial, ReferenceTokenRecord, RefreshTokenRecord, TokenFacts};

/// A Redis-backed hot cache. Cloning shares the connection and the counters.
#[derive(Clone)]
pub struct HotCache {
    inner: Arc<Inner>,
}

struct Inner {
    manager: ConnectionManager,
    /// For the subscription to signing-key changes, which needs a connection of its
    /// own.
    client: Client,
    keys: Keys,
    runtime: Handle,
    command_timeout: Duration,
    watermark_ttl: Duration,
    stats: Counters,
    /// Whether the last call failed, so that an outage is logged once when it starts
    /// and once when it ends, not once per request.
    failing: AtomicBool,
    /// Whether a Redis that may evict is used anyway (development only).
    tolerate_eviction: bool,
}

impl std::fmt::Debug for HotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the client: its connection info holds the password.
        f.debug_struct("HotCache")
            .field("keys", &self.inner.keys)
            .field("command_timeout", &self.inner.command_timeout)
            .finish_non_exhaustive()
    }
}

impl HotCache {
    /// A cache on the Redis at `url`, in the namespace of `cluster`. Does not connect
    /// yet. Must be called inside the tokio runtime that is to own the connection, and
    /// that runtime must keep running for as long as the cache is used (Ostium's
    /// multi-thread runtime): the command timeout is enforced on it.
    pub fn connect(config: &CacheConfig) -> Result<Self, CacheError> {
        let CacheConfig {
            redis_url: url,
            cluster,
            command_timeout,
            watermark_ttl,
            tolerate_eviction,
        } = config.clone();
        let keys = Keys::new(&cluster)?;
        let runtime = Handle::try_current().map_err(|_| CacheError::NoRuntime)?;
        // redis's parse error does not repeat the URL, which may hold a password.
        let client = Client::open(url.as_str()).map_err(|e| CacheError::Config(e.to_string()))?;
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
            ConnectionManager::new_lazy_with_config(client.clone(), config)?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                manager,
                client,
                keys,
                runtime,
                command_timeout,
                watermark_ttl,
                stats: Counters::default(),
                failing: AtomicBool::new(false),
                tolerate_eviction,
            }),
        })
    }

    /// Runs one Redis call on the cache's runtime, bounded by the command timeout,
    /// and counts and logs its failure.
    async fn call<T, F, Fut>(&self, kind: CacheOp, op: F) -> Result<T, CacheError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let result = self.run(op).await;
        self.note(kind, result.as_ref().err());
        result
    }

    /// As [`HotCache::call`], without counting or logging a failure: for questions
    /// Redis may refuse to answer (an administrative command) while it works.
    pub(super) async fn run<T, F, Fut>(&self, op: F) -> Result<T, CacheError>
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
        match task.await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(e))) => Err(CacheError::Redis(e)),
            Ok(Err(_elapsed)) => Err(CacheError::Timeout(limit)),
            Err(_cancelled) => Err(CacheError::Stopped),
        }
    }

    fn note(&self, kind: CacheOp, error: Option<&CacheError>) {
        match error {
            Some(error) => {
                self.inner.stats.error(kind);
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

    /// Copies `writes` in one pipeline (one round trip). Denials are created if
    /// absent and their TTL only ever lengthened: a second revocation with an earlier
    /// expiry must not let the first lapse early (the state keeps the later one too).
    pub async fn write(&self, writes: &[CacheWrite]) -> Result<(), CacheError> {
        let now = now_millis();
        let mut pipe = redis::pipe();
        let mut count = 0u64;
        for write in writes {
            match write {
                CacheWrite::Refresh(record) => {
                    let key = self.inner.keys.refresh(&record.digest);
                    count +=
                        self.queue_set(&mut pipe, key, record, record.expires_at, now, false)?;
                }
                CacheWrite::Reference(record) => {
                    let key = self.inner.keys.reference(&record.digest);
                    count +=
                        self.queue_set(&mut pipe, key, record, record.expires_at, now, false)?;
                }
                CacheWrite::Deny { denial, until } => {
                    let Some(ttl) = time_left(*until, now) else {
                        continue;
                    };
                    let key = self.inner.keys.denial(denial);
                    let px = as_px(ttl);
                    pipe.cmd("SET")
                        .arg(&key)
                        .arg(*until)
                        .arg("NX")
                        .arg("PX")
                        .arg(px)
                        .ignore();
                    pipe.cmd("PEXPIRE").arg(&key).arg(px).arg("GT").ignore();
                    count += 1;
                }
                CacheWrite::ForgetReference(digest) => {
                    pipe.cmd("DEL")
                        .arg(self.inner.keys.reference(digest))
                        .ignore();
                    count += 1;
                }
            }
        }
        self.send(pipe, count).await
    }

    /// Makes sure that, once this returns, no edge takes the absence of any of
    /// `denials` (each with the time it may lapse) from the cache for an answer:
    /// either they are written, or this waits until every watermark written before
    /// the failure has lapsed (the leader renews none while a denial may be
    /// missing). Revocation calls end here. One pipeline and at most one wait
    /// however many denials: revoking a user's thousand families with Redis down
    /// takes one watermark's time, not a thousand.
    pub async fn publish_denials(&self, denials: Vec<(Denial, u64)>) {
        if denials.is_empty() {
            return;
        }
        let writes: Vec<CacheWrite> = denials
            .into_iter()
            .map(|(denial, until)| CacheWrite::Deny { denial, until })
            .collect();
        let span = tracing::info_span!(
            "redis publish denial",
            otel.kind = "client",
            db.system.name = "redis",
        );
        let written = self.write(&writes).instrument(span).await;
        if let Err(error) = written {
            let wait = self.inner.watermark_ttl + self.inner.command_timeout;
            tracing::warn!(%error, ?wait, "could not write a revocation to Redis; waiting until edges stop trusting it");
            tokio::time::sleep(wait).await;
        }
    }

    /// Tells every node subscribed with [`HotCache::key_changes`] that the signing
    /// keys changed (docs/architecture.md, signing keys). Best effort: an edge that
    /// misses it reads the keys again on its own within its fallback period.
    pub async fn announce_key_change(&self) {
        let channel = self.inner.keys.key_changes();
        let published = self
            .call(CacheOp::Write, |mut con| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg("changed")
                    .exec_async(&mut con)
                    .await
            })
            .await;
        if let Err(error) = published {
            tracing::warn!(%error, "could not tell edges that the signing keys changed; they read them again within their fallback period");
        }
    }

    /// A stream that yields each time a core announces a change of the signing keys;
    /// it ends when the subscription's connection is lost (subscribe again).
    pub async fn key_changes(
        &self,
    ) -> Result<impl futures_util::Stream<Item = ()> + Send + use<>, CacheError> {
        use futures_util::StreamExt;
        let channel = self.inner.keys.key_changes();
        let limit = self.inner.command_timeout;
        let subscribe = async {
            let mut pubsub = self.inner.client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(limit, subscribe)
            .await
            .map_err(|_| CacheError::Timeout(limit))??;
        Ok(pubsub.into_on_message().map(|_| ()))
    }

    /// Copies a record an edge fetched from a core after a miss, unless a core has
    /// written one meanwhile: a fill never overwrites what write-through put there,
    /// which may be newer.
    pub async fn fill(&self, write: &CacheWrite) -> Result<(), CacheError> {
        let now = now_millis();
        let mut pipe = redis::pipe();
        let count = match write {
            CacheWrite::Refresh(record) => {
                let key = self.inner.keys.refresh(&record.digest);
                self.queue_set(&mut pipe, key, record, record.expires_at, now, true)?
            }
            CacheWrite::Reference(record) => {
                let key = self.inner.keys.reference(&record.digest);
                self.queue_set(&mut pipe, key, record, record.expires_at, now, true)?
            }
            CacheWrite::Deny { .. } | CacheWrite::ForgetReference(_) => 0,
        };
        self.send(pipe, count).await
    }

    /// Sends a pipeline of `count` writes, if there is any.
    async fn send(&self, pipe: redis::Pipeline, count: u64) -> Result<(), CacheError> {
        if count == 0 {
            return Ok(());
        }
        self.call(CacheOp::Write, move |mut con| async move {
            pipe.exec_async(&mut con).await
        })
        .await?;
        self.inner.stats.wrote(count);
        Ok(())
    }

    /// Adds `SET key json PX ttl` (`NX` when `only_if_absent`) to `pipe`, unless the
    /// record has expired already; returns how many entries it queued.
    fn queue_set<V: Serialize>(
        &self,
        pipe: &mut redis::Pipeline,
        key: String,
        value: &V,
        expires_at: u64,
        now: u64,
        only_if_absent: bool,
    ) -> Result<u64, CacheError> {
        let Some(ttl) = time_left(expires_at, now) else {
            return Ok(0);
        };
        let json = serde_json::to_string(value).map_err(|e| {
            self.inner.stats.error(CacheOp::Write);
            CacheError::Encode(e)
        })?;
        let cmd = pipe.cmd("SET").arg(key).arg(json).arg("PX").arg(as_px(ttl));
        if only_if_absent {
            cmd.arg("NX");
        }
        cmd.ignore();
        Ok(1)
    }

    /// What the cache knows of the opaque token with this digest at `now`, when it
    /// can be trusted: the watermark exists and a record for the digest is cached.
    /// `None` means "ask a core".
    pub async fn facts(&self, digest: &TokenDigest, now: u64) -> Option<TokenFacts> {
        let keys = &self.inner.keys;
        let mut pipe = redis::pipe();
        pipe.cmd("GET")
            .arg(keys.reference(digest))
            .cmd("GET")
            .arg(keys.refresh(digest))
            .cmd("EXISTS")
            .arg(keys.denial(&Denial::Reference(*digest)))
            .cmd("EXISTS")
            .arg(keys.denial(&Denial::Spent(*digest)))
            .cmd("EXISTS")
            .arg(keys.watermark());
        type Found = (Option<String>, Option<String>, bool, bool, bool);
        let (reference, refresh, reference_denied, spent, trusted): Found = self
            .call(CacheOp::Read, move |mut con| async move {
                pipe.query_async(&mut con).await
            })
            .await
            .ok()?;
        if !trusted || (reference.is_none() && refresh.is_none()) {
            self.inner.stats.miss();
            return None;
        }
        let reference: Option<ReferenceTokenRecord> = match reference {
            Some(raw) => Some(self.decode(&raw, |r: &ReferenceTokenRecord| r.digest == *digest)?),
            None => None,
        };
        let refresh: Option<RefreshTokenRecord> = match refresh {
            Some(raw) => Some(self.decode(&raw, |r: &RefreshTokenRecord| r.digest == *digest)?),
            None => None,
        };
        let refresh_live = match &refresh {
            Some(token) if token.rotation.is_none() && !spent && now < token.expires_at => {
                !self
                    .is_denied(&Denial::Family(token.family.clone()))
                    .await?
            }
            _ => false,
        };
        let reference = match reference {
            Some(token) if !reference_denied && now < token.expires_at => match &token.family {
                // Issued with a refresh token: revoked with its family.
                Some(family) => {
                    (!self.is_denied(&Denial::Family(family.clone())).await?).then_some(token)
                }
                None => Some(token),
            },
            _ => None,
        };
        self.inner.stats.hit();
        Some(TokenFacts {
            reference,
            refresh,
            refresh_live,
        })
    }

    /// `Some(true)`: `denial` is in the cache. `Some(false)`: it is not, and the
    /// watermark says the cache would hold it. `None`: the cache cannot tell.
    pub async fn is_denied(&self, denial: &Denial) -> Option<bool> {
        let mut pipe = redis::pipe();
        pipe.cmd("EXISTS")
            .arg(self.inner.keys.denial(denial))
            .cmd("EXISTS")
            .arg(self.inner.keys.watermark());
        let (denied, trusted): (bool, bool) = self
            .call(CacheOp::Read, move |mut con| async move {
                pipe.query_async(&mut con).await
            })
            .await
            .ok()?;
        match (denied, trusted) {
            (true, _) => {
                self.inner.stats.hit();
                Some(true)
            }
            (false, true) => {
                self.inner.stats.hit();
                Some(false)
            }
            (false, false) => {
                self.inner.stats.miss();
                None
            }
        }
    }

    /// Whether Redis answers at all: cheap, for deciding whether a refill is worth
    /// starting.
    pub async fn ping(&self) -> Result<(), CacheError> {
        self.call(CacheOp::Ping, |mut con| async move {
            redis::cmd("PING").exec_async(&mut con).await
        })
        .await
    }

    /// Renews the watermark if it still exists; `false` when it does not (it lapsed,
    /// or Redis was flushed or restarted), in which case the cache must be refilled
    /// before [`HotCache::create_watermark`].
    pub async fn renew_watermark(&self, mark: Watermark) -> Result<bool, CacheError> {
        self.put_watermark(mark, true).await
    }

    /// Adds one to the counter `name`, shared by every node of the cluster, which
    /// lapses `window` after its first count (a fixed window); answers the count, or
    /// `None` when Redis cannot answer. For counts that are not state, such as failed
    /// logins: nothing is decided by them that must survive Redis losing them.
    pub async fn count(&self, name: &str, window: Duration) -> Option<u64> {
        let key = self.inner.keys.counter(name);
        // One transaction: a count whose expiry were lost would never lapse.
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("INCR")
            .arg(&key)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(as_px(window))
            .arg("NX")
            .ignore();
        let (count,): (u64,) = self
            .call(CacheOp::Counter, move |mut con| async move {
                pipe.query_async(&mut con).await
            })
            .await
            .ok()?;
        Some(count)
    }

    /// The counter `name` (0 when it has lapsed or was never counted), or `None` when
    /// Redis cannot answer.
    pub async fn counted(&self, name: &str) -> Option<u64> {
        let key = self.inner.keys.counter(name);
        let count: Option<u64> = self
            .call(CacheOp::Counter, move |mut con| async move {
                redis::cmd("GET").arg(key).query_async(&mut con).await
            })
            .await
            .ok()?;
        Some(count.unwrap_or_default())
    }

    /// Starts the counter `name` again from zero. Best effort.
    pub async fn reset_count(&self, name: &str) {
        let key = self.inner.keys.counter(name);
        let _: Result<(), _> = self
            .call(CacheOp::Counter, move |mut con| async move {
                redis::cmd("DEL").arg(key).query_async(&mut con).await
            })
            .await;
    }

    /// Creates (or replaces) the watermark: only after every denial was copied.
    pub async fn create_watermark(&self, mark: Watermark) -> Result<(), CacheError> {
        self.put_watermark(mark, false).await.map(|_| ())
    }

    async fn put_watermark(
        &self,
        mark: Watermark,
        only_if_present: bool,
    ) -> Result<bool, CacheError> {
        let key = self.inner.keys.watermark();
        let json = serde_json::to_string(&mark).map_err(|e| {
            self.inner.stats.error(CacheOp::Watermark);
            CacheError::Encode(e)
        })?;
        let px = as_px(self.inner.watermark_ttl);
        let set: Option<String> = self
            .call(CacheOp::Watermark, move |mut con| async move {
                let mut cmd = redis::cmd("SET");
                cmd.arg(key).arg(json).arg("PX").arg(px);
                if only_if_present {
                    cmd.arg("XX");
                }
                cmd.query_async(&mut con).await
            })
            .await?;
        self.inner.stats.wrote(1);
        Ok(set.is_some())
    }

    /// The watermark, if the leader has vouched for the cache within its TTL.
    pub async fn watermark(&self) -> Option<Watermark> {
        let key = self.inner.keys.watermark();
        let raw: Option<String> = self
            .call(CacheOp::Watermark, move |mut con| async move {
                redis::cmd("GET").arg(key).query_async(&mut con).await
            })
            .await
            .ok()?;
        self.decode(&raw?, |_: &Watermark| true)
    }

    /// Decodes a cached value; one that does not decode, or is not about the key it
    /// is under (as `matches` judges), counts as an error and reads as "unknown".
    fn decode<V: DeserializeOwned>(
        &self,
        raw: &str,
        matches: impl FnOnce(&V) -> bool,
    ) -> Option<V> {
        match serde_json::from_str::<V>(raw) {
            Ok(value) if matches(&value) => Some(value),
            Ok(_) => {
                self.inner.stats.error(CacheOp::Read);
                tracing::warn!("a cached value is filed under another key; ignored");
                None
            }
            Err(e) => {
                self.inner.stats.error(CacheOp::Read);
                tracing::warn!(error = %CacheError::Decode(e), "cache entry ignored");
                None
            }
        }
    }

    /// Whether a Redis that may evict keys is used anyway, with a warning
    /// ([`CacheConfig::tolerate_eviction`]).
    pub fn tolerates_eviction(&self) -> bool {
        self.inner.tolerate_eviction
    }

    /// Counters since the cache was created.
    pub fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot()
    }
}
