//! The resource owner password credentials grant (RFC 6749 §4.3): tokens for a user
//! whose name and password the client sent. The password check is the configured
//! [`ResourceOwnerPasswordValidator`]'s job and runs off the actor's thread.

use std::sync::Arc;

use ostium_protocol::grant::PasswordRequest;
use ostium_protocol::{Client, Form, GrantType, OAuthError, TokenResponse};
use ostium_tokens::AccessTokenGrant;

use crate::context::GrantContext;
use crate::grant::TokenGrant;
use crate::password_validator::{ResourceOwnerPasswordValidator, ValidatorError};
use crate::refresh::start_family;

pub struct PasswordGrant {
    validator: Arc<dyn ResourceOwnerPasswordValidator>,
}

impl PasswordGrant {
    pub fn new(validator: Arc<dyn ResourceOwnerPasswordValidator>) -> Self {
        Self { validator }
    }
}

impl TokenGrant for PasswordGrant {
    type Request = PasswordRequest;

    fn grant_type(&self) -> &GrantType {
        &GrantType::Password
    }

    fn parse(&self, form: &Form) -> Result<Self::Request, OAuthError> {
        PasswordRequest::parse(form)
    }

    async fn issue(
        &self,
        context: &GrantContext,
        client: &Client,
        request: Self::Request,
    ) -> Result<TokenResponse, OAuthError> {
        let granted = request.validate(client, &context.catalog)?;
        let user = match self
            .validator
            .validate(request.username, request.password)
            .await
        {
            Ok(Some(user)) => user,
            Ok(None) => return Err(OAuthError::invalid_grant("invalid username or password")),
            Err(ValidatorError::Busy) => {
                return Err(OAuthError::temporarily_unavailable(
                    "too many logins in progress; retry shortly",
                ));
            }
            Err(internal @ ValidatorError::Internal(_)) => {
                return Err(OAuthError::server_error().with_cause(internal));
            }
        };
        let scope = granted.scope_string();
        let issued_at = context.clock.now();
        let access_token = context
            .mint(
                client,
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
                start_family(
                    context,
                    client,
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
    }
}
