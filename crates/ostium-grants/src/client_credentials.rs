//! The client credentials grant (RFC 6749 §4.4): tokens for a client acting on its
//! own behalf. With JWT access tokens it touches no state, so it scales with CPU
//! alone; reference tokens are recorded in the replicated state.

use ostium_protocol::grant::ClientCredentialsRequest;
use ostium_protocol::{Form, GrantType, OAuthError, TokenResponse};
use ostium_tokens::AccessTokenGrant;

use crate::context::GrantContext;
use crate::grant::TokenGrant;
use crate::requester::Requester;

pub struct ClientCredentialsGrant;

impl TokenGrant for ClientCredentialsGrant {
    type Request = ClientCredentialsRequest;

    fn grant_type(&self) -> &GrantType {
        &GrantType::ClientCredentials
    }

    fn parse(&self, form: &Form) -> Result<Self::Request, OAuthError> {
        ClientCredentialsRequest::parse(form)
    }

    async fn issue(
        &self,
        context: &GrantContext,
        requester: &Requester,
        request: Self::Request,
    ) -> Result<TokenResponse, OAuthError> {
        let client = &*requester.client;
        let granted = request.validate(client, &requester.catalog)?;
        let scope = granted.scope_string();
        let access_token = context
            .mint(
                client,
                &AccessTokenGrant {
                    client_id: &client.client_id,
                    subject: None,
                    scope: &scope,
                    audiences: &granted.audiences,
                    issued_at: context.clock.now(),
                    lifetime: client.access_token_lifetime,
                    auth_time: None,
                    amr: None,
                    family: None,
                },
            )
            .await?;
        Ok(TokenResponse::bearer(
            access_token,
            client.access_token_lifetime,
            scope,
        ))
    }
}
