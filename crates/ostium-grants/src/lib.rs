//! The grant flows, each run by an actix actor, and the extension points they call.
//!
//! A grant is a [`TokenGrant`]: its grant type, parsing its parameters from the form,
//! and issuing from a [`GrantContext`] for an authenticated client. The
//! [`GrantRegistry`], built once with the server, says which grants exist; each HTTP
//! worker's [`GrantSupervisor`] starts one [`GrantActor`] per registered grant (and
//! one for revocation) under actix's `Supervisor`, which restarts an actor that
//! stops, and routes each token request to the actor owning its grant type. A grant
//! does three things, in order: validate the request with `ostium-protocol`'s
//! rules, change the replicated state through its storage API if the grant has any,
//! and mint. Grants get narrow dependencies through the context, never the server.
//!
//! Layout:
//! - [`grant`]: the [`TokenGrant`] trait.
//! - [`registry`]: the [`GrantRegistry`].
//! - [`actor`]: [`GrantActor`], the one actor shell, and the [`Flow`] it runs.
//! - [`supervisor`]: starting, restarting and routing on one worker.
//! - [`requester`]: who sent a request: the client and its address.
//! - [`context`]: what grants share: resource catalog, token store, minting,
//!   metrics, clock.
//! - [`client_credentials`], [`password`], [`refresh`], [`authorization_code`]: one
//!   file per grant.
//! - [`authorize`]: the authorization endpoint's flow (sign in, consent, respond).
//! - [`identity`]: the user's claims and ID tokens; [`userinfo`] (OpenID Connect).
//! - [`revocation`]: the revocation flow (RFC 7009); [`introspection`] (RFC 7662)
//!   and [`token_lookup`], which both use to tell what a presented token is.
//! - [`login`]: one password login, for the password grant and the login page.
//! - [`login_guard`]: brute-force protection for password logins.
//! - [`password_validator`]: the `ResourceOwnerPasswordValidator` extension point and
//!   the built-in Argon2id validator over configured users.
//! - [`users`]: the `UserStore` extension point (does a subject still exist?) and
//!   the configured users.
//! - [`clock`]: the time grants go by.
//! - [`metrics`]: tokens issued, failures and restarts, for Prometheus.

pub mod actor;
pub mod authorization_code;
pub mod authorize;
pub mod client_credentials;
pub mod clock;
pub mod context;
pub mod grant;
pub mod identity;
pub mod introspection;
pub mod login;
pub mod login_guard;
pub mod metrics;
pub mod password;
pub mod password_validator;
pub mod refresh;
pub mod registry;
pub mod requester;
pub mod revocation;
pub mod supervisor;
pub mod token_lookup;
pub mod userinfo;
pub mod users;

#[cfg(test)]
mod testing;

pub use actor::{Flow, GrantActor};
pub use authorize::{
    Authorization, AuthorizeActor, AuthorizeFlow, AuthorizeOutcome, ConsentAnswer,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use context::GrantContext;
pub use grant::TokenGrant;
pub use login_guard::{LoginGuard, LoginLimits};
pub use metrics::{GrantMetrics, Label};
pub use password_validator::{
    Argon2PasswordValidator, ResourceOwnerPasswordValidator, User, ValidatedUser, ValidatorError,
};
pub use registry::{GrantRegistry, RegistryError};
pub use requester::{Requester, network_of};
pub use supervisor::GrantSupervisor;
pub use users::{Claims, ConfiguredUsers, UserStore, UserStoreError};
