//! `GrantSupervisor`: the grant actors of one worker thread, started from the
//! [`GrantRegistry`] under actix's `Supervisor` (which restarts an actor that stops),
//! and routing: each token request goes to the actor owning its grant type.
//!
//! The supervisor is a routing table over actor addresses rather than an actor of
//! its own: an extra actor here would add a mailbox hop to every token request and
//! restart nothing that actix's `Supervisor` does not already restart. One runs on
//! each HTTP worker, so a request never crosses threads on its way to its grant.

use std::collections::HashMap;
use std::sync::Arc;

use actix::{Addr, Supervisor};
use ostium_protocol::token_management::TokenQuery;
use ostium_protocol::{ErrorCode, Form, OAuthError, TokenResponse};
use prometheus_client::metrics::gauge::Gauge;

use crate::actor::{Flow, GrantActor, Restart, Serve, delivered};
use crate::authorize::{Authorization, AuthorizeActor, AuthorizeFlow, AuthorizeOutcome};
use crate::context::GrantContext;
use crate::metrics::Label;
use crate::registry::{GrantRegistry, GrantRoute};
use crate::requester::Requester;
use crate::revocation::Revocation;

/// The grant actors of one worker thread.
pub struct GrantSupervisor {
    context: Arc<GrantContext>,
    /// By `grant_type` value.
    grants: HashMap<String, Box<dyn GrantRoute>>,
    revocation: Addr<GrantActor<Revocation>>,
    revocation_mailbox: Gauge,
    authorize: Addr<AuthorizeActor>,
    authorize_mailbox: Gauge,
    /// Metric labels of requests that name no registered grant.
    unknown: Label,
    other: Label,
}

impl GrantSupervisor {
    /// Starts one actor per registered grant, and the revocation actor, on the
    /// current arbiter. Must be called from inside an actix system (an actix-web
    /// worker, or `actix::System`).
    pub fn start(registry: &GrantRegistry, context: Arc<GrantContext>) -> Self {
        let grants = registry
            .start(&context)
            .into_iter()
            .map(|route| (route.grant_type().name().to_owned(), route))
            .collect();
        let revocation = {
            let context = context.clone();
            Supervisor::start(move |_| GrantActor::new(Arc::new(Revocation), context))
        };
        let revocation_mailbox = context.metrics.mailbox(Revocation.name());
        let authorize = {
            let context = context.clone();
            Supervisor::start(move |_| GrantActor::new(Arc::new(AuthorizeFlow), context))
        };
        let authorize_mailbox = context.metrics.mailbox(AuthorizeFlow.name());
        Self {
            context,
            grants,
            revocation,
            revocation_mailbox,
            authorize,
            authorize_mailbox,
            unknown: Label::new("unknown"),
            other: Label::new("other"),
        }
    }

    /// Serves a token request from an authenticated `client`, refusing, in this
    /// order: a missing `grant_type` (`invalid_request`), one no registered grant
    /// serves (`unsupported_grant_type`), one the client is not allowed
    /// (`unauthorized_client`), and then whatever the grant's own parameters lack.
    pub async fn issue(
        &self,
        requester: Requester,
        form: &Form,
    ) -> Result<TokenResponse, OAuthError> {
        let client = requester.client.clone();
        let grant = self
            .grants
            .get(form.require("grant_type")?)
            .ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    "this grant type is not supported",
                )
            })?;
        if !client.allows_at_token_endpoint(grant.grant_type()) {
            return Err(OAuthError::unauthorized_client(format!(
                "the client is not allowed the `{}` grant type",
                grant.grant_type()
            )));
        }
        let response = grant.issue(requester, form).await?;
        self.context
            .metrics
            .token_issued(grant.label(), &client.client_id);
        Ok(response)
    }

    /// The metric label of a token request: its registered grant type, `other` for
    /// any other `grant_type` sent, `unknown` when there is none (or no form could
    /// be read).
    pub fn label(&self, form: Option<&Form>) -> &Label {
        match form.and_then(|form| form.get("grant_type")) {
            Some(name) => self.grants.get(name).map_or(&self.other, |g| g.label()),
            None => &self.unknown,
        }
    }

    /// Revokes a token for the authenticated client holding it (RFC 7009).
    pub async fn revoke(&self, requester: Requester, query: TokenQuery) -> Result<(), OAuthError> {
        delivered(
            self.revocation
                .send(Serve::new(requester, query, &self.revocation_mailbox))
                .await,
        )
    }

    /// The context the actors share, for read-only work such as introspection.
    /// Runs an authorization request (already checked for its client) through
    /// this worker's `authorize` actor.
    pub async fn authorize(
        &self,
        requester: Requester,
        authorization: Authorization,
    ) -> Result<AuthorizeOutcome, OAuthError> {
        delivered(
            self.authorize
                .send(Serve::new(
                    requester,
                    authorization,
                    &self.authorize_mailbox,
                ))
                .await,
        )
    }

    pub fn context(&self) -> &Arc<GrantContext> {
        &self.context
    }

    /// Restarts every actor (each finishes the message it is handling first).
    pub fn restart_all(&self) {
        for grant in self.grants.values() {
            grant.restart();
        }
        self.revocation.do_send(Restart);
        self.authorize.do_send(Restart);
    }
}

#[cfg(test)]
mod tests {
    use ostium_protocol::{Client, ErrorCode};

    use super::*;
    use crate::password_validator::{Argon2PasswordValidator, User, hash_password};
    use crate::testing::{client, fixture, form, from, offline};

    fn supervisor() -> GrantSupervisor {
        let users = [User {
            subject: "8f1c".into(),
            username: "alice".into(),
            password_hash: hash_password("pw").unwrap(),
            claims: Default::default(),
        }];
        let validator = Arc::new(Argon2PasswordValidator::new(&users, 1, 8).unwrap());
        GrantSupervisor::start(&GrantRegistry::standard(validator), fixture().context)
    }

    async fn issue(
        grants: &GrantSupervisor,
        client: &Client,
        body: &str,
    ) -> Result<TokenResponse, OAuthError> {
        grants.issue(from(client), &form(body)).await
    }

    #[actix::test]
    async fn routes_each_grant_to_its_actor() {
        let grants = supervisor();
        let both = Client {
            access_token_lifetime: 120,
            ..client("worker", "resource_owner_password_and_client_credentials")
        };
        let response = issue(
            &grants,
            &both,
            "grant_type=client_credentials&scope=orders.read",
        )
        .await
        .unwrap();
        assert_eq!(response.scope.as_deref(), Some("orders.read"));
        assert_eq!(response.expires_in, 120);
        let body = "grant_type=password&username=alice&password=pw&scope=openid";
        let response = issue(&grants, &both, body).await.unwrap();
        assert_eq!(response.scope.as_deref(), Some("openid"));
        let wrong = issue(
            &grants,
            &both,
            "grant_type=password&username=alice&password=no",
        )
        .await
        .unwrap_err();
        assert_eq!(wrong.code, ErrorCode::InvalidGrant);
        let metrics = &grants.context().metrics;
        assert_eq!(metrics.issued("client_credentials", "worker"), 1);
        assert_eq!(metrics.issued("password", "worker"), 1);
        // Every message taken from a mailbox has left the depth gauge.
        assert_eq!(metrics.mailbox("client_credentials").get(), 0);
        assert_eq!(metrics.mailbox("password").get(), 0);
    }

    #[actix::test]
    async fn a_message_waiting_in_a_mailbox_is_counted_until_the_actor_takes_it() {
        let grants = supervisor();
        let machine = client("machine", "client_credentials");
        let body = form("grant_type=client_credentials");
        let mut waiting = std::pin::pin!(grants.issue(from(&machine), &body));
        let depth = grants.context().metrics.mailbox("client_credentials");
        assert_eq!(depth.get(), 0);
        // Polled once, the request is sent; the actor runs on this thread, which has
        // not yielded since, so it has not taken the message yet.
        let mut poll = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(waiting.as_mut().poll(&mut poll).is_pending());
        assert_eq!(depth.get(), 1);
        waiting.await.unwrap();
        assert_eq!(depth.get(), 0);
    }

    #[actix::test]
    async fn restarted_actors_keep_serving() {
        let grants = supervisor();
        let machine = client("machine", "client_credentials");
        grants.restart_all();
        for _ in 0..3 {
            issue(&grants, &machine, "grant_type=client_credentials")
                .await
                .unwrap();
        }
        let metrics = &grants.context().metrics;
        assert_eq!(metrics.restarts("client_credentials"), 1);
        assert_eq!(metrics.restarts("password"), 1);
        assert_eq!(metrics.restarts("revocation"), 1);
    }

    #[actix::test]
    async fn missing_grant_type_is_invalid_request() {
        let grants = supervisor();
        let refused = issue(
            &grants,
            &client("c", "client_credentials"),
            "scope=orders.read",
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidRequest);
        assert_eq!(grants.label(Some(&form("scope=a"))).as_str(), "unknown");
        assert_eq!(grants.label(None).as_str(), "unknown");
    }

    #[actix::test]
    async fn grant_types_not_registered_are_unsupported() {
        let grants = supervisor();
        let hybrid = client("c", "hybrid_and_client_credentials");
        for grant in ["urn:example:magic", "device_code", "implicit", "hybrid"] {
            let body = format!("grant_type={grant}");
            let refused = issue(&grants, &hybrid, &body).await.unwrap_err();
            assert_eq!(refused.code, ErrorCode::UnsupportedGrantType, "{grant}");
            // Never echoed: the value is the client's.
            assert!(!refused.description.contains(grant));
            assert_eq!(grants.label(Some(&form(&body))).as_str(), "other");
        }
        let body = "grant_type=password";
        assert_eq!(grants.label(Some(&form(body))).as_str(), "password");
    }

    #[actix::test]
    async fn a_grant_the_client_lacks_is_unauthorized_client_before_its_parameters() {
        let grants = supervisor();
        // No username or password: still unauthorized_client, not invalid_request.
        let machine = client("c", "client_credentials");
        let refused = issue(&grants, &machine, "grant_type=password")
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::UnauthorizedClient);
        let app = client("c", "resource_owner_password");
        let refused = issue(&grants, &app, "grant_type=password")
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidRequest);
    }

    #[actix::test]
    async fn the_refresh_token_grant_comes_with_offline_access() {
        let grants = supervisor();
        let body = "grant_type=refresh_token&refresh_token=x";
        let app = client("c", "resource_owner_password");
        let refused = issue(&grants, &app, body).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::UnauthorizedClient);
        let refused = issue(&grants, &offline(app), body).await.unwrap_err();
        assert_eq!(
            refused,
            OAuthError::invalid_grant("the refresh token is not valid")
        );
    }
}
