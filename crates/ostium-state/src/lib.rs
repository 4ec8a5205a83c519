//! Ostium's replicated state (docs/architecture.md §4): the tokens that must never be
//! lost or double-spent, kept by openraft in the data directory (the log in one redb
//! database, the records in the tables of another, snapshots as files), and the
//! Redis hot cache in front of it. Every change
//! is one [`StateCommand`] in the Raft log; `apply` checks and changes in one step, so
//! invariants such as "a refresh token is redeemed at most once" hold across the
//! cluster. The rest of Ostium uses it through [`TokenStore`], a storage API per flow
//! that is the same on core nodes, edge nodes and in tests.
//!
//! Layout:
//! - [`token_store`]: [`TokenStore`], the storage API per flow (refresh tokens,
//!   reference tokens, the deny list, signing keys, authorization codes, consents),
//!   over a core, an edge or memory.
//! - [`error`]: [`Unavailable`] and [`StateError`], with their causes.
//! - [`digest`]: SHA-256 digests of opaque handles, the only form a token is stored in.
//! - [`record`]: what is remembered about each refresh-token family, reference token,
//!   authorization code and consent.
//! - [`command`]: [`StateCommand`], the whole write vocabulary, and [`StateResponse`].
//! - [`key_lifecycle`]: which signing key is next, signs, retires or is withdrawn at
//!   a given time.
//! - [`state`]: [`State`] over redb tables and its pure `apply`, one file per
//!   aggregate.
//! - [`typ`]: the openraft type configuration; openraft types are named through it.
//! - [`store`]: the Raft log, the state's records and the state machine over them,
//!   and the snapshot format.
//! - [`network`]: Raft RPCs over HTTP, signed with the cluster secret; the client
//!   for openraft and the server side for whatever HTTP server hosts the Raft listener.
//! - [`node`]: [`StateNode`]: start, propose, read, membership, status, shutdown.
//! - [`leader_contact`]: when this node last heard from a leader, so that status
//!   never names one that has gone silent; [`leader_watch`]: one log line per
//!   change of leader.
//! - [`replicated`]: [`ReplicatedState`]: a core's proposals (forwarded to the
//!   leader) and reads after catching up.
//! - [`edge`]: [`EdgeState`]: an edge node's reads (hot cache, else a core) and
//!   forwarded writes.
//! - [`patience`]: how long to wait for a leader, and the one retry loop.
//! - [`cache`]: [`HotCache`], the Redis hot cache in front of the state: copies of
//!   records, the denials, and the watermark; and the [`cache::CacheWriter`] that
//!   cores write through on apply.
//! - [`trace`]: a request's trace carried to the leader (`traceparent`) and into the
//!   write-through of what its command changed.

pub mod cache;
pub mod command;
pub mod digest;
pub mod edge;
pub mod error;
pub mod key_lifecycle;
pub mod leader_contact;
pub mod leader_watch;
pub mod network;
pub mod node;
pub mod patience;
pub mod record;
pub mod replicated;
pub mod snapshot_schedule;
pub mod state;
pub mod store;
pub mod token_store;
pub mod trace;
pub mod typ;

pub use cache::{
    CacheConfig, CacheError, CacheOp, CacheStats, EvictionCheck, HotCache, UnsafeCache, Watermark,
};
pub use command::{StateCommand, StateResponse};
pub use digest::TokenDigest;
pub use edge::EdgeState;
pub use error::{AttemptError, StateError, Unavailable};
pub use network::{ClusterSecret, RaftService};
pub use node::{StateNode, StateNodeConfig};
pub use patience::Patience;
pub use record::{
    AuthorizationCodeRecord, CodeExchange, ConsentRecord, Denial, FamilyId, ReferenceTokenRecord,
    RefreshFamily, RefreshTokenRecord, SigningKeyRecord, TokenExpiration, TokenFacts, TokenUsage,
};
pub use replicated::ReplicatedState;
pub use state::State;
pub use token_store::{CoreView, NodeStatus, TokenStore};
