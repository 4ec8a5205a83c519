//! The serving side of the Raft network, independent of any HTTP server: whatever
//! serves the Raft listener hands over the RPC name (the last path segment of
//! `/raft/{rpc}`), the raw body and the `x-ostium-cluster-auth` header, and sends back
//! the bytes returned, or the status of the error.
//!
//! A request is authenticated before its body is parsed. A refusal is logged with the
//! RPC name only: never the secret or the tag.

use std::sync::Arc;

use openraft::ReadPolicy;
use openraft::errors::LinearizableReadError;

use openraft::raft::AppendEntriesResponse;

use super::auth::{AuthError, ClusterSecret};
use super::incoming_snapshot::{ChunkError, IncomingSnapshots};
use super::rpc::{RaftRpc, WireError, decode_snapshot_chunk};
use crate::leader_contact::LeaderContact;
use crate::typ::{Raft, RaftError, Snapshot, TypeConfig};

#[derive(Clone)]
pub struct RaftService {
    raft: Raft,
    secret: ClusterSecret,
    /// Every AppendEntries this node accepts from an established leader is noted
    /// here, so that the node can tell whether its leader is still alive.
    contact: LeaderContact,
    /// Snapshots arriving from the leader, chunk by chunk.
    incoming: Arc<IncomingSnapshots>,
}

#[derive(Debug, thiserror::Error)]
pub enum RaftServiceError {
    #[error("unknown Raft RPC")]
    UnknownRpc,
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    #[error(transparent)]
    Malformed(#[from] WireError),
    #[error("could not encode the reply: {0}")]
    Encode(serde_json::Error),
    #[error(transparent)]
    Snapshot(#[from] ChunkError),
}

impl RaftServiceError {
    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnknownRpc => 404,
            Self::Unauthenticated(_) => 401,
            Self::Malformed(_) => 400,
            Self::Encode(_) => 500,
            Self::Snapshot(ChunkError::OutOfPlace { .. }) => 409,
            Self::Snapshot(ChunkError::Io(_)) => 500,
        }
    }
}

impl RaftService {
    pub fn new(
        raft: Raft,
        secret: ClusterSecret,
        contact: LeaderContact,
        incoming: IncomingSnapshots,
    ) -> Self {
        Self {
            raft,
            secret,
            contact,
            incoming: Arc::new(incoming),
        }
    }

    /// Serves one Raft RPC.
    pub async fn handle(
        &self,
        rpc: &str,
        body: &[u8],
        auth: Option<&str>,
    ) -> Result<Vec<u8>, RaftServiceError> {
        let rpc = RaftRpc::from_name(rpc).ok_or(RaftServiceError::UnknownRpc)?;
        if let Err(refused) = self.secret.verify(rpc.name(), body, auth) {
            tracing::warn!(rpc = rpc.name(), reason = %refused, "refused a Raft request: wrong or missing cluster authentication");
            return Err(refused.into());
        }
        match rpc {
            RaftRpc::Append => {
                let request: openraft::raft::AppendEntriesRequest<TypeConfig> =
                    serde_json::from_slice(body).map_err(WireError::from)?;
                let (sender, established) =
                    (request.vote.leader_id.node_id, request.vote.committed);
                let answer = self.raft.append_entries(request).await;
                // A conflict is still a leader this node follows; a higher vote here
                // means the sender is not (or no longer) the leader.
                let accepted = matches!(answer, Ok(ref a) if !matches!(a, AppendEntriesResponse::HigherVote(_)));
                if established && accepted {
                    self.contact.heard_from(sender);
                }
                reply(&answer)
            }
            RaftRpc::Vote => {
                let request = serde_json::from_slice(body).map_err(WireError::from)?;
                reply(&self.raft.vote(request).await)
            }
            RaftRpc::PreVote => {
                let request = serde_json::from_slice(body).map_err(WireError::from)?;
                reply(&self.raft.pre_vote(request).await)
            }
            RaftRpc::Snapshot => {
                let (chunk, data) = decode_snapshot_chunk(body)?;
                let incoming = self.incoming.clone();
                let header = chunk.clone();
                let data = data.to_vec();
                let whole = tokio::task::spawn_blocking(move || incoming.accept(&header, &data))
                    .await
                    .map_err(|e| ChunkError::Io(std::io::Error::other(e)))??;
                let Some(snapshot) = whole else {
                    return reply(&Ok::<_, RaftError>(None::<()>));
                };
                let path = snapshot.path.clone();
                let installed = self
                    .raft
                    .install_full_snapshot(
                        chunk.vote,
                        Snapshot {
                            meta: chunk.meta,
                            snapshot,
                        },
                    )
                    .await
                    .map(Some)
                    .map_err(RaftError::<openraft::errors::Infallible>::Fatal);
                // Installing moves the file; one refused (an older vote) is dropped.
                let _ = std::fs::remove_file(path);
                reply(&installed)
            }
            RaftRpc::ReadIndex => {
                // A follower's catch-up read. While the leader's lease is current, the
                // index it names needs no heartbeat round: no other leader can have
                // acknowledged a write since (as for the leader's own reads).
                let read = match self.raft.ensure_linearizable(ReadPolicy::LeaseRead).await {
                    Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) => {
                        self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await
                    }
                    other => other,
                };
                reply(&read)
            }
        }
    }
}

fn reply<T, E>(result: &Result<T, RaftError<E>>) -> Result<Vec<u8>, RaftServiceError>
where
    Result<T, RaftError<E>>: serde::Serialize,
{
    serde_json::to_vec(result).map_err(RaftServiceError::Encode)
}
