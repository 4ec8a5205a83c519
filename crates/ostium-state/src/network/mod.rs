//! The Raft network (DESIGN §4 "Network"): a separate listener for Raft traffic,
//! authenticated with the cluster secret and never on the public port.
//!
//! - [`auth`]: signing and verifying requests with the cluster secret.
//! - [`rpc`]: the RPCs and how their bodies are framed.
//! - [`client`]: openraft's `RaftNetworkV2` over reqwest, one client per peer, and
//!   the read-index request a follower sends for a linearizable read.
//! - [`service`]: the serving side, independent of any HTTP server: it takes a
//!   request's RPC name, body and auth header and returns the reply body.

pub mod auth;
pub mod client;
pub mod rpc;
pub mod service;

pub use auth::{AuthError, CLUSTER_AUTH_HEADER, ClusterSecret, ClusterSecretError};
pub use client::{PeerClient, RaftNetwork};
pub use rpc::RaftRpc;
pub use service::{RaftService, RaftServiceError};
