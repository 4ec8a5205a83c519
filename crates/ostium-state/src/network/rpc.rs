//! What travels between nodes: the Raft RPCs, their names (the last segment of
//! `/raft/{append,vote,pre-vote,snapshot,read-index}`), and how their bodies are framed.
//!
//! Requests and replies are JSON (a reply is `Result<reply, RaftError>`), except that a
//! snapshot travels in chunks, each a request of its own: raw bytes after a
//! length-prefixed JSON header naming the transfer and the chunk's place in it.

use serde::{Deserialize, Serialize};

use crate::typ::{SnapshotMeta, Vote};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaftRpc {
    Append,
    Vote,
    /// Asks whether a vote would be granted, before a node bumps its term (Raft thesis
    /// §9.6), so that a node returning from a partition does not unseat a healthy leader.
    PreVote,
    Snapshot,
    /// A follower asks the leader where a linearizable read must wait for.
    ReadIndex,
}

impl RaftRpc {
    pub const ALL: [RaftRpc; 5] = [
        RaftRpc::Append,
        RaftRpc::Vote,
        RaftRpc::PreVote,
        RaftRpc::Snapshot,
        RaftRpc::ReadIndex,
    ];

    /// The name in the URL path and in the authentication tag.
    pub const fn name(self) -> &'static str {
        match self {
            RaftRpc::Append => "append",
            RaftRpc::Vote => "vote",
            RaftRpc::PreVote => "pre-vote",
            RaftRpc::Snapshot => "snapshot",
            RaftRpc::ReadIndex => "read-index",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rpc| rpc.name() == name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("malformed body: {0}")]
    Json(#[from] serde_json::Error),
    #[error("truncated snapshot body")]
    Truncated,
}

/// What each chunk of a snapshot says of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotChunk {
    pub vote: Vote,
    pub meta: SnapshotMeta,
    /// Tells one sending of a snapshot from another: a chunk at offset 0 starts one.
    pub transfer: u64,
    /// Where in the snapshot file this chunk's bytes go.
    pub offset: u64,
    /// The last chunk: the receiver installs the snapshot and answers for it.
    pub done: bool,
}

/// `u32` big-endian length of the JSON header, the header, then the chunk's bytes.
pub fn encode_snapshot_chunk(chunk: &SnapshotChunk, data: &[u8]) -> Result<Vec<u8>, WireError> {
    let header = serde_json::to_vec(chunk)?;
    let len = u32::try_from(header.len()).map_err(|_| WireError::Truncated)?;
    let mut body = Vec::with_capacity(4 + header.len() + data.len());
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(&header);
    body.extend_from_slice(data);
    Ok(body)
}

pub fn decode_snapshot_chunk(body: &[u8]) -> Result<(SnapshotChunk, &[u8]), WireError> {
    let (len, rest) = body.split_first_chunk::<4>().ok_or(WireError::Truncated)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| WireError::Truncated)?;
    if rest.len() < len {
        return Err(WireError::Truncated);
    }
    let (header, data) = rest.split_at(len);
    Ok((serde_json::from_slice(header)?, data))
}

#[cfg(test)]
mod tests {
    use openraft::testing::log_id;

    use super::*;
    use crate::typ::{StoredMembership, TypeConfig};

    #[test]
    fn rpc_names_round_trip() {
        for rpc in RaftRpc::ALL {
            assert_eq!(RaftRpc::from_name(rpc.name()), Some(rpc));
        }
        assert_eq!(RaftRpc::from_name("install"), None);
    }

    #[test]
    fn snapshot_chunk_framing_round_trips_and_refuses_truncation() {
        let chunk = SnapshotChunk {
            vote: Vote::new(3, 2),
            meta: SnapshotMeta {
                last_log_id: Some(log_id::<TypeConfig>(3, 2, 40)),
                last_membership: StoredMembership::default(),
            },
            transfer: 7,
            offset: 4096,
            done: true,
        };
        let data = b"records".to_vec();
        let body = encode_snapshot_chunk(&chunk, &data).unwrap();
        let (c, d) = decode_snapshot_chunk(&body).unwrap();
        assert_eq!((c, d), (chunk, data.as_slice()));
        assert!(matches!(
            decode_snapshot_chunk(&body[..3]),
            Err(WireError::Truncated)
        ));
        assert!(matches!(
            decode_snapshot_chunk(&body[..10]),
            Err(WireError::Truncated)
        ));
    }
}
