//! What every HTTP worker shares: clients, the grants, keys, metadata documents and
//! metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use ostium_grants::{
    GrantContext, GrantMetrics, GrantRegistry, LoginGuard, SystemClock, UserStore,
};
use ostium_protocol::{Client, SecretDigest};
use ostium_state::TokenStore;
use ostium_tokens::handle::RefreshHandles;
use ostium_tokens::{JwtAccessTokens, KeyRing};
use prometheus_client::registry::Registry;

use crate::cache_metrics::CacheMetrics;
use crate::config::Config;
use crate::http_metrics::HttpMetrics;
use crate::raft_metrics::RaftMetrics;
use crate::routes;

pub(crate) struct Shared {
    pub issuer: String,
    pub clients: HashMap<String, Arc<Client>>,
    /// API resources that may introspect, by name, with their secrets.
    pub api_resources: HashMap<String, Vec<SecretDigest>>,
    pub grant_context: Arc<GrantContext>,
    /// Each worker starts its grant actors from it.
    pub grants: GrantRegistry,
    pub keys: Arc<KeyRing>,
    /// `/.well-known/openid-configuration`, rendered once at start.
    pub openid_configuration: Bytes,
    /// `/.well-known/oauth-authorization-server` (RFC 8414), rendered once at start.
    pub authorization_server_metadata: Bytes,
    pub metrics: Registry,
    pub http_metrics: HttpMetrics,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
}

impl Shared {
    /// Everything the workers share, for `config` with `grants` and `users` over
    /// `store`, signing with `keys`; `secret` is the cluster secret other keys derive
    /// from.
    pub fn new(
        config: &Config,
        grants: GrantRegistry,
        users: Arc<dyn UserStore>,
        store: TokenStore,
        keys: Arc<KeyRing>,
        secret: &[u8],
    ) -> Self {
        let mut metrics = Registry::default();
        let grant_metrics = GrantMetrics::default();
        grant_metrics.register(&mut metrics);
        let grant_types: Vec<&str> = grants.grant_types().map(|g| g.name()).collect();
        let allowed = config.clients.iter().flat_map(|client| {
            grants
                .grant_types()
                .filter(|grant| client.allows(grant))
                .map(|grant| (grant.name(), client.client_id.as_str()))
        });
        let actors: Vec<&str> = grant_types.iter().copied().chain(["revocation"]).collect();
        grant_metrics.prepare(&grant_types, allowed, &actors);
        let http_metrics = HttpMetrics::new(&mut metrics);
        if let Some(cache) = store.hot_cache() {
            metrics.register_collector(Box::new(CacheMetrics(cache.clone())));
        }
        metrics.register_collector(Box::new(RaftMetrics(store.clone())));
        let grant_context = Arc::new(GrantContext {
            catalog: config.catalog.clone(),
            access_tokens: JwtAccessTokens::new(&config.server.issuer, keys.clone()),
            store,
            refresh_handles: RefreshHandles::from_cluster_secret(secret),
            metrics: grant_metrics,
            clock: Arc::new(SystemClock),
            users,
            logins: LoginGuard::new(config.login),
        });
        let (openid_configuration, authorization_server_metadata) =
            routes::metadata_documents(&config.server.issuer, &config.catalog, &grants);
        let clients = config
            .clients
            .iter()
            .map(|c| (c.client_id.clone(), Arc::new(c.clone())))
            .collect();
        let api_resources = config
            .api_resources
            .iter()
            .filter(|r| !r.api_secrets.is_empty())
            .map(|r| (r.name.clone(), r.api_secrets.clone()))
            .collect();
        Self {
            issuer: config.server.issuer.clone(),
            clients,
            api_resources,
            grant_context,
            grants,
            keys,
            openid_configuration,
            authorization_server_metadata,
            metrics,
            http_metrics,
            max_body_bytes: config.server.max_body_bytes,
            body_timeout: config.server.body_timeout,
        }
    }
}
