//! The HTTP face of Ostium: endpoints, client authentication, configuration and
//! operations (health, readiness, metrics).
//!
//! This is the only crate that sees HTTP. A handler reads the request, turns it
//! into `ostium-protocol` types, authenticates the client, and hands the grant to
//! the worker's `GrantSupervisor`; it never decides an OAuth rule itself. All routes
//! are registered in [`routes::configure`].
//!
//! Layout:
//! - [`cluster_admin`]: `ostium cluster …` against a running node.
//! - [`config`]: the TOML file, validated with errors naming file, entry and field.
//! - [`server`]: building the shared state and running the HTTP server.
//! - `replication`: a core node's Raft node, on a runtime of its own.
//! - `edge_link`: an edge node's hot cache and calls to the cores, instead.
//! - `signing_keys`: opening (or adding) the cluster's signing keys at start.
//! - `routes`: `token` (the token endpoint), `discovery` (metadata and JWKS),
//!   `ops` (health, readiness, Prometheus).
//! - `http_metrics`: request counts and latency per route; `cache_metrics`: the hot
//!   cache's counters.

mod cache_metrics;
pub mod cluster_admin;
pub mod config;
mod edge_link;
mod http_metrics;
mod replication;
mod routes;
pub mod server;
mod signing_keys;
mod state;

pub use config::{Config, ConfigError, SecretPolicy};
pub use server::{Server, ServerError};
