//! The HTTP face of Ostium: endpoints, client authentication, configuration and
//! operations (health, readiness, metrics).
//!
//! This is the only crate that sees HTTP. A handler reads the request, turns it
//! into `ostium-protocol` types, authenticates the client, and hands the grant to
//! the worker's `GrantSupervisor`; it never decides an OAuth rule itself. All routes
//! are registered in [`routes::configure`].
//!
//! Layout:
//! - [`cluster_admin`]: `ostium cluster …` against a running cluster;
//!   [`cluster_status`]: what `cluster status` prints, from every node's view.
//! - [`config`]: the TOML file, validated with errors naming file, entry and field.
//! - [`server`]: putting a node together ([`ServerBuilder`]: the configuration and
//!   the grants it serves) and running the HTTP server; [`reload`]: a new
//!   configuration file while it serves; `directory`: the clients, scopes,
//!   resources and users a reload swaps, with their fingerprint.
//! - `state_link`: this node's link to the replicated state, core or edge, on a
//!   runtime of its own.
//! - [`signing_keys`]: opening (or adding) the cluster's signing keys at start, and
//!   the keeper that loads new, retired and withdrawn keys and rotates them;
//!   [`key_admin`]: `ostium keys …`.
//! - `routes`: `token` (the token endpoint), `discovery` (metadata and JWKS),
//!   `ops` (health, readiness, Prometheus), `authorize` and the pages (sign-in,
//!   consent, sign-out; askama templates in `templates/`), `userinfo`.
//! - `cors`: CORS on the token, userinfo, discovery and JWKS endpoints for the
//!   clients' `allowed_cors_origins`.
//! - `http_metrics`: request counts and latency per route (Prometheus, and the
//!   semantic conventions' `http.server.request.duration` over OTLP);
//!   `request_span`: the span of each request; `cache_metrics`: the hot cache's
//!   counters; `raft_metrics`: a core's Raft view.
//! - [`tls`]: the public port's certificate, reloaded when its files change;
//!   `connection_limits`: connections per client address; [`client_address`]:
//!   which address a request came from, behind trusted reverse proxies too.

mod cache_metrics;
pub mod client_address;
pub mod cluster_admin;
pub mod cluster_status;
pub mod config;
mod connection_limits;
mod cors;
mod directory;
mod http_metrics;
pub mod key_admin;
mod raft_metrics;
pub mod reload;
mod request_span;
mod routes;
pub mod server;
pub mod signing_keys;
mod state;
mod state_link;
pub mod tls;

pub use config::{Config, ConfigError, SecretPolicy};
pub use routes::DevCallback;
pub use server::{Server, ServerBuilder, ServerError};
