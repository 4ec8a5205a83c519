//! Putting a node together and serving HTTP until told to stop.

use std::future::Future;
use std::sync::Arc;

use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use futures_util::future::{Either, join, select};
use opentelemetry::metrics::Meter;
use ostium_grants::password::PasswordGrant;
use ostium_grants::password_validator::UserError;
use ostium_grants::{
    Argon2PasswordValidator, ConfiguredUsers, GrantRegistry, GrantSupervisor, RegistryError,
    ResourceOwnerPasswordValidator, TokenGrant, UserStore,
};

use crate::config::Config;
use crate::connection_limits::{ConnectionLimits, refuse_over_limit};
use crate::http_metrics::observe_requests;
use crate::reload::{self, ConfiguredUserStores, ReloadError, Reloaded};
use crate::request_span::RequestSpans;
use crate::routes::{self, DevCallback};
use crate::state::Shared;
use crate::state_link::{StateLink, StateLinkError};
use crate::tls::{ReloadingCertificate, TlsError};

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
    #[error("TLS")]
    Tls(#[from] TlsError),
    #[error(
        "a password validator was plugged in without a user store: the refresh grant \
         would find none of its users in the configuration and refuse every refresh \
         token (call ServerBuilder::with_user_store)"
    )]
    NoUserStore,
}

/// A node being put together: its configuration and the grants it will serve.
/// Nothing runs until [`ServerBuilder::build`].
pub struct ServerBuilder {
    config: Config,
    grants: GrantRegistry,
    /// Checks passwords for the password grant and the login page alike.
    password_validator: Arc<dyn ResourceOwnerPasswordValidator>,
    users: Arc<dyn UserStore>,
    configured: ConfiguredUserStores,
    /// The password grant checks users that the configuration may not list, so the
    /// configured users cannot answer for them at refresh.
    needs_user_store: bool,
    request_spans: bool,
    meter: Option<Meter>,
    tls: Option<Arc<ReloadingCertificate>>,
    dev_callback: Option<DevCallback>,
}

/// A node ready to serve.
pub struct Server {
    config: Config,
    configured: ConfiguredUserStores,
    shared: web::Data<Shared>,
    link: StateLink,
    request_spans: bool,
    tls: Option<Arc<ReloadingCertificate>>,
}

impl Server {
    /// Starts putting a node together from its configuration, with the built-in
    /// grants; password logins are checked by the Argon2id validator over the
    /// configured users. The TLS files, if any, are loaded here, so that
    /// `check-config` finds what would stop the node.
    pub fn builder(config: Config) -> Result<ServerBuilder, ServerError> {
        let users: Vec<_> = config.users.iter().map(|u| u.user.clone()).collect();
        let validator = Arc::new(
            Argon2PasswordValidator::new(&users, cpus(), MAX_WAITING_LOGINS)
                .map_err(ServerError::Users)?,
        );
        let configured = ConfiguredUserStores {
            validator: validator.clone(),
            users: Arc::new(ConfiguredUsers::new(&users)),
        };
        let tls = config
            .server
            .tls
            .as_ref()
            .map(ReloadingCertificate::load)
            .transpose()?;
        Ok(ServerBuilder {
            grants: GrantRegistry::standard(validator.clone()),
            password_validator: validator,
            users: configured.users.clone(),
            configured,
            needs_user_store: false,
            config,
            request_spans: false,
            meter: None,
            tls,
            dev_callback: None,
        })
    }

    /// Serves until `shutdown` completes, then drains in-flight requests (up to 10 s).
    /// Call [`Server::shutdown`] afterwards, outside the async runtime.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let public = self.public_server()?;
        let management = self.management_server()?;
        let reloading = self.tls.as_ref().map(|certificate| certificate.watch());
        let management = management.map(|server| {
            let handle = server.handle();
            (handle, actix_web::rt::spawn(server))
        });
        let handle = public.handle();
        let result = match select(public, Box::pin(shutdown)).await {
            Either::Left((result, _)) => result,
            Either::Right(((), server)) => {
                tracing::info!("shutting down: draining in-flight requests");
                join(server, handle.stop(true)).await.0
            }
        };
        // The management listener answers probes until the public one has drained.
        if let Some((handle, task)) = management {
            handle.stop(true).await;
            if let Ok(Err(e)) = task.await {
                tracing::warn!(error = %e, "management listener stopped with an error");
            }
        }
        if let Some(reloading) = reloading {
            reloading.abort();
        }
        result.map_err(ServerError::Http)
    }

    /// The public listener: the OAuth endpoints (and the operations endpoints unless
    /// a management listener serves them), over TLS when configured.
    fn public_server(&self) -> Result<actix_web::dev::Server, ServerError> {
        let shared = self.shared.clone();
        let request_spans = self.request_spans;
        let workers = self.config.server.workers.unwrap_or_else(cpus);
        let addr = self.config.server.listen;
        let ops_here = self.config.server.management_listen.is_none();
        let limits = ConnectionLimits::new(
            self.config.server.max_connections_per_address,
            self.config.server.trusted_proxies.clone(),
        );
        let server = HttpServer::new(move || {
            // One supervisor per worker: requests stay on the worker's thread.
            let grants = GrantSupervisor::start(&shared.grants, shared.grant_context.clone());
            App::new()
                .app_data(shared.clone())
                .app_data(web::Data::new(grants))
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "no-referrer")),
                )
                .wrap(from_fn(crate::cors::allow_configured_origins))
                .wrap(from_fn(observe_requests))
                .wrap(Condition::new(
                    request_spans,
                    tracing_actix_web::TracingLogger::<RequestSpans>::new(),
                ))
                .wrap(from_fn(refuse_over_limit))
                .configure(|cfg| routes::configure(cfg, ops_here))
        })
        .on_connect(move |connection, data| limits.on_connect(connection, data))
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(10);
        let bind = |source| ServerError::Bind { addr, source };
        let server = match &self.tls {
            Some(certificate) => server.bind_rustls_0_23(addr, certificate.server_config()?),
            None => server.bind(addr),
        }
        .map_err(bind)?
        .run();
        tracing::info!(
            %addr,
            workers,
            tls = self.tls.is_some(),
            issuer = %self.config.server.issuer,
            "serving"
        );
        Ok(server)
    }

    /// The management listener, when configured: `/healthz`, `/readyz` and
    /// `/metrics` only, plain HTTP, one worker.
    fn management_server(&self) -> Result<Option<actix_web::dev::Server>, ServerError> {
        let Some(addr) = self.config.server.management_listen else {
            return Ok(None);
        };
        let shared = self.shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .wrap(from_fn(observe_requests))
                .configure(routes::configure_ops)
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(10)
        .bind(addr)
        .map_err(|source| ServerError::Bind { addr, source })?
        .run();
        tracing::info!(%addr, "serving /metrics, /healthz and /readyz on the management listener");
        Ok(Some(server))
    }

    /// Re-reads clients, scopes, resources and users from `config` (already loaded
    /// and checked) and serves them from now on: see [`crate::reload`]. On an error
    /// nothing has changed.
    pub fn reload(&self, config: &Config) -> Result<Reloaded, ReloadError> {
        reload::reload(&self.config, config, &self.shared, &self.configured)
    }

    /// The fingerprint of the client configuration this node serves now.
    pub fn fingerprint(&self) -> String {
        self.shared.directory.load().fingerprint.clone()
    }

    /// Stops the replicated state once the HTTP server has stopped.
    pub fn shutdown(self) {
        self.link.shutdown();
    }
}

impl ServerBuilder {
    /// Checks resource owner passwords with `validator` instead of the built-in
    /// Argon2id validator over the configured users. Its users live elsewhere, so
    /// `build` then also needs [`Self::with_user_store`] to tell whether they still
    /// exist when their refresh tokens are redeemed.
    pub fn with_password_validator(
        mut self,
        validator: Arc<dyn ResourceOwnerPasswordValidator>,
    ) -> Result<Self, ServerError> {
        self.grants.replace(PasswordGrant::new(validator.clone()))?;
        self.password_validator = validator;
        self.needs_user_store = true;
        Ok(self)
    }

    /// Asks `users` whether a user still exists before a refresh token is redeemed,
    /// instead of the configured users (IdentityServer's profile service).
    pub fn with_user_store(mut self, users: Arc<dyn UserStore>) -> Self {
        self.users = users;
        self.needs_user_store = false;
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

    /// Plays the client for `serve --dev`'s demo web client at `/dev/callback`:
    /// development only, since the page shows the tokens it gets.
    pub fn with_dev_callback(mut self, demo: DevCallback) -> Self {
        self.dev_callback = Some(demo);
        self
    }

    /// Records the HTTP server metric of the semantic conventions
    /// (`http.server.request.duration`) through `meter`, for export over OTLP.
    pub fn with_meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
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
            password_validator,
            users,
            configured,
            needs_user_store,
            request_spans,
            meter,
            tls,
            dev_callback,
        } = self;
        if needs_user_store {
            return Err(ServerError::NoUserStore);
        }
        let mut link = StateLink::start(&config)?;
        let keys = Arc::new(link.signing_keys(config.signing_algorithm, &config.key_rotation)?);
        let mut shared = Shared::new(
            &config,
            grants,
            password_validator,
            users,
            link.store().clone(),
            keys,
            link.secret(),
        );
        link.keep_signing_keys(
            shared.keys.clone(),
            shared.grant_context.access_tokens.clone(),
            config.signing_algorithm,
            config.key_rotation,
        )?;
        if let Some(meter) = &meter {
            shared.http_metrics.export_with(meter);
        }
        shared.dev_callback = dev_callback;
        Ok(Server {
            config,
            configured,
            shared: web::Data::new(shared),
            link,
            request_spans,
            tls,
        })
    }
}

/// CPUs this process may run on (respects `taskset` and cgroup limits).
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use futures_util::future::BoxFuture;
    use ostium_grants::{ConfiguredUsers, ValidatedUser, ValidatorError};

    use super::*;
    use crate::config::SecretPolicy;

    /// A directory of users that the configuration does not list.
    struct Directory;

    impl ResourceOwnerPasswordValidator for Directory {
        fn validate(
            &self,
            _: String,
            _: String,
        ) -> BoxFuture<'static, Result<Option<ValidatedUser>, ValidatorError>> {
            Box::pin(std::future::ready(Ok(None)))
        }
    }

    fn builder() -> ServerBuilder {
        let config = Config::parse(
            "[server]\nissuer = \"https://id.example.com\"\nlisten = \"127.0.0.1:0\"\n\
             data_dir = \"/nonexistent\"\n",
            "test.toml",
            SecretPolicy::DigestsOnly,
        )
        .unwrap();
        Server::builder(config).unwrap()
    }

    /// Refresh tokens must not outlive their users, and the configured users cannot
    /// answer for a directory's: a plugged-in validator needs a store to match.
    #[test]
    fn a_plugged_in_validator_needs_a_user_store() {
        let without_store = builder().with_password_validator(Arc::new(Directory));
        assert!(matches!(
            without_store.unwrap().build(),
            Err(ServerError::NoUserStore)
        ));
        let with_store = builder()
            .with_password_validator(Arc::new(Directory))
            .unwrap()
            .with_user_store(Arc::new(ConfiguredUsers::default()));
        assert!(!with_store.needs_user_store);
    }
}
