//! `PasswordActor`: tokens for a user whose name and password the client sent
//! (RFC 6749 §4.3). The password check is the configured
//! [`ResourceOwnerPasswordValidator`]'s job and runs off the actor's thread.

use std::sync::Arc;

use actix::{Handler, Message, ResponseFuture};
use ostium_protocol::grant::PasswordRequest;
use ostium_protocol::{Client, OAuthError, TokenResponse};
use ostium_tokens::AccessTokenGrant;

use crate::context::{GrantContext, now};
use crate::password_validator::{ResourceOwnerPasswordValidator, ValidatorError};
use crate::refresh::issue_refresh_token;

pub struct PasswordActor {
    context: Arc<GrantContext>,
    validator: Arc<dyn ResourceOwnerPasswordValidator>,
}

impl PasswordActor {
    pub fn new(
        context: Arc<GrantContext>,
        validator: Arc<dyn ResourceOwnerPasswordValidator>,
    ) -> Self {
        Self { context, validator }
    }
}

crate::supervisor::grant_actor!(PasswordActor, "password");

/// Issue a token for a user to an authenticated client that is allowed this grant.
pub struct IssuePassword {
    pub client: Arc<Client>,
    pub request: PasswordRequest,
}

impl Message for IssuePassword {
    type Result = Result<TokenResponse, OAuthError>;
}

impl Handler<IssuePassword> for PasswordActor {
    type Result = ResponseFuture<Result<TokenResponse, OAuthError>>;

    fn handle(&mut self, msg: IssuePassword, _: &mut Self::Context) -> Self::Result {
        let context = self.context.clone();
        let validator = self.validator.clone();
        Box::pin(async move {
            let IssuePassword { client, request } = msg;
            let granted = request.validate(&client, &context.catalog)?;
            let user = match validator.validate(request.username, request.password).await {
                Ok(Some(user)) => user,
                Ok(None) => return Err(OAuthError::invalid_grant("invalid username or password")),
                Err(ValidatorError::Busy) => {
                    return Err(OAuthError::temporarily_unavailable(
                        "too many logins in progress; retry shortly",
                    ));
                }
                Err(ValidatorError::Internal(reason)) => {
                    tracing::error!(%reason, "password validation failed");
                    return Err(OAuthError::server_error());
                }
            };
            let scope = granted.scope_string();
            let issued_at = now();
            let access_token = context
                .mint(
                    &client,
                    &AccessTokenGrant {
                        client_id: &client.client_id,
                        subject: Some(&user.subject),
                        scope: &scope,
                        audiences: &granted.audiences,
                        issued_at,
                        lifetime: client.access_token_lifetime,
                        auth_time: Some(issued_at),
                        amr: Some("pwd"),
                    },
                )
                .await?;
            let refresh_token = if granted.offline_access {
                Some(
                    issue_refresh_token(
                        &context,
                        &client,
                        &user.subject,
                        &scope,
                        &granted.audiences,
                        issued_at,
                    )
                    .await?,
                )
            } else {
                None
            };
            Ok(TokenResponse {
                refresh_token,
                ..TokenResponse::bearer(access_token, client.access_token_lifetime, scope)
            })
        })
    }
}
