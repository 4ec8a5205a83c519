//! What every HTTP worker shares: the directory of clients and resources, the
//! grants, keys and metrics.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ostium_grants::{
    GrantContext, GrantMetrics, GrantRegistry, LoginGuard, ResourceOwnerPasswordValidator,
    SystemClock, UserStore,
};
use ostium_protocol::Client;
use ostium_state::TokenStore;
use ostium_tokens::handle::RefreshHandles;
use ostium_tokens::{BrowserSessions, IdTokens, JwtAccessTokens, KeyRing};
use prometheus_client::registry::Registry;

use crate::cache_metrics::CacheMetrics;
use crate::client_address::TrustedProxies;
use crate::config::{Config, SessionSettings};
use crate::directory::Directory;
use crate::http_metrics::HttpMetrics;
use crate::raft_metrics::RaftMetrics;

pub(crate) struct Shared {
    pub issuer: String,
    /// Clients, scopes, resources and users: swapped whole by a reload.
    pub directory: ArcSwap<Directory>,
    pub grant_context: Arc<GrantContext>,
    /// Each worker starts its grant actors from it.
    pub grants: GrantRegistry,
    pub keys: Arc<KeyRing>,
    pub metrics: Registry,
    pub http_metrics: HttpMetrics,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    pub trusted_proxies: TrustedProxies,
    /// The login page's password checks (the password grant's validator).
    pub password_validator: Arc<dyn ResourceOwnerPasswordValidator>,
    /// Signs session cookies and CSRF tokens with keys every node derives alike.
    pub sessions: BrowserSessions,
    pub session_settings: SessionSettings,
    /// Cookies are `Secure` when the issuer is https.
    pub secure_cookies: bool,
    /// `serve --dev`'s demo client, whose callback this node plays.
    pub dev_callback: Option<crate::routes::DevCallback>,
}

impl Shared {
    /// Everything the workers share, for `config` with `grants` and `users` over
    /// `store`, signing with `keys`; `secret` is the cluster secret other keys derive
    /// from.
    pub fn new(
        config: &Config,
        grants: GrantRegistry,
        password_validator: Arc<dyn ResourceOwnerPasswordValidator>,
        users: Arc<dyn UserStore>,
        store: TokenStore,
        keys: Arc<KeyRing>,
        secret: &[u8],
    ) -> Self {
        let mut metrics = Registry::default();
        let grant_metrics = GrantMetrics::default();
        grant_metrics.register(&mut metrics);
        prepare_metrics(&grant_metrics, &grants, &config.clients);
        let http_metrics = HttpMetrics::new(&mut metrics);
        if let Some(cache) = store.hot_cache() {
            metrics.register_collector(Box::new(CacheMetrics(cache.clone())));
        }
        metrics.register_collector(Box::new(RaftMetrics(store.clone())));
        let directory = Directory::new(config, &config.server.issuer, &grants);
        store.report_configuration(&directory.fingerprint);
        let grant_context = Arc::new(GrantContext {
            access_tokens: JwtAccessTokens::new(&config.server.issuer, keys.clone()),
            id_tokens: IdTokens::new(&config.server.issuer, keys.clone()),
            store,
            refresh_handles: RefreshHandles::from_cluster_secret(secret),
            metrics: grant_metrics,
            clock: Arc::new(SystemClock),
            users,
            logins: LoginGuard::new(config.login),
        });
        Self {
            issuer: config.server.issuer.clone(),
            directory: ArcSwap::from_pointee(directory),
            grant_context,
            grants,
            keys,
            metrics,
            http_metrics,
            max_body_bytes: config.server.max_body_bytes,
            body_timeout: config.server.body_timeout,
            trusted_proxies: config.server.trusted_proxies.clone(),
            password_validator,
            sessions: BrowserSessions::from_cluster_secret(secret),
            session_settings: config.session,
            secure_cookies: config.server.issuer.starts_with("https:"),
            dev_callback: None,
        }
    }
}

/// Creates the grant series of `clients` (and of every grant and actor) at zero, so
/// that dashboards show them before their first token: at start, and for the
/// clients a reload brings.
pub(crate) fn prepare_metrics(metrics: &GrantMetrics, grants: &GrantRegistry, clients: &[Client]) {
    let grant_types: Vec<&str> = grants.grant_types().map(|g| g.name()).collect();
    let allowed = clients.iter().flat_map(|client| {
        grants
            .grant_types()
            .filter(|grant| client.allows_at_token_endpoint(grant))
            .map(|grant| (grant.name(), client.client_id.as_str()))
    });
    let actors: Vec<&str> = grant_types
        .iter()
        .copied()
        .chain(["revocation", "authorize"])
        .collect();
    metrics.prepare(&grant_types, allowed, &actors);
}
