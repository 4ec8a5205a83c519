//! [`GrantRegistry`]: which token grants this server serves, built once when the
//! server is built. The registry alone decides request dispatch (by `grant_type`),
//! the grant types a configuration may give clients without a warning, discovery's
//! `grant_types_supported`, the metric labels, and which actors each worker's
//! [`crate::GrantSupervisor`] starts and restarts. A grant that is not registered
//! cannot be reached.
//!
//! Adding a grant is a protocol file (its request: parse and validate), a grant file
//! (a [`TokenGrant`]) and one line in [`GrantRegistry::standard`], or, for an
//! extension grant outside Ostium, one `register` call when the server is built.

use std::sync::Arc;

use actix::{Addr, Supervisor};
use futures_util::future::LocalBoxFuture;
use ostium_protocol::{Form, GrantType, OAuthError, TokenResponse};
use prometheus_client::metrics::gauge::Gauge;

use crate::actor::{GrantActor, Restart, Serve, delivered};
use crate::authorization_code::AuthorizationCodeGrant;
use crate::client_credentials::ClientCredentialsGrant;
use crate::context::GrantContext;
use crate::grant::TokenGrant;
use crate::metrics::Label;
use crate::password::PasswordGrant;
use crate::password_validator::ResourceOwnerPasswordValidator;
use crate::refresh::RefreshTokenGrant;
use crate::requester::Requester;

/// The token grants a server serves, in the order they were registered.
#[derive(Clone, Default)]
pub struct GrantRegistry {
    grants: Vec<Arc<dyn Registered>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("grant type `{0}` is registered twice")]
    Duplicate(String),
    #[error(
        "`{0}` is a front-channel grant type, served by the authorization endpoint; \
         it cannot be a token-endpoint grant"
    )]
    FrontChannel(String),
    #[error(
        "`{0}` is the name of a built-in grant type; an extension grant needs a name \
         of its own, such as an absolute URI"
    )]
    NotItsName(String),
}

impl GrantRegistry {
    /// No grants at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// The grants built into Ostium, with `password_validator` checking the
    /// resource owner password grant's credentials.
    pub fn standard(password_validator: Arc<dyn ResourceOwnerPasswordValidator>) -> Self {
        let mut registry = Self::new();
        registry.put(ClientCredentialsGrant);
        registry.put(PasswordGrant::new(password_validator));
        registry.put(RefreshTokenGrant);
        registry.put(AuthorizationCodeGrant);
        registry
    }

    /// Adds a grant; an extension grant (RFC 6749 §4.5) comes in this way. Its
    /// grant type must not be registered already.
    pub fn register<G: TokenGrant>(&mut self, grant: G) -> Result<(), RegistryError> {
        let grant_type = Self::check(&grant)?;
        if self.position(grant_type).is_some() {
            return Err(RegistryError::Duplicate(grant_type.to_string()));
        }
        self.put(grant);
        Ok(())
    }

    /// Puts `grant` in the place of the one registered for its grant type (or adds
    /// it): how a built-in grant is given other dependencies, such as another
    /// password validator. The order of the grants, and so of discovery's list, is
    /// kept.
    pub fn replace<G: TokenGrant>(&mut self, grant: G) -> Result<(), RegistryError> {
        match self.position(Self::check(&grant)?) {
            Some(at) => self.grants[at] = Self::entry(grant),
            None => self.put(grant),
        }
        Ok(())
    }

    /// A token-endpoint grant type, named as requests will name it: requests are
    /// dispatched by name, so an extension grant called `password` would take the
    /// password grant's requests.
    fn check<G: TokenGrant>(grant: &G) -> Result<&GrantType, RegistryError> {
        let grant_type = grant.grant_type();
        if GrantType::from_name(grant_type.name()).as_ref() != Some(grant_type) {
            return Err(RegistryError::NotItsName(grant_type.to_string()));
        }
        if matches!(grant_type, GrantType::Implicit | GrantType::Hybrid) {
            return Err(RegistryError::FrontChannel(grant_type.to_string()));
        }
        Ok(grant_type)
    }

    fn position(&self, grant_type: &GrantType) -> Option<usize> {
        self.grants
            .iter()
            .position(|g| g.grant_type().name() == grant_type.name())
    }

    fn put<G: TokenGrant>(&mut self, grant: G) {
        self.grants.push(Self::entry(grant));
    }

    fn entry<G: TokenGrant>(grant: G) -> Arc<dyn Registered> {
        Arc::new(Entry {
            label: Label::new(grant.grant_type().name()),
            grant: Arc::new(grant),
        })
    }

    /// The grant types served at the token endpoint, in registration order.
    pub fn grant_types(&self) -> impl Iterator<Item = &GrantType> {
        self.grants.iter().map(|g| g.grant_type())
    }

    /// Whether a client allowed `grant_type` can use it here: a grant registered
    /// for the token endpoint, or a browser grant (implicit, hybrid), which the
    /// authorization endpoint serves.
    pub fn serves(&self, grant_type: &GrantType) -> bool {
        matches!(grant_type, GrantType::Implicit | GrantType::Hybrid)
            || self.grant_types().any(|g| g == grant_type)
    }

    /// Starts one actor per grant on the current arbiter.
    pub(crate) fn start(&self, context: &Arc<GrantContext>) -> Vec<Box<dyn GrantRoute>> {
        self.grants
            .iter()
            .map(|grant| grant.start(context.clone()))
            .collect()
    }
}

/// A registered grant, whatever its request type.
trait Registered: Send + Sync {
    fn grant_type(&self) -> &GrantType;
    fn start(&self, context: Arc<GrantContext>) -> Box<dyn GrantRoute>;
}

struct Entry<G: TokenGrant> {
    grant: Arc<G>,
    label: Label,
}

impl<G: TokenGrant> Registered for Entry<G> {
    fn grant_type(&self) -> &GrantType {
        self.grant.grant_type()
    }

    fn start(&self, context: Arc<GrantContext>) -> Box<dyn GrantRoute> {
        let grant = self.grant.clone();
        let mailbox = context.metrics.mailbox(self.label.as_str());
        let actor = Supervisor::start(move |_| GrantActor::new(grant, context));
        Box::new(Route {
            grant: self.grant.clone(),
            label: self.label.clone(),
            actor,
            mailbox,
        })
    }
}

/// One grant's actor on one worker.
pub(crate) trait GrantRoute {
    fn grant_type(&self) -> &GrantType;
    fn label(&self) -> &Label;
    /// Parses the grant's parameters here, and has the actor issue.
    fn issue(
        &self,
        requester: Requester,
        form: &Form,
    ) -> LocalBoxFuture<'static, Result<TokenResponse, OAuthError>>;
    fn restart(&self);
}

struct Route<G: TokenGrant> {
    grant: Arc<G>,
    label: Label,
    actor: Addr<GrantActor<G>>,
    /// The actor's mailbox depth gauge.
    mailbox: Gauge,
}

impl<G: TokenGrant> GrantRoute for Route<G> {
    fn grant_type(&self) -> &GrantType {
        self.grant.grant_type()
    }

    fn label(&self) -> &Label {
        &self.label
    }

    fn issue(
        &self,
        requester: Requester,
        form: &Form,
    ) -> LocalBoxFuture<'static, Result<TokenResponse, OAuthError>> {
        let request = match self.grant.parse(form) {
            Ok(request) => request,
            Err(refused) => return Box::pin(std::future::ready(Err(refused))),
        };
        let sent = self
            .actor
            .send(Serve::new(requester, request, &self.mailbox));
        Box::pin(async move { delivered(sent.await) })
    }

    fn restart(&self) {
        self.actor.do_send(Restart);
    }
}

#[cfg(test)]
mod tests {
    use ostium_protocol::ErrorCode;

    use super::*;
    use crate::GrantSupervisor;
    use crate::password_validator::Argon2PasswordValidator;
    use crate::testing::{client, fixture, form, from};

    /// An extension grant (RFC 6749 §4.5) as an embedder would write one: it
    /// answers with the `assertion` it was sent as the access token.
    struct Echo;

    impl TokenGrant for Echo {
        type Request = String;

        fn grant_type(&self) -> &GrantType {
            static ECHO: std::sync::LazyLock<GrantType> =
                std::sync::LazyLock::new(|| GrantType::Extension("urn:example:echo".into()));
            &ECHO
        }

        fn parse(&self, form: &Form) -> Result<String, OAuthError> {
            form.require("assertion").map(str::to_owned)
        }

        async fn issue(
            &self,
            _: &GrantContext,
            _: &Requester,
            assertion: String,
        ) -> Result<TokenResponse, OAuthError> {
            Ok(TokenResponse::bearer(assertion, 60, String::new()))
        }
    }

    fn standard() -> GrantRegistry {
        GrantRegistry::standard(Arc::new(Argon2PasswordValidator::new(&[], 1, 1).unwrap()))
    }

    #[test]
    fn the_standard_grants_in_order() {
        let registry = standard();
        let names: Vec<&str> = registry.grant_types().map(|g| g.name()).collect();
        assert_eq!(
            names,
            [
                "client_credentials",
                "password",
                "refresh_token",
                "authorization_code"
            ]
        );
    }

    #[actix::test]
    async fn a_registered_extension_grant_is_reached_and_only_then() {
        let echo = client("c", "client_credentials,urn:example:echo");
        let body = "grant_type=urn:example:echo&assertion=hello";
        let without = GrantSupervisor::start(&standard(), fixture().context);
        let refused = without.issue(from(&echo), &form(body)).await;
        assert_eq!(refused.unwrap_err().code, ErrorCode::UnsupportedGrantType);

        let mut registry = standard();
        registry.register(Echo).unwrap();
        assert!(registry.serves(&GrantType::Extension("urn:example:echo".into())));
        let grants = GrantSupervisor::start(&registry, fixture().context);
        let answered = grants.issue(from(&echo), &form(body)).await;
        assert_eq!(answered.unwrap().access_token, "hello");
        assert_eq!(grants.context().metrics.issued("urn:example:echo", "c"), 1);
        // A client that does not list it is refused before the grant parses anything.
        let other = client("d", "client_credentials");
        let refused = grants
            .issue(from(&other), &form("grant_type=urn:example:echo"))
            .await;
        assert_eq!(refused.unwrap_err().code, ErrorCode::UnauthorizedClient);
    }

    #[test]
    fn a_grant_type_is_registered_once_and_never_a_front_channel_one() {
        let mut registry = standard();
        registry.register(Echo).unwrap();
        assert_eq!(
            registry.register(Echo),
            Err(RegistryError::Duplicate("urn:example:echo".into()))
        );
        assert_eq!(
            registry.register(ClientCredentialsGrant),
            Err(RegistryError::Duplicate("client_credentials".into()))
        );
        struct Implicit;
        impl TokenGrant for Implicit {
            type Request = ();
            fn grant_type(&self) -> &GrantType {
                &GrantType::Implicit
            }
            fn parse(&self, _: &Form) -> Result<(), OAuthError> {
                Ok(())
            }
            async fn issue(
                &self,
                _: &GrantContext,
                _: &Requester,
                (): (),
            ) -> Result<TokenResponse, OAuthError> {
                Err(OAuthError::server_error())
            }
        }
        assert!(matches!(
            registry.register(Implicit),
            Err(RegistryError::FrontChannel(_))
        ));
        // An extension grant may not take a built-in grant's name.
        struct Impostor(GrantType);
        impl TokenGrant for Impostor {
            type Request = ();
            fn grant_type(&self) -> &GrantType {
                &self.0
            }
            fn parse(&self, _: &Form) -> Result<(), OAuthError> {
                Ok(())
            }
            async fn issue(
                &self,
                _: &GrantContext,
                _: &Requester,
                (): (),
            ) -> Result<TokenResponse, OAuthError> {
                Err(OAuthError::server_error())
            }
        }
        for name in ["password", "implicit", "device_code"] {
            assert!(
                matches!(
                    registry.register(Impostor(GrantType::Extension(name.into()))),
                    Err(RegistryError::NotItsName(_))
                ),
                "{name}"
            );
        }
        // Replacing keeps one grant per type, in its place.
        registry.replace(ClientCredentialsGrant).unwrap();
        let names: Vec<&str> = registry.grant_types().map(|g| g.name()).collect();
        assert_eq!(
            names,
            [
                "client_credentials",
                "password",
                "refresh_token",
                "authorization_code",
                "urn:example:echo"
            ]
        );
    }
}
