//! Ostium's replicated state (DESIGN §4): the commands that change it, the
//! deterministic state machine that applies them, and (to come) openraft with its log
//! and snapshots in redb and the Raft network.
//!
//! Layout:
//! - [`digest`]: SHA-256 digests of opaque handles, the only form a token is stored in.
//! - [`record`]: what is remembered about each refresh-token family and reference token.
//! - [`command`]: [`StateCommand`], the whole write vocabulary, and [`StateResponse`].
//! - [`state`]: [`State`] and its pure `apply`.

pub mod command;
pub mod digest;
pub mod record;
pub mod state;
pub mod store;
pub mod typ;

pub use command::{StateCommand, StateResponse};
pub use digest::TokenDigest;
pub use record::{
    FamilyId, ReferenceTokenRecord, RefreshFamily, RefreshTokenRecord, TokenExpiration, TokenUsage,
};
pub use state::State;
