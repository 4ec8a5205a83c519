//! Building a node from its configuration and serving HTTP until told to stop.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use actix_web::middleware::{Condition, DefaultHeaders};
use actix_web::{App, HttpServer, dev::Service, web};
use futures_util::future::{Either, join, select};
use ostium_grants::{
    Argon2PasswordValidator, GrantContext, GrantMetrics, GrantSupervisor,
    ResourceOwnerPasswordValidator, TokenState,
};
use ostium_state::HotCache;
use ostium_tokens::handle::RefreshHandles;
use ostium_tokens::{JwtAccessTokens, KeyRing, SigningAlgorithm};
use prometheus_client::registry::Registry;

use crate::cache_metrics::CacheMetrics;
use crate::config::{ClusterSettings, Config, NodeRole};
use crate::edge_link::EdgeLink;
use crate::http_metrics::HttpMetrics;
use crate::replication::{Replication, ReplicationError};
use crate::routes;
use crate::state::{NodeStatus, Shared};

/// Password checks allowed to wait for a free core before logins are refused.
const MAX_WAITING_LOGINS: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("users: {0}")]
    Users(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error(transparent)]
    Replication(#[from] ReplicationError),
}

/// A node ready to serve.
pub struct Server {
    config: Config,
    shared: web::Data<Shared>,
    membership: Membership,
    request_spans: bool,
}

/// How this node takes part in its cluster.
enum Membership {
    /// A Raft member (or a cluster of one).
    Core(Replication),
    /// No log: the hot cache and the cores.
    Edge(EdgeLink),
}

impl Membership {
    fn start(config: &Config) -> Result<Self, ReplicationError> {
        match (&config.cluster, &config.cache) {
            (
                Some(
                    cluster @ ClusterSettings {
                        role: NodeRole::Edge,
                        ..
                    },
                ),
                Some(cache),
            ) => Ok(Self::Edge(EdgeLink::start(cluster, cache)?)),
            _ => Ok(Self::Core(Replication::start(config)?)),
        }
    }

    fn secret(&self) -> &[u8] {
        match self {
            Self::Core(core) => core.secret(),
            Self::Edge(edge) => edge.secret(),
        }
    }

    fn signing_keys(&self, algorithm: SigningAlgorithm) -> Result<KeyRing, ReplicationError> {
        match self {
            Self::Core(core) => core.signing_keys(algorithm),
            Self::Edge(edge) => edge.signing_keys(algorithm),
        }
    }

    fn token_state(&self) -> Arc<dyn TokenState> {
        match self {
            Self::Core(core) => Arc::new(core.state().clone()),
            Self::Edge(edge) => Arc::new(edge.state().clone()),
        }
    }

    /// The hot cache this node reads or writes through, if any.
    fn cache(&self) -> Option<HotCache> {
        match self {
            Self::Core(core) => core.state().node().cache().cloned(),
            Self::Edge(edge) => Some(edge.state().cache().clone()),
        }
    }

    fn status(&self) -> NodeStatus {
        match self {
            Self::Core(core) => NodeStatus::Core(core.state().clone()),
            Self::Edge(edge) => NodeStatus::Edge(edge.state().clone()),
        }
    }

    fn shutdown(self) {
        match self {
            Self::Core(core) => core.shutdown(),
            Self::Edge(edge) => edge.shutdown(),
        }
    }
}

impl Server {
    /// Loads (or creates) the signing keys and prepares everything the workers share,
    /// with the built-in password validator over the configured users.
    pub fn build(config: Config) -> Result<Self, ServerError> {
        let users: Vec<_> = config.users.iter().map(|u| u.user.clone()).collect();
        let validator = Argon2PasswordValidator::new(&users, cpus(), MAX_WAITING_LOGINS)
            .map_err(|e| ServerError::Users(e.to_string()))?;
        Self::with_password_validator(config, Arc::new(validator))
    }

    /// As [`Server::build`], with a custom `ResourceOwnerPasswordValidator`.
    pub fn with_password_validator(
        config: Config,
        password_validator: Arc<dyn ResourceOwnerPasswordValidator>,
    ) -> Result<Self, ServerError> {
        let membership = Membership::start(&config)?;
        let keys = Arc::new(membership.signing_keys(config.signing_algorithm)?);
        let mut registry = Registry::default();
        let metrics = GrantMetrics::default();
        metrics.register(&mut registry);
        let http_metrics = HttpMetrics::new(&mut registry);
        if let Some(cache) = membership.cache() {
            registry.register_collector(Box::new(CacheMetrics(cache)));
        }
        let grant_context = Arc::new(GrantContext {
            catalog: config.catalog.clone(),
            access_tokens: JwtAccessTokens::new(&config.server.issuer, keys.clone()),
            state: membership.token_state(),
            refresh_handles: RefreshHandles::from_cluster_secret(membership.secret()),
            metrics,
        });
        let (openid_configuration, authorization_server_metadata) =
            routes::metadata_documents(&config.server.issuer, &config.catalog);
        let clients: HashMap<_, _> = config
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
        let shared = web::Data::new(Shared {
            issuer: config.server.issuer.clone(),
            clients,
            api_resources,
            grant_context,
            password_validator,
            keys,
            openid_configuration,
            authorization_server_metadata,
            registry,
            http_metrics,
            max_body_bytes: config.server.max_body_bytes,
            node: membership.status(),
        });
        Ok(Self {
            config,
            shared,
            membership,
            request_spans: false,
        })
    }

    /// Opens a tracing span for every request (W3C trace context continued from
    /// `traceparent`). Worth it only when traces are exported: building the span
    /// costs several percent of a core at full load.
    pub fn with_request_spans(mut self, enabled: bool) -> Self {
        self.request_spans = enabled;
        self
    }

    /// Serves until `shutdown` completes, then drains in-flight requests (up to 10 s).
    /// Call [`Server::shutdown`] afterwards, outside the async runtime.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let shared = self.shared.clone();
        let request_spans = self.request_spans;
        let workers = self.config.server.workers.unwrap_or_else(cpus);
        let addr = self.config.server.listen;
        let server = HttpServer::new(move || {
            // One supervisor per worker: requests stay on the worker's thread.
            let grants = GrantSupervisor::start(
                shared.grant_context.clone(),
                shared.password_validator.clone(),
            );
            let http_metrics = shared.http_metrics.clone();
            App::new()
                .app_data(shared.clone())
                .app_data(web::Data::new(grants))
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "no-referrer")),
                )
                .wrap_fn(move |request, service| {
                    let started = std::time::Instant::now();
                    let http_metrics = http_metrics.clone();
                    let response = service.call(request);
                    async move {
                        let response = response.await?;
                        let name = response.request().match_name();
                        let route = routes::PATHS
                            .iter()
                            .find(|path| Some(**path) == name)
                            .copied()
                            .unwrap_or("unmatched");
                        http_metrics.observe(route, response.status().as_u16(), started.elapsed());
                        Ok(response)
                    }
                })
                .wrap(Condition::new(
                    request_spans,
                    tracing_actix_web::TracingLogger::default(),
                ))
                .configure(routes::configure)
        })
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(10)
        .bind(addr)
        .map_err(|source| ServerError::Bind { addr, source })?
        .run();
        tracing::info!(%addr, workers, issuer = %self.config.server.issuer, "serving");
        let handle = server.handle();
        let result = match select(server, Box::pin(shutdown)).await {
            Either::Left((result, _)) => result,
            Either::Right(((), server)) => {
                tracing::info!("shutting down: draining in-flight requests");
                join(server, handle.stop(true)).await.0
            }
        };
        result.map_err(ServerError::Http)
    }
}

impl Server {
    /// Stops the replicated state once the HTTP server has stopped.
    pub fn shutdown(self) {
        self.membership.shutdown();
    }
}

/// CPUs this process may run on (respects `taskset` and cgroup limits).
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
