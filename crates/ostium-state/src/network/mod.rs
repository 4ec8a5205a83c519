//! The Raft network (docs/architecture.md §4 "Network"): a separate listener for Raft
//! traffic, authenticated with the cluster secret and never on the public port.
//!
//! - [`auth`]: signing and verifying requests with the cluster secret.
//! - [`rpc`]: the RPCs and how their bodies are framed.
//! - [`client`]: openraft's `RaftNetworkV2` over reqwest, one client per peer, and
//!   the read-index request a follower sends for a linearizable read.
//! - [`cluster`]: writes forwarded to the leader, and the operator's status and
//!   membership commands, on the same listener.
//! - [`incoming_snapshot`]: a snapshot arriving in chunks, written to a file as it
//!   comes.
//! - [`fault`]: test-only fault injection (the `fault-injection` feature): cut this
//!   node off from its cluster and heal it.
//! - [`listener`]: the HTTP server on the Raft address, serving both.
//! - [`peer_health`]: whether each peer answers, logged once per change.
//! - [`service`]: the serving side, independent of any HTTP server: it takes a
//!   request's RPC name, body and auth header and returns the reply body.

pub mod auth;
pub mod client;
pub mod cluster;
pub mod fault;
pub mod incoming_snapshot;
pub mod listener;
pub mod peer_health;
pub mod rpc;
pub mod service;

pub use auth::{AuthError, CLUSTER_AUTH_HEADER, ClusterSecret, ClusterSecretError};
pub use client::{PeerClient, RaftNetwork};
pub use cluster::{ClusterClient, ClusterReply, ClusterService};
pub use rpc::RaftRpc;
pub use service::{RaftService, RaftServiceError};
