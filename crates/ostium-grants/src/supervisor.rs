//! `GrantSupervisor`: starts the grant actors, has them restarted when they stop,
//! and routes each token request to the actor that owns its grant type.
//!
//! The supervisor is a routing table over actor addresses rather than an actor of
//! its own: an extra actor here would add a mailbox hop to every token request and
//! restart nothing that actix's `Supervisor` does not already restart. Each actor's
//! mailbox outlives its restarts, so requests sent during a restart are served by
//! the fresh instance.

use std::sync::Arc;

use actix::{Addr, MailboxError, Supervisor};
use ostium_protocol::token_management::TokenQuery;
use ostium_protocol::{Client, OAuthError, TokenRequest, TokenResponse};

use crate::client_credentials::{ClientCredentialsActor, IssueClientCredentials};
use crate::context::GrantContext;
use crate::password::{IssuePassword, PasswordActor};
use crate::password_validator::ResourceOwnerPasswordValidator;
use crate::refresh::{IssueRefresh, RefreshActor};
use crate::revocation::{RevocationActor, Revoke};

/// Asks a grant actor to stop so that its supervisor starts a fresh one.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Restart;

/// Implements what every grant actor shares: the actor itself, restart counting
/// under its supervisor, and the [`Restart`] message.
macro_rules! grant_actor {
    ($actor:ty, $name:literal) => {
        impl ::actix::Actor for $actor {
            type Context = ::actix::Context<Self>;
        }

        impl ::actix::Supervised for $actor {
            fn restarting(&mut self, _: &mut Self::Context) {
                ::tracing::warn!(actor = $name, "grant actor restarting");
                self.context.metrics.actor_restarted($name);
            }
        }

        impl ::actix::Handler<$crate::supervisor::Restart> for $actor {
            type Result = ();

            fn handle(&mut self, _: $crate::supervisor::Restart, ctx: &mut Self::Context) {
                ::actix::ActorContext::stop(ctx);
            }
        }
    };
}
pub(crate) use grant_actor;

/// The grant actors of one worker thread.
#[derive(Clone)]
pub struct GrantSupervisor {
    context: Arc<GrantContext>,
    client_credentials: Addr<ClientCredentialsActor>,
    password: Addr<PasswordActor>,
    refresh: Addr<RefreshActor>,
    revocation: Addr<RevocationActor>,
}

impl GrantSupervisor {
    /// Starts one actor per grant on the current arbiter. Must be called from inside
    /// an actix system (an actix-web worker, or `actix::System`).
    pub fn start(
        context: Arc<GrantContext>,
        password_validator: Arc<dyn ResourceOwnerPasswordValidator>,
    ) -> Self {
        let client_credentials = {
            let context = context.clone();
            Supervisor::start(move |_| ClientCredentialsActor::new(context))
        };
        let password = {
            let context = context.clone();
            Supervisor::start(move |_| PasswordActor::new(context, password_validator))
        };
        let refresh = {
            let context = context.clone();
            Supervisor::start(move |_| RefreshActor::new(context))
        };
        let revocation = {
            let context = context.clone();
            Supervisor::start(move |_| RevocationActor::new(context))
        };
        Self {
            context,
            client_credentials,
            password,
            refresh,
            revocation,
        }
    }

    /// Serves a token request, already parsed for `client` (which
    /// `TokenRequest::parse` checked may use its grant type), by the actor owning
    /// its grant type.
    pub async fn issue(
        &self,
        client: Arc<Client>,
        request: TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let grant_type = request.grant_name();
        let result = match request {
            TokenRequest::ClientCredentials(request) => delivered(
                self.client_credentials
                    .send(IssueClientCredentials {
                        client: client.clone(),
                        request,
                    })
                    .await,
            ),
            TokenRequest::Password(request) => delivered(
                self.password
                    .send(IssuePassword {
                        client: client.clone(),
                        request,
                    })
                    .await,
            ),
            TokenRequest::RefreshToken(request) => delivered(
                self.refresh
                    .send(IssueRefresh {
                        client: client.clone(),
                        request,
                    })
                    .await,
            ),
        };
        if result.is_ok() {
            self.context
                .metrics
                .token_issued(grant_type, &client.client_id);
        }
        result
    }

    /// Revokes a token for the authenticated client holding it (RFC 7009).
    pub async fn revoke(&self, client: Arc<Client>, query: TokenQuery) -> Result<(), OAuthError> {
        self.revocation
            .send(Revoke { client, query })
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "revocation actor unreachable");
                Err(OAuthError::server_error())
            })
    }

    /// The context the actors share, for read-only work such as introspection.
    pub fn context(&self) -> &Arc<GrantContext> {
        &self.context
    }

    /// Restarts every grant actor (each finishes the message it is handling first).
    pub fn restart_all(&self) {
        self.client_credentials.do_send(Restart);
        self.password.do_send(Restart);
        self.refresh.do_send(Restart);
        self.revocation.do_send(Restart);
    }
}

/// A mailbox failure means the actor is gone for good; the client gets
/// `server_error` and the operator a log line.
fn delivered(
    outcome: Result<Result<TokenResponse, OAuthError>, MailboxError>,
) -> Result<TokenResponse, OAuthError> {
    outcome.unwrap_or_else(|e| {
        tracing::error!(error = %e, "grant actor unreachable");
        Err(OAuthError::server_error())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::GrantMetrics;
    use crate::password_validator::{Argon2PasswordValidator, User, hash_password};
    use crate::token_state::InMemoryState;
    use ostium_protocol::{AllowedGrantTypes, ErrorCode, Form, ResourceCatalog};
    use ostium_tokens::handle::RefreshHandles;
    use ostium_tokens::{JwtAccessTokens, KeyRing, SigningAlgorithm, SigningKey};

    fn supervisor() -> GrantSupervisor {
        let mut catalog = ResourceCatalog::new();
        catalog.add_api_scope("orders.read");
        let (key, _) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        let context = Arc::new(GrantContext {
            catalog,
            access_tokens: JwtAccessTokens::new(
                "https://id.example.com",
                Arc::new(KeyRing::new(key, vec![])),
            ),
            state: Arc::new(InMemoryState::default()),
            refresh_handles: RefreshHandles::new(&[7; 32]),
            metrics: GrantMetrics::default(),
        });
        let users = [User {
            subject: "8f1c".into(),
            username: "alice".into(),
            password_hash: hash_password("pw").unwrap(),
        }];
        let validator = Arc::new(Argon2PasswordValidator::new(&users, 1, 8).unwrap());
        GrantSupervisor::start(context, validator)
    }

    fn client(preset: &str) -> Arc<Client> {
        Arc::new(Client {
            client_id: "worker".into(),
            client_name: None,
            enabled: true,
            secrets: vec![],
            require_client_secret: true,
            allowed_grant_types: AllowedGrantTypes::preset(preset).unwrap(),
            allowed_scopes: vec!["orders.read".into(), "openid".into()],
            access_token_lifetime: 120,
            access_token_type: Default::default(),
            refresh_tokens: Default::default(),
        })
    }

    fn request(body: &str, client: &Client) -> TokenRequest {
        TokenRequest::parse(&Form::parse(body.as_bytes()).unwrap(), client).unwrap()
    }

    #[actix::test]
    async fn routes_each_grant_to_its_actor() {
        let grants = supervisor();
        let both = client("resource_owner_password_and_client_credentials");
        let response = grants
            .issue(
                both.clone(),
                request("grant_type=client_credentials", &both),
            )
            .await
            .unwrap();
        assert_eq!(response.scope.as_deref(), Some("orders.read"));
        assert_eq!(response.expires_in, 120);
        let response = grants
            .issue(
                both.clone(),
                request(
                    "grant_type=password&username=alice&password=pw&scope=openid",
                    &both,
                ),
            )
            .await
            .unwrap();
        assert_eq!(response.scope.as_deref(), Some("openid"));
        let wrong = grants
            .issue(
                both.clone(),
                request("grant_type=password&username=alice&password=no", &both),
            )
            .await
            .unwrap_err();
        assert_eq!(wrong.code, ErrorCode::InvalidGrant);
        assert_eq!(
            grants
                .context
                .metrics
                .issued("client_credentials", "worker"),
            1
        );
        assert_eq!(grants.context.metrics.issued("password", "worker"), 1);
    }

    #[actix::test]
    async fn restarted_actors_keep_serving() {
        let grants = supervisor();
        let machine = client("client_credentials");
        grants.restart_all();
        for _ in 0..3 {
            grants
                .issue(
                    machine.clone(),
                    request("grant_type=client_credentials", &machine),
                )
                .await
                .unwrap();
        }
        assert_eq!(grants.context.metrics.restarts("client_credentials"), 1);
        assert_eq!(grants.context.metrics.restarts("password"), 1);
    }
}
