//! Ostium's replicated state (DESIGN §4): the commands that change it, the
//! deterministic state machine that applies them, openraft with its log and snapshots
//! in a redb database in the data directory, and the authenticated Raft network.
//! Every change is one [`StateCommand`] in the Raft log; `apply` checks and changes in
//! one step, so invariants such as "a refresh token is redeemed at most once" hold
//! across the cluster. A [`StateNode`] is one member of the cluster.
//!
//! Layout:
//! - [`digest`]: SHA-256 digests of opaque handles, the only form a token is stored in.
//! - [`record`]: what is remembered about each refresh-token family and reference token.
//! - [`command`]: [`StateCommand`], the whole write vocabulary, and [`StateResponse`].
//! - [`state`]: [`State`] and its pure `apply`, plus the reads.
//! - [`typ`]: the openraft type configuration; openraft types are named through it.
//! - [`store`]: the Raft log and the state machine with snapshots, on redb.
//! - [`network`]: Raft RPCs over HTTP, signed with the cluster secret; the client
//!   for openraft and the server side for whatever HTTP server hosts the Raft listener.
//! - [`node`]: [`StateNode`]: start, propose, read, membership, status, shutdown.
//! - [`replicated`]: [`ReplicatedState`]: propose from any node (forwarding to the
//!   leader) and read after catching up.
//! - [`cache`]: [`HotCache`], the Redis hot cache in front of the state: copies of
//!   records, the denials, and the watermark; and the [`cache::CacheWriter`] that
//!   cores write through on apply.
//! - [`edge`]: [`EdgeState`]: an edge node's reads (hot cache, else a core) and
//!   forwarded writes.

pub mod cache;
pub mod command;
pub mod digest;
pub mod edge;
pub mod network;
pub mod node;
pub mod record;
pub mod replicated;
pub mod state;
pub mod store;
pub mod typ;

pub use cache::{CacheConfig, CacheError, CacheStats, HotCache, Watermark};
pub use command::{StateCommand, StateResponse};
pub use digest::TokenDigest;
pub use edge::EdgeState;
pub use network::{ClusterSecret, RaftService};
pub use node::{StateNode, StateNodeConfig};
pub use record::{
    Denial, FamilyId, ReferenceTokenRecord, RefreshFamily, RefreshTokenRecord, SigningKeyRecord,
    TokenExpiration, TokenFacts, TokenUsage,
};
pub use replicated::{ReplicatedState, Unavailable};
pub use state::State;
