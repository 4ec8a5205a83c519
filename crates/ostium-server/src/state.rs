//! What every HTTP worker shares: clients, keys, metadata documents and metrics.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::web::Bytes;
use ostium_grants::{GrantContext, ResourceOwnerPasswordValidator};
use ostium_protocol::{Client, SecretDigest};
use ostium_tokens::KeyRing;
use prometheus_client::registry::Registry;

use crate::http_metrics::HttpMetrics;

pub(crate) struct Shared {
    pub issuer: String,
    pub clients: HashMap<String, Arc<Client>>,
    /// API resources that may introspect, by name, with their secrets.
    pub api_resources: HashMap<String, Vec<SecretDigest>>,
    pub grant_context: Arc<GrantContext>,
    pub password_validator: Arc<dyn ResourceOwnerPasswordValidator>,
    pub keys: Arc<KeyRing>,
    /// `/.well-known/openid-configuration`, rendered once at start.
    pub openid_configuration: Bytes,
    /// `/.well-known/oauth-authorization-server` (RFC 8414), rendered once at start.
    pub authorization_server_metadata: Bytes,
    pub registry: Registry,
    pub http_metrics: HttpMetrics,
    pub max_body_bytes: usize,
    pub node: NodeStatus,
}

/// What readiness reports about this node's place in the cluster.
pub(crate) enum NodeStatus {
    Core(ostium_state::ReplicatedState),
    Edge(Arc<ostium_state::EdgeState>),
}
