//! [`TokenGrant`]: one grant type at the token endpoint (RFC 6749 §4, §4.5), the small
//! interface every grant implements, built in or extension (fosite's
//! `TokenEndpointHandler`). A grant names its `grant_type`, parses its own parameters
//! from the form, and issues from the context for an authenticated client. Which
//! grants exist is the [`crate::GrantRegistry`]'s business alone.

use std::future::Future;

use ostium_protocol::{Form, GrantType, OAuthError, TokenResponse};

use crate::actor::Flow;
use crate::context::GrantContext;
use crate::requester::Requester;

pub trait TokenGrant: Send + Sync + 'static {
    /// The grant's own parameters, parsed.
    type Request: Send + 'static;

    /// The `grant_type` it answers to. A client must be allowed this grant type
    /// before [`TokenGrant::parse`] is called.
    fn grant_type(&self) -> &GrantType;

    /// Reads the grant's parameters from the form (`invalid_request` for a missing
    /// one). Pure: no state is read yet.
    fn parse(&self, form: &Form) -> Result<Self::Request, OAuthError>;

    /// Validates the request for `client`, changes state if the grant has any, and
    /// mints.
    fn issue(
        &self,
        context: &GrantContext,
        requester: &Requester,
        request: Self::Request,
    ) -> impl Future<Output = Result<TokenResponse, OAuthError>>;
}

/// Every token grant runs in a [`crate::GrantActor`] of its own.
impl<G: TokenGrant> Flow for G {
    type Request = G::Request;
    type Response = TokenResponse;

    fn name(&self) -> &str {
        self.grant_type().name()
    }

    fn run(
        &self,
        context: &GrantContext,
        requester: &Requester,
        request: Self::Request,
    ) -> impl Future<Output = Result<TokenResponse, OAuthError>> {
        self.issue(context, requester, request)
    }
}
