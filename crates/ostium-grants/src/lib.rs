//! The grant flows, each an actix actor, and the extension points they call.
//!
//! A [`GrantSupervisor`] starts one actor per grant type under actix's `Supervisor`,
//! which restarts an actor that stops, and routes each validated token request to
//! the actor owning its grant type. Each actor does three things, in order: validate
//! the request with `ostium-protocol`'s rules, change state if the grant has any, and
//! ask the token strategy to mint. Actors get narrow dependencies through a
//! [`GrantContext`], never the whole server.
//!
//! One supervisor, with its actors, runs on each HTTP worker thread, so a request
//! never crosses threads on its way to its grant and no single actor becomes the
//! bottleneck of a busy node.
//!
//! Layout:
//! - [`context`]: what actors share: resource catalog, token state, minting, metrics.
//! - [`supervisor`]: starting, restarting and routing.
//! - [`client_credentials`], [`password`], [`refresh`]: one actor per grant.
//! - [`revocation`]: `RevocationActor` (RFC 7009); [`introspection`] (RFC 7662) and
//!   [`token_lookup`], which both use to tell what a presented token is.
//! - [`token_state`]: the replicated token state as grants see it.
//! - [`password_validator`]: the `ResourceOwnerPasswordValidator` extension point and
//!   the built-in Argon2id validator over configured users.
//! - [`metrics`]: tokens issued, failures and restarts, for Prometheus.

pub mod client_credentials;
pub mod context;
pub mod introspection;
pub mod metrics;
pub mod password;
pub mod password_validator;
pub mod refresh;
pub mod revocation;
pub mod supervisor;
pub mod token_lookup;
pub mod token_state;

pub use context::GrantContext;
pub use metrics::GrantMetrics;
pub use password_validator::{
    Argon2PasswordValidator, ResourceOwnerPasswordValidator, User, ValidatedUser, ValidatorError,
};
pub use supervisor::GrantSupervisor;
pub use token_state::{InMemoryState, StateUnavailable, TokenState};
