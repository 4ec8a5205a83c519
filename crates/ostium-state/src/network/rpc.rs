//! What travels between nodes: the Raft RPCs, their names (the last segment of
//! `/raft/{append,vote,pre-vote,snapshot,read-index}`), and how their bodies are framed.
//!
//! Requests and replies are JSON (a reply is `Result<reply, RaftError>`), except that a
//! snapshot's data is sent as raw bytes after a length-prefixed JSON header instead of
//! as a JSON array of numbers.

use serde::{Deserialize, Serialize};

use crate::typ::{SnapshotData, SnapshotMeta, Vote};

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

#[derive(Serialize, Deserialize)]
struct SnapshotHeader {
    vote: Vote,
    meta: SnapshotMeta,
}

/// `u32` big-endian length of the JSON header, the header, then the snapshot data.
pub fn encode_snapshot(
    vote: &Vote,
    meta: &SnapshotMeta,
    data: &[u8],
) -> Result<Vec<u8>, WireError> {
    let header = serde_json::to_vec(&SnapshotHeader {
        vote: *vote,
        meta: meta.clone(),
    })?;
    let len = u32::try_from(header.len()).map_err(|_| WireError::Truncated)?;
    let mut body = Vec::with_capacity(4 + header.len() + data.len());
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(&header);
    body.extend_from_slice(data);
    Ok(body)
}

pub fn decode_snapshot(body: &[u8]) -> Result<(Vote, SnapshotMeta, SnapshotData), WireError> {
    let (len, rest) = body.split_first_chunk::<4>().ok_or(WireError::Truncated)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| WireError::Truncated)?;
    if rest.len() < len {
        return Err(WireError::Truncated);
    }
    let (header, data) = rest.split_at(len);
    let header: SnapshotHeader = serde_json::from_slice(header)?;
    Ok((header.vote, header.meta, data.to_vec()))
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
    fn snapshot_framing_round_trips_and_refuses_truncation() {
        let vote = Vote::new(3, 2);
        let meta = SnapshotMeta {
            last_log_id: Some(log_id::<TypeConfig>(3, 2, 40)),
            last_membership: StoredMembership::default(),
        };
        let data = b"{\"state\":true}".to_vec();
        let body = encode_snapshot(&vote, &meta, &data).unwrap();
        let (v, m, d) = decode_snapshot(&body).unwrap();
        assert_eq!((v, m, d), (vote, meta, data));
        assert!(matches!(
            decode_snapshot(&body[..3]),
            Err(WireError::Truncated)
        ));
        assert!(matches!(
            decode_snapshot(&body[..10]),
            Err(WireError::Truncated)
        ));
    }
}
