//! The client side of the Raft network: openraft's `RaftNetworkV2` over reqwest, which
//! posts each RPC to `http://{raft address}/raft/{rpc}` with the cluster auth tag.
//!
//! Transport failures become the errors openraft expects: a peer that cannot be
//! connected to, refuses our credentials or has stopped is `Unreachable` (openraft backs
//! off), anything else on the way is a `Network` error (openraft retries). Every call's
//! outcome goes to [`PeerHealth`], which tells the operator when a peer stops
//! answering and when it is back.

use std::future::Future;
use std::time::Duration;

use openraft::OptionalSend;
use openraft::errors::{
    LinearizableReadError, NetworkError, ReplicationClosed, StreamingError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::linearizable_read::ReadLogId;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use ostium_protocol::Causes;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::auth::{CLUSTER_AUTH_HEADER, ClusterSecret};
use super::fault;
use super::peer_health::PeerHealth;
use super::rpc::{RaftRpc, SnapshotChunk, encode_snapshot_chunk};
use crate::store::SnapshotFile;
use crate::typ::{NodeId, RPCError, RaftError, RaftNode, Snapshot, TypeConfig, Vote};

/// Makes one [`PeerClient`] per peer; all share one connection pool.
#[derive(Clone)]
pub struct RaftNetwork {
    http: reqwest::Client,
    secret: ClusterSecret,
    health: PeerHealth,
}

impl RaftNetwork {
    pub fn new(secret: ClusterSecret) -> Result<Self, reqwest::Error> {
        // Raft addresses are cluster-internal: never send them through a proxy.
        let http = reqwest::Client::builder().no_proxy().build()?;
        Ok(Self {
            http,
            secret,
            health: PeerHealth::default(),
        })
    }

    /// A client for the peer `target` listening at `addr`.
    pub fn peer(&self, target: NodeId, addr: String) -> PeerClient {
        PeerClient {
            target,
            addr,
            http: self.http.clone(),
            secret: self.secret.clone(),
            health: self.health.clone(),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for RaftNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &RaftNode) -> PeerClient {
        self.peer(target, node.addr.clone())
    }
}

/// Sends Raft RPCs to one peer.
pub struct PeerClient {
    target: NodeId,
    addr: String,
    http: reqwest::Client,
    secret: ClusterSecret,
    health: PeerHealth,
}

impl PeerClient {
    /// Asks this peer, which should be the leader, for the log index a linearizable read
    /// must wait for (Raft's ReadIndex): the leader confirms its leadership first, from
    /// its lease if current, else with a quorum. A follower then reads once it has
    /// applied up to that index.
    pub async fn read_index(
        &self,
        timeout: Duration,
    ) -> Result<Result<ReadLogId<TypeConfig>, RaftError<LinearizableReadError<TypeConfig>>>, RPCError>
    {
        self.call(RaftRpc::ReadIndex, b"{}".to_vec(), timeout).await
    }

    /// One of openraft's own RPCs, whose only remote error is Fatal.
    async fn raft_call<Reply>(
        &self,
        rpc: RaftRpc,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Reply, RPCError>
    where
        Reply: DeserializeOwned,
    {
        let reply: Result<Reply, RaftError> = self.call(rpc, body, timeout).await?;
        // A Fatal error means the peer's Raft has stopped: for us it is unreachable.
        reply.map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    async fn call<Reply, E>(
        &self,
        rpc: RaftRpc,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Result<Reply, RaftError<E>>, RPCError>
    where
        Result<Reply, RaftError<E>>: DeserializeOwned,
    {
        match self.send(rpc, body, timeout).await {
            Ok(reply) => {
                match &reply {
                    Err(RaftError::Fatal(fatal)) => {
                        let reason = format!("its Raft has stopped: {fatal}");
                        self.health.failed(self.target, &self.addr, &reason);
                    }
                    _ => self.health.answered(self.target, &self.addr),
                }
                Ok(reply)
            }
            Err(Failed { reason, error }) => {
                self.health.failed(self.target, &self.addr, &reason);
                Err(error)
            }
        }
    }

    /// Sends one RPC and reads its reply; a failure keeps its cause, for the log.
    async fn send<Reply>(
        &self,
        rpc: RaftRpc,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Reply, Failed>
    where
        Reply: DeserializeOwned,
    {
        let url = format!("http://{}/raft/{}", self.addr, rpc.name());
        fault::outgoing(&url).map_err(|e| Failed {
            reason: e.to_string(),
            error: RPCError::Unreachable(Unreachable::new(&e)),
        })?;
        let tag = self.secret.sign(rpc.name(), &body);
        let response = self
            .http
            .post(&url)
            .header(CLUSTER_AUTH_HEADER, tag)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| Failed {
                reason: Causes(&e).to_string(),
                error: if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                },
            })?;

        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            tracing::warn!(target = self.target, addr = %self.addr, "peer refused our cluster authentication");
            let reason = format!("{url} refused our cluster authentication");
            return Err(Failed {
                error: RPCError::Unreachable(Unreachable::from_string(reason.clone())),
                reason,
            });
        }
        if !status.is_success() {
            let reason = format!("HTTP {status} from {url}");
            return Err(Failed {
                error: RPCError::Network(NetworkError::from_string(reason.clone())),
                reason,
            });
        }
        let bytes = response.bytes().await.map_err(|e| Failed {
            reason: Causes(&e).to_string(),
            error: RPCError::Network(NetworkError::new(&e)),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Failed {
            reason: format!("unreadable reply from {url}: {e}"),
            error: RPCError::Network(NetworkError::new(&e)),
        })
    }
}

/// A call that failed: what openraft is told, and why, for the operator.
struct Failed {
    reason: String,
    error: RPCError,
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, RPCError> {
    serde_json::to_vec(value).map_err(|e| RPCError::Network(NetworkError::new(&e)))
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError> {
        self.raft_call(RaftRpc::Append, encode(&rpc)?, option.soft_ttl())
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError> {
        self.raft_call(RaftRpc::Vote, encode(&rpc)?, option.soft_ttl())
            .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError> {
        self.raft_call(RaftRpc::PreVote, encode(&rpc)?, option.soft_ttl())
            .await
    }

    /// Sends the snapshot file in chunks, each a signed request of its own, so that
    /// neither end holds more than a chunk of it. The last chunk's answer is the
    /// receiver's answer to the whole snapshot.
    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let network = |e: std::io::Error| RPCError::Network(NetworkError::new(&e));
        let mut file = tokio::fs::File::from_std(snapshot.snapshot.reopen().map_err(network)?);
        let sending = async {
            let transfer = next_transfer();
            let mut offset = 0u64;
            let mut chunk = vec![0u8; SNAPSHOT_CHUNK];
            loop {
                let filled = fill(&mut file, &mut chunk).await.map_err(network)?;
                let header = SnapshotChunk {
                    vote,
                    meta: snapshot.meta.clone(),
                    transfer,
                    offset,
                    done: filled < chunk.len(),
                };
                let body = encode_snapshot_chunk(&header, &chunk[..filled])
                    .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
                let reply: Option<SnapshotResponse<TypeConfig>> = self
                    .raft_call(RaftRpc::Snapshot, body, option.hard_ttl())
                    .await?;
                offset += filled as u64;
                if header.done {
                    return reply.ok_or_else(|| {
                        RPCError::Network(NetworkError::from_string(
                            "the peer did not answer the snapshot's last chunk".to_owned(),
                        ))
                    });
                }
            }
        };
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            reply = sending => Ok(reply?),
        }
    }
}

/// The size of one request of a snapshot transfer.
const SNAPSHOT_CHUNK: usize = 4 * 1024 * 1024;

/// A number no other transfer from this process has used.
fn next_transfer() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    started ^ NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Reads until `buffer` is full or the file ends; how much was read.
async fn fill(file: &mut tokio::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    use tokio::io::AsyncReadExt;
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]).await? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}
