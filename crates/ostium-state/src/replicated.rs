//! The replicated state as the rest of Ostium uses it: propose a command from any
//! node, which forwards it to the leader when it is not the leader itself, and read
//! what is applied here, after catching up with the leader where an invariant needs
//! it.
//!
//! Every command can be proposed again safely (a repeated issue is `Duplicate`, a
//! repeated redemption with the same successor is `AlreadyRotated`), so a proposal
//! whose outcome is unknown after a leader change is simply retried.

use std::cell::Cell;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ostium_protocol::Causes;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::command::{Purge, StateCommand, StateResponse};
use crate::digest::TokenDigest;
use crate::error::{AttemptError, Unavailable};
use crate::network::{ClusterClient, ClusterReply};
use crate::node::{LeaderView, ProposeError, ReadError, StateNode};
use crate::patience::Patience;
use crate::record::{Denial, TokenFacts};
use crate::state::{PURGE_BATCH, StateView, StoreError};

#[derive(Clone)]
pub struct ReplicatedState {
    node: Arc<StateNode>,
    cluster: ClusterClient,
    reads: Arc<ReadBatch>,
}

/// Lets concurrent catch-ups share one linearizable read. Every caller takes a
/// ticket on arrival; one read runs at a time, and a read that starts after a
/// ticket was taken serves that ticket, so each caller still sees every write
/// acknowledged before it arrived, while a burst of callers costs one round.
#[derive(Default)]
struct ReadBatch {
    /// Tickets handed out so far.
    arrived: AtomicU64,
    /// Every ticket up to this one is served by a completed read.
    served: AtomicU64,
    /// Held while a read is in flight.
    turn: tokio::sync::Mutex<()>,
}

impl ReplicatedState {
    pub fn new(node: Arc<StateNode>, cluster: ClusterClient) -> Self {
        Self {
            node,
            cluster,
            reads: Arc::default(),
        }
    }

    pub fn node(&self) -> &Arc<StateNode> {
        &self.node
    }

    pub fn cluster(&self) -> &ClusterClient {
        &self.cluster
    }

    /// Proposes `command` here or at the leader, and returns its outcome once applied
    /// there. Without a usable leader (an election is under way, or the leader just
    /// died), the next attempt starts as soon as Raft names another leader or term,
    /// not after a fixed pause; a call to a leader that is replaced meanwhile is
    /// abandoned then too, rather than waited on.
    pub async fn propose(&self, command: StateCommand) -> Result<StateResponse, Unavailable> {
        // The view of the leader when the last attempt began: a change since then is
        // what makes another attempt worth it.
        let seen = Cell::new(self.node.leader_view());
        Patience::LEADER
            .retry_when(
                async |remaining| {
                    seen.set(self.node.leader_view());
                    self.propose_once(&command, seen.get(), remaining).await
                },
                async || self.node.leader_changed(seen.get()).await,
            )
            .await
    }

    /// One attempt: here if this node leads, else at the leader it names.
    async fn propose_once(
        &self,
        command: &StateCommand,
        seen: LeaderView,
        remaining: Duration,
    ) -> ControlFlow<Result<StateResponse, Unavailable>, AttemptError> {
        // A leader that accepted the command and then lost its quorum keeps it
        // pending until the partition heals, which may be never: stop waiting when
        // the patience is spent. Whether it is applied later is then unknown, as
        // after any `Unavailable`.
        let Ok(proposed) =
            tokio::time::timeout(remaining, self.node.propose(command.clone())).await
        else {
            return ControlFlow::Break(Err(Unavailable::gave_up(
                Patience::LEADER.total,
                AttemptError::CommitTimeout,
            )));
        };
        let leader = match proposed {
            Ok(response) => return ControlFlow::Break(Ok(response)),
            Err(ProposeError::ForwardToLeader(leader)) => leader,
            Err(stopped @ ProposeError::Stopped(_)) => {
                return ControlFlow::Break(Err(Unavailable::stopped(stopped)));
            }
            Err(refused @ ProposeError::Refused(_)) => {
                return ControlFlow::Break(Err(Unavailable::refused(refused)));
            }
            Err(other @ ProposeError::OutcomeUnknown(_)) => {
                return ControlFlow::Continue(other.into());
            }
        };
        let Some(mut addr) = leader.raft_addr else {
            return ControlFlow::Continue(AttemptError::NoLeaderYet);
        };
        // A node that is no longer the leader names its successor: followed at once,
        // but only once in a row, so that two nodes naming each other during an
        // election do not become a busy loop.
        let mut redirected = false;
        loop {
            let forwarded = tracing::info_span!(
                "raft forward to leader",
                otel.kind = "client",
                command = command.kind(),
                leader = %addr,
            );
            let call = tokio::time::timeout(remaining, self.cluster.propose(&addr, command))
                .instrument(forwarded);
            let reply = tokio::select! {
                reply = call => reply,
                // A new leader (or term) while the call is out: the one called has
                // been replaced, dead or not, and a dead one may never answer.
                () = self.node.leader_changed(seen) => {
                    return ControlFlow::Continue(AttemptError::Replaced(addr));
                }
            };
            return ControlFlow::Continue(match reply {
                Ok(Ok(ClusterReply::Done(response))) => return ControlFlow::Break(Ok(response)),
                Ok(Ok(ClusterReply::NotLeader(Some(next)))) if next != addr && !redirected => {
                    addr = next;
                    redirected = true;
                    continue;
                }
                Ok(Ok(ClusterReply::NotLeader(_))) => AttemptError::NoLongerLeader(addr),
                Ok(Ok(ClusterReply::Failed(reason))) => AttemptError::Refused { addr, reason },
                Ok(Err(e)) => e.into(),
                Err(_) => AttemptError::NoAnswer(addr),
            });
        }
    }

    /// Drops expired records every `interval`: while this node is the leader it
    /// proposes `Purge` with its own clock's time, which the log then carries to
    /// every node. Runs until `stop` is cancelled.
    pub fn spawn_purger(
        &self,
        interval: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let node = self.node.clone();
        let purging = async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if node.metrics().leader != Some(node.id()) {
                    continue;
                }
                let at = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                // Bounded batches, one after another while each comes back full, so
                // that a backlog goes without one long apply holding up the log.
                let mut removed = 0;
                loop {
                    let purge = Purge {
                        at,
                        limit: Some(PURGE_BATCH),
                    };
                    match node.propose(StateCommand::Purge(purge)).await {
                        Ok(StateResponse::Purged { removed: batch }) => {
                            removed += batch;
                            if batch < PURGE_BATCH {
                                break;
                            }
                        }
                        Ok(_) => break,
                        Err(e) => {
                            tracing::debug!(error = %Causes(&e), "purge not proposed");
                            break;
                        }
                    }
                }
                if removed > 0 {
                    tracing::info!(removed, "purged expired tokens from the replicated state");
                }
            }
        };
        // Cancelled wherever it waits: a proposal at a leader that lost its quorum
        // must not hold up a shutdown.
        tokio::spawn(async move {
            stop.run_until_cancelled(purging).await;
        })
    }

    /// What is known of the opaque token with this digest, with every write
    /// acknowledged before the call applied.
    pub async fn lookup(&self, digest: &TokenDigest, now: u64) -> Result<TokenFacts, Unavailable> {
        self.catch_up().await?;
        Ok(self.read(|state| state.lookup(digest, now))?)
    }

    /// After a revocation is committed: makes sure edges reading the hot cache see
    /// it (see [`crate::HotCache::publish_denial`]). Nothing to do without a hot cache.
    pub async fn publish_denials(&self, denials: Vec<(Denial, u64)>) {
        self.node.publish_denials(denials).await;
    }

    /// Reads the state as applied on this node, which may lag the leader.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&StateView) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.node.read(read)
    }

    /// Waits until this node has applied everything committed before the call, so
    /// that a read after it sees every acknowledged write (a revocation, say).
    pub async fn catch_up(&self) -> Result<(), Unavailable> {
        // A leader within its lease is caught up by construction: no hand-off to the
        // Raft runtime, no turn to wait for.
        if self.node.lease_covers_read() {
            return Ok(());
        }
        let ticket = self.reads.arrived.fetch_add(1, Ordering::SeqCst) + 1;
        let seen = Cell::new(self.node.leader_view());
        Patience::LEADER
            .retry_when(
                async |_| {
                    seen.set(self.node.leader_view());
                    let turn = self.reads.turn.lock().await;
                    if self.reads.served.load(Ordering::SeqCst) >= ticket {
                        return ControlFlow::Break(Ok(()));
                    }
                    // Everyone who arrived before this read starts is served by it.
                    let covers = self.reads.arrived.load(Ordering::SeqCst);
                    match self.node.linearizable_read(|_| Ok(())).await {
                        Ok(()) => {
                            self.reads.served.fetch_max(covers, Ordering::SeqCst);
                            ControlFlow::Break(Ok(()))
                        }
                        Err(stopped @ ReadError::Stopped(_)) => {
                            ControlFlow::Break(Err(Unavailable::stopped(stopped)))
                        }
                        Err(other) => {
                            // Let others try while this caller waits out an election.
                            drop(turn);
                            ControlFlow::Continue(other.into())
                        }
                    }
                },
                async || self.node.leader_changed(seen.get()).await,
            )
            .await
    }
}
