//! An edge node's share of the replicated state (docs/architecture.md §4, roles): no
//! log and no vote, so that token issuance scales out beyond the voters. Reads go
//! through the hot cache while the leader vouches for it (the watermark) and to a core
//! otherwise; every write goes to the cluster, whose leader applies it.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use tracing::Instrument;

use crate::cache::{CacheWrite, HotCache};
use crate::command::{StateCommand, StateResponse};
use crate::digest::TokenDigest;
use crate::error::{AttemptError, Unavailable};
use crate::network::cluster::{StateAnswer, StateRead};
use crate::network::{ClusterClient, ClusterReply};
use crate::patience::Patience;
use crate::record::{Denial, SigningKeyRecord, TokenFacts};

pub struct EdgeState {
    /// Raft addresses of the core nodes (their cluster API listens there too).
    cores: Vec<String>,
    cluster: ClusterClient,
    cache: HotCache,
    /// The core that last accepted a write, tried first for the next one.
    leader: Mutex<Option<String>>,
    /// Spreads reads (and first attempts at writes) over the cores.
    next_core: AtomicUsize,
}

impl EdgeState {
    pub fn new(cores: Vec<String>, cluster: ClusterClient, cache: HotCache) -> Self {
        Self {
            cores,
            cluster,
            cache,
            leader: Mutex::new(None),
            next_core: AtomicUsize::new(0),
        }
    }

    pub fn cache(&self) -> &HotCache {
        &self.cache
    }

    fn any_core(&self) -> Option<String> {
        let turn = self.next_core.fetch_add(1, Ordering::Relaxed);
        self.cores.get(turn % self.cores.len().max(1)).cloned()
    }

    fn leader_hint(&self) -> Option<String> {
        self.leader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_leader_hint(&self, addr: Option<String>) {
        *self.leader.lock().unwrap_or_else(PoisonError::into_inner) = addr;
    }

    /// Has the cluster's leader apply `command`, and returns its outcome. Like a
    /// core's proposal, it is retried through leader changes: every command is safe
    /// to apply twice.
    pub async fn propose(&self, command: StateCommand) -> Result<StateResponse, Unavailable> {
        Patience::LEADER
            .retry(async |_| {
                // A redirect is followed at once, but only one in a row: two cores
                // naming each other (during an election) must not become a busy loop.
                let mut redirected = false;
                loop {
                    let Some(addr) = self.leader_hint().or_else(|| self.any_core()) else {
                        return ControlFlow::Break(Err(Unavailable::NoCores));
                    };
                    let forwarded = tracing::info_span!(
                        "raft forward to core",
                        otel.kind = "client",
                        command = command.kind(),
                        core = %addr,
                    );
                    let reply = self
                        .cluster
                        .propose(&addr, &command)
                        .instrument(forwarded)
                        .await;
                    let failed = match reply {
                        Ok(ClusterReply::Done(response)) => {
                            self.set_leader_hint(Some(addr));
                            return ControlFlow::Break(Ok(response));
                        }
                        Ok(ClusterReply::NotLeader(Some(leader)))
                            if leader != addr && !redirected =>
                        {
                            self.set_leader_hint(Some(leader));
                            redirected = true;
                            continue;
                        }
                        Ok(ClusterReply::NotLeader(_)) => AttemptError::NoLeaderKnown(addr),
                        Ok(ClusterReply::Failed(reason)) => AttemptError::Refused { addr, reason },
                        Err(e) => e.into(),
                    };
                    self.set_leader_hint(None);
                    return ControlFlow::Continue(failed);
                }
            })
            .await
    }

    /// Asks the cores in turn until one answers `read` after catching up.
    async fn read(&self, read: &StateRead) -> Result<(String, StateAnswer), Unavailable> {
        Patience::LEADER
            .retry(async |_| {
                let Some(addr) = self.any_core() else {
                    return ControlFlow::Break(Err(Unavailable::NoCores));
                };
                ControlFlow::Continue(match self.cluster.read(&addr, read).await {
                    Ok(ClusterReply::Done(answer)) => {
                        return ControlFlow::Break(Ok((addr, answer)));
                    }
                    Ok(ClusterReply::NotLeader(_)) => AttemptError::NoLeaderKnown(addr),
                    Ok(ClusterReply::Failed(reason)) => AttemptError::Refused { addr, reason },
                    Err(e) => e.into(),
                })
            })
            .await
    }

    /// What is known of the opaque token with this digest: from the hot cache when
    /// it can answer, else from a core (and the record is then copied to the cache).
    pub async fn lookup(&self, digest: &TokenDigest, now: u64) -> Result<TokenFacts, Unavailable> {
        if let Some(facts) = self.cache.facts(digest, now).await {
            return Ok(facts);
        }
        let read = StateRead::Lookup {
            digest: *digest,
            now,
        };
        let facts = match self.read(&read).await? {
            (_, StateAnswer::Facts(facts)) => *facts,
            (core, _) => return Err(wrong_answer(core)),
        };
        // Best effort: a failed fill only means the next lookup asks a core again.
        let fills = facts
            .refresh
            .clone()
            .map(CacheWrite::Refresh)
            .into_iter()
            .chain(facts.reference.clone().map(CacheWrite::Reference));
        for fill in fills {
            let _ = self.cache.fill(&fill).await;
        }
        Ok(facts)
    }

    /// Whether `denial` is in force: from the hot cache when it can tell, else from
    /// a core.
    pub async fn is_denied(&self, denial: &Denial, now: u64) -> Result<bool, Unavailable> {
        if let Some(denied) = self.cache.is_denied(denial).await {
            return Ok(denied);
        }
        let read = StateRead::Denied {
            denial: denial.clone(),
            now,
        };
        match self.read(&read).await? {
            (_, StateAnswer::Denied(denied)) => Ok(denied),
            (core, _) => Err(wrong_answer(core)),
        }
    }

    /// The cluster's sealed signing keys, from a core.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, Unavailable> {
        match self.read(&StateRead::SigningKeys).await? {
            (_, StateAnswer::SigningKeys(keys)) => Ok(keys),
            (core, _) => Err(wrong_answer(core)),
        }
    }

    /// Asks a core for a read no hot cache holds (an authorization code, a
    /// consent); `unpack` takes the answer apart, `None` if it answers another
    /// question.
    pub async fn ask<T>(
        &self,
        read: &StateRead,
        unpack: impl FnOnce(StateAnswer) -> Option<T>,
    ) -> Result<T, Unavailable> {
        let (core, answer) = self.read(read).await?;
        unpack(answer).ok_or_else(|| wrong_answer(core))
    }

    /// After a revocation is committed: see [`HotCache::publish_denial`].
    pub async fn publish_denials(&self, denials: Vec<(Denial, u64)>) {
        self.cache.publish_denials(denials).await;
    }
}

/// A core that answers another question than the one asked runs another version of
/// the cluster API; asking again would not help.
fn wrong_answer(core: String) -> Unavailable {
    Unavailable::refused(AttemptError::WrongAnswer(core))
}
