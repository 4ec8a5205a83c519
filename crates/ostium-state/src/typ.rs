//! Ostium's openraft type configuration and the openraft types the rest of the crate
//! names. Every openraft type used outside `store/`, `network/` and `node.rs` goes
//! through here, so that moving off the pinned 0.10 alpha is a change in few places.

use crate::command::{StateCommand, StateResponse};

openraft::declare_raft_types!(
    /// Raft types for Ostium's replicated state: log entries carry a
    /// [`StateCommand`]; a node is known to the others by its Raft address.
    pub TypeConfig:
        D = StateCommand,
        R = StateResponse,
        NodeId = u64,
        Node = openraft::BasicNode,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A node of the cluster, as Raft knows it: its id and the address of its Raft listener.
pub type NodeId = u64;
pub type RaftNode = openraft::BasicNode;

pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
/// A snapshot is a file of the state's records (`store::snapshot` has the format).
pub type SnapshotData = crate::store::SnapshotFile;
pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;
pub type RaftMetrics = openraft::RaftMetrics<TypeConfig>;
pub type RaftServerMetrics = openraft::metrics::RaftServerMetrics<TypeConfig>;

pub type RPCError = openraft::errors::RPCError<TypeConfig>;
pub type RaftError<E = openraft::errors::Infallible> = openraft::errors::RaftError<TypeConfig, E>;
pub type ClientWriteError = openraft::errors::ClientWriteError<TypeConfig>;
pub type ForwardToLeader = openraft::errors::ForwardToLeader<TypeConfig>;
pub type Fatal = openraft::errors::Fatal<TypeConfig>;
pub type QuorumNotEnough = openraft::errors::QuorumNotEnough<TypeConfig>;
pub type InitializeError = openraft::errors::InitializeError<TypeConfig>;

/// The Raft handle of a node.
pub type Raft = openraft::Raft<TypeConfig, crate::store::StateMachineStore>;
pub use openraft::ServerState;
