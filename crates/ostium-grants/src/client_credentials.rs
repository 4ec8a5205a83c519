//! `ClientCredentialsActor`: tokens for a client acting on its own behalf
//! (RFC 6749 §4.4). With JWT access tokens it touches no state, so it scales with
//! CPU alone; reference tokens are recorded in the replicated state.

use std::sync::Arc;

use actix::{Handler, Message, ResponseFuture};
use ostium_protocol::grant::ClientCredentialsRequest;
use ostium_protocol::{Client, OAuthError, TokenResponse};
use ostium_tokens::AccessTokenGrant;

use crate::context::{GrantContext, now};

pub struct ClientCredentialsActor {
    context: Arc<GrantContext>,
}

impl ClientCredentialsActor {
    pub fn new(context: Arc<GrantContext>) -> Self {
        Self { context }
    }
}

crate::supervisor::grant_actor!(ClientCredentialsActor, "client_credentials");

/// Issue a token to an authenticated client that is allowed this grant.
pub struct IssueClientCredentials {
    pub client: Arc<Client>,
    pub request: ClientCredentialsRequest,
}

impl Message for IssueClientCredentials {
    type Result = Result<TokenResponse, OAuthError>;
}

impl Handler<IssueClientCredentials> for ClientCredentialsActor {
    type Result = ResponseFuture<Result<TokenResponse, OAuthError>>;

    fn handle(&mut self, msg: IssueClientCredentials, _: &mut Self::Context) -> Self::Result {
        let context = self.context.clone();
        Box::pin(async move {
            let IssueClientCredentials { client, request } = msg;
            let granted = request.validate(&client, &context.catalog)?;
            let scope = granted.scope_string();
            let access_token = context
                .mint(
                    &client,
                    &AccessTokenGrant {
                        client_id: &client.client_id,
                        subject: None,
                        scope: &scope,
                        audiences: &granted.audiences,
                        issued_at: now(),
                        lifetime: client.access_token_lifetime,
                        auth_time: None,
                        amr: None,
                    },
                )
                .await?;
            Ok(TokenResponse::bearer(
                access_token,
                client.access_token_lifetime,
                scope,
            ))
        })
    }
}
