//! Keeping the hot cache a copy edges can trust (docs/architecture.md §5): every core
//! writes what each applied command changed before the command is answered, and the
//! leader vouches for the cache with the watermark only while nothing it applied is
//! missing.
//!
//! Why this order makes "not in the cache" safe for an edge to believe: the leader
//! answers a revocation only after its own write of the denial either succeeded or
//! failed and marked this writer dirty; a dirty writer renews no watermark until it
//! has copied every denial again, so the watermark lapses within its TTL. The node
//! that answers the revocation call writes the denial too and, if it cannot, waits
//! out that TTL before answering (see [`HotCache::publish_denial`]).
//!
//! The leader refills only a Redis that keeps every key (`maxmemory-policy
//! noeviction`, [`crate::cache::eviction`]), checked before each refill.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use ostium_protocol::Causes;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::cache::writes::CacheWrite;
use crate::cache::{CacheError, EvictionCheck, HotCache, UnsafeCache, Watermark, ttl};
use crate::node::{ReadError, StateNode};
use crate::trace::TraceLinks;

/// Denials copied per round trip during a refill.
const REFILL_BATCH: usize = 5_000;

pub struct CacheWriter {
    cache: HotCache,
    /// The cache may lack something this node applied. Set at start (the state came
    /// from a snapshot nobody wrote through here), when a snapshot is installed and
    /// when a write fails; cleared by a refill. While set, applied commands are not
    /// written (a Redis that is down would slow every apply), and the refill covers
    /// the denials among them.
    dirty: AtomicBool,
    /// Redis was last found to run with a policy that may evict keys.
    refused: AtomicBool,
    /// Traced proposals waiting for their commit here, so that the write-through of
    /// what they changed joins their trace.
    links: TraceLinks,
}

impl CacheWriter {
    pub fn new(cache: HotCache) -> Self {
        Self {
            cache,
            dirty: AtomicBool::new(true),
            refused: AtomicBool::new(false),
            links: TraceLinks::default(),
        }
    }

    pub fn links(&self) -> &TraceLinks {
        &self.links
    }

    pub fn cache(&self) -> &HotCache {
        &self.cache
    }

    /// Copies what applied commands changed. Called by the state machine after it
    /// applied them (so a refill that starts later sees them) and before it answers.
    /// `traced` is the span context of a traced proposal among them, if any.
    pub async fn applied(&self, writes: Vec<CacheWrite>, traced: Option<Context>) {
        if writes.is_empty() || self.dirty.load(Ordering::SeqCst) {
            return;
        }
        let span = match traced {
            Some(parent) => {
                let span = tracing::info_span!(
                    "redis write-through",
                    otel.kind = "client",
                    db.system.name = "redis",
                    entries = writes.len(),
                );
                let _ = span.set_parent(parent);
                span
            }
            None => tracing::Span::none(),
        };
        if let Err(error) = self.cache.write(&writes).instrument(span).await {
            self.mark_dirty();
            tracing::warn!(%error, "could not write applied state through to Redis; edges ask the cores until the cache is refilled");
        }
    }

    /// The cache may lack part of the state (a snapshot was installed).
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::SeqCst);
    }

    /// While `node` leads, vouches for the cache every `every`; refills it first
    /// whenever it may lack something. Runs until `stop` is cancelled.
    pub fn spawn_keeper(
        self: Arc<Self>,
        node: Arc<StateNode>,
        every: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let keeping = async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if node.metrics().leader != Some(node.id()) {
                    continue;
                }
                if let Err(error) = self.vouch(&node).await {
                    tracing::debug!(error = %Causes(&error), "the hot cache is not vouched for now");
                }
            }
        };
        // Cancelled wherever it waits, a refill or a read of a lost leadership included.
        tokio::spawn(async move {
            stop.run_until_cancelled(keeping).await;
        })
    }

    async fn vouch(&self, node: &StateNode) -> Result<(), VouchError> {
        // Leadership confirmed and everything committed so far applied (hence
        // written through, or this writer is dirty).
        node.linearizable_read(|_| Ok(()))
            .await
            .map_err(VouchError::NotLeading)?;
        let mark = Watermark {
            applied_index: node.applied_index(),
            at_millis: ttl::now_millis(),
        };
        if !self.dirty.load(Ordering::SeqCst) {
            match self.cache.renew_watermark(mark).await {
                Ok(true) => return Ok(()),
                // Lapsed, flushed or restarted: the denials must be copied again.
                Ok(false) => {}
                Err(e) => {
                    self.mark_dirty();
                    return Err(e.into());
                }
            }
        }
        self.refill(node).await.inspect_err(|_| self.mark_dirty())
    }

    /// Copies every denial, then creates the watermark.
    async fn refill(&self, node: &StateNode) -> Result<(), VouchError> {
        // Not worth collecting every denial while Redis is down.
        self.cache.ping().await?;
        // A Redis may come back configured otherwise (or have been down when this
        // node started): it is never vouched for unless it keeps every key.
        self.check_eviction().await?;
        // Cleared before the state is read: a command applied after this point is
        // written through by `applied`, one applied before is in what is read.
        self.dirty.store(false, Ordering::SeqCst);
        node.linearizable_read(|_| Ok(()))
            .await
            .map_err(VouchError::NotLeading)?;
        // Every denial applied up to here is in what the scan below reads.
        let mark = Watermark {
            applied_index: node.applied_index(),
            at_millis: ttl::now_millis(),
        };
        let denials = self.copy_denials(node).await?;
        // A write that failed meanwhile marked the writer dirty again.
        if self.dirty.load(Ordering::SeqCst) {
            return Err(VouchError::WriteFailed);
        }
        self.cache.create_watermark(mark).await?;
        tracing::info!(
            denials,
            applied_index = mark.applied_index,
            "refilled the hot cache; edges may read through it again"
        );
        Ok(())
    }
}

impl CacheWriter {
    /// Copies every denial in the state to Redis, a batch at a time: one thread
    /// walks the records while this task writes the batch before, so that memory
    /// holds a few batches whatever the number of denials. How many were copied.
    async fn copy_denials(&self, node: &StateNode) -> Result<usize, VouchError> {
        let (batches, mut received) = tokio::sync::mpsc::channel::<Vec<CacheWrite>>(2);
        let records = node.records();
        let scan = tokio::task::spawn_blocking(move || {
            records.read(|view| {
                let mut batch = Vec::with_capacity(REFILL_BATCH);
                view.denials(|denial, until| {
                    batch.push(CacheWrite::Deny { denial, until });
                    if batch.len() == REFILL_BATCH
                        && batches.blocking_send(std::mem::take(&mut batch)).is_err()
                    {
                        return Err(crate::store::records::invalid("the refill stopped"));
                    }
                    Ok(())
                })?;
                if !batch.is_empty() {
                    let _ = batches.blocking_send(batch);
                }
                Ok(())
            })
        });
        let mut copied = 0;
        while let Some(batch) = received.recv().await {
            self.cache.write(&batch).await?;
            copied += batch.len();
        }
        match scan.await {
            Ok(Ok(())) => Ok(copied),
            Ok(Err(e)) => Err(VouchError::NotLeading(ReadError::Storage(e))),
            Err(_) => Err(VouchError::WriteFailed),
        }
    }

    /// Whether Redis keeps every key (or this node tolerates one that may not); an
    /// unsafe Redis is logged when it is found, not at every attempt.
    async fn check_eviction(&self) -> Result<(), VouchError> {
        match self.cache.check_eviction().await {
            EvictionCheck::Safe => {
                self.refused.store(false, Ordering::SeqCst);
                Ok(())
            }
            EvictionCheck::Unsafe(_) if self.cache.tolerates_eviction() => Ok(()),
            EvictionCheck::Unsafe(unsafe_cache) => {
                if !self.refused.swap(true, Ordering::SeqCst) {
                    tracing::error!(reason = %unsafe_cache, "the hot cache is not used: edges ask the cores for every read");
                }
                Err(VouchError::Unsafe(unsafe_cache))
            }
            EvictionCheck::Unreachable(e) => Err(e.into()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum VouchError {
    #[error("Redis may evict keys")]
    Unsafe(#[source] UnsafeCache),
    #[error("not confirmed as leader")]
    NotLeading(#[source] ReadError),
    #[error("a write-through failed during the refill")]
    WriteFailed,
    #[error(transparent)]
    Cache(#[from] CacheError),
}
