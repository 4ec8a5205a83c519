//! Putting a node together and serving HTTP until told to stop.

use std::future::Future;
use std::sync::Arc;

use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, dev::Service, web};
use futures_util::future::{Either, join, select};
use ostium_grants::password::PasswordGrant;
use ostium_grants::password_validator::UserError;
use ostium_grants::{
    Argon2PasswordValidator, ConfiguredUsers, GrantRegistry, GrantSupervisor, RegistryError,
    ResourceOwnerPasswordValidator, TokenGrant, UserStore,
};

use crate::config::Config;
use crate::connection_limits::{ConnectionLimits, refuse_over_limit};
use crate::routes;
use crate::state::Shared;
use crate::state_link::{StateLink, StateLinkError};

/// Password checks allowed to wait for a free core before logins are refused.
const MAX_WAITING_LOGINS: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("users")]
    Users(#[source] UserError),
    #[error("grants")]
    Grants(#[from] RegistryError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP server failed")]
    Http(#[source] std::io::Error),
    #[error("replicated state")]
    State(#[from] StateLinkError),
}

/// A node being put together: its configuration and the grants it will serve.
/// Nothing runs until [`ServerBuilder::build`].
pub struct ServerBuilder {
    config: Config,
    grants: GrantRegistry,
    users: Arc<dyn UserStore>,
    request_spans: bool,
}

/// A node ready to serve.
pub struct Server {
    config: Config,
    shared: web::Data<Shared>,
    link: StateLink,
    request_spans: bool,
}

impl Server {
    /// Starts putting a node together from its configuration, with the built-in
    /// grants; password logins are checked by the Argon2id validator over the
    /// configured users.
    pub fn builder(config: Config) -> Result<ServerBuilder, ServerError> {
        let users: Vec<_> = config.users.iter().map(|u| u.user.clone()).collect();
        let validator = Argon2PasswordValidator::new(&users, cpus(), MAX_WAITING_LOGINS)
            .map_err(ServerError::Users)?;
        Ok(ServerBuilder {
            grants: GrantRegistry::standard(Arc::new(validator)),
            users: Arc::new(ConfiguredUsers::new(&users)),
            config,
            request_spans: false,
        })
    }

    /// Serves until `shutdown` completes, then drains in-flight requests (up to 10 s).
    /// Call [`Server::shutdown`] afterwards, outside the async runtime.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let shared = self.shared.clone();
        let request_spans = self.request_spans;
        let workers = self.config.server.workers.unwrap_or_else(cpus);
        let addr = self.config.server.listen;
        let limits = ConnectionLimits::new(self.config.server.max_connections_per_address);
        let server = HttpServer::new(move || {
            // One supervisor per worker: requests stay on the worker's thread.
            let grants = GrantSupervisor::start(&shared.grants, shared.grant_context.clone());
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
                .wrap(from_fn(refuse_over_limit))
                .configure(routes::configure)
        })
        .on_connect(move |connection, data| limits.on_connect(connection, data))
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

    /// Stops the replicated state once the HTTP server has stopped.
    pub fn shutdown(self) {
        self.link.shutdown();
    }
}

impl ServerBuilder {
    /// Checks resource owner passwords with `validator` instead of the built-in
    /// Argon2id validator over the configured users.
    pub fn with_password_validator(
        mut self,
        validator: Arc<dyn ResourceOwnerPasswordValidator>,
    ) -> Result<Self, ServerError> {
        self.grants.replace(PasswordGrant::new(validator))?;
        Ok(self)
    }

    /// Asks `users` whether a user still exists before a refresh token is redeemed,
    /// instead of the configured users (IdentityServer's profile service).
    pub fn with_user_store(mut self, users: Arc<dyn UserStore>) -> Self {
        self.users = users;
        self
    }

    /// Serves an extension grant (RFC 6749 §4.5) at the token endpoint, for clients
    /// that list its grant type.
    pub fn with_grant<G: TokenGrant>(mut self, grant: G) -> Result<Self, ServerError> {
        self.grants.register(grant)?;
        Ok(self)
    }

    /// Opens a tracing span for every request (W3C trace context continued from
    /// `traceparent`). Worth it only when traces are exported: building the span
    /// costs several percent of a core at full load.
    pub fn with_request_spans(mut self, enabled: bool) -> Self {
        self.request_spans = enabled;
        self
    }

    /// What an operator should know about the configuration with these grants: the
    /// configuration's own warnings, and grant types clients are given that no
    /// registered grant serves (requests for them get `unsupported_grant_type`).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = self.config.warnings.clone();
        warnings.extend(
            self.config
                .unserved_grant_types(|grant| self.grants.serves(grant)),
        );
        warnings
    }

    /// Joins (or forms) the cluster, opens (or creates) the signing keys, and
    /// prepares everything the workers share.
    pub fn build(self) -> Result<Server, ServerError> {
        let Self {
            config,
            grants,
            users,
            request_spans,
        } = self;
        let link = StateLink::start(&config)?;
        let keys = Arc::new(link.signing_keys(config.signing_algorithm)?);
        let shared = web::Data::new(Shared::new(
            &config,
            grants,
            users,
            link.store().clone(),
            keys,
            link.secret(),
        ));
        Ok(Server {
            config,
            shared,
            link,
            request_spans,
        })
    }
}

/// CPUs this process may run on (respects `taskset` and cgroup limits).
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
