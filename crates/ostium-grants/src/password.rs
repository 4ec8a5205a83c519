//! The resource owner password credentials grant (RFC 6749 §4.3): tokens for a user
//! whose name and password the client sent. The password check is the configured
//! [`ResourceOwnerPasswordValidator`]'s job and runs off the actor's thread.

use std::sync::Arc;

use ostium_protocol::grant::PasswordRequest;
use ostium_protocol::{Form, GrantType, OAuthError, TokenResponse};
use ostium_tokens::AccessTokenGrant;

use crate::context::GrantContext;
use crate::grant::TokenGrant;
use crate::login::{LoginRefusal, check_password};
use crate::password_validator::ResourceOwnerPasswordValidator;
use crate::refresh::{new_family, start_family, within_family};
use crate::requester::Requester;

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
        requester: &Requester,
        request: Self::Request,
    ) -> Result<TokenResponse, OAuthError> {
        let client = &*requester.client;
        let granted = request.validate(client, &requester.catalog)?;
        let user = check_password(
            context,
            &*self.validator,
            request.username,
            request.password,
            requester.address,
            &client.client_id,
        )
        .await
        .map_err(|refusal| match refusal {
            // A throttled login reads as a wrong password: the client learns nothing
            // of the counts.
            LoginRefusal::WrongCredentials | LoginRefusal::Throttled => {
                OAuthError::invalid_grant("invalid username or password")
            }
            LoginRefusal::Busy => {
                OAuthError::temporarily_unavailable("too many logins in progress; retry shortly")
            }
            LoginRefusal::Internal(internal) => OAuthError::server_error().with_cause(internal),
        })?;
        let scope = granted.scope_string();
        let issued_at = context.clock.now();
        // Named before the access token is minted, so that the token carries it and
        // goes with its family when the family is revoked.
        let family = granted.offline_access.then(new_family).transpose()?;
        let lifetime = match family {
            Some(_) => within_family(
                client.access_token_lifetime,
                issued_at + u64::from(client.refresh_tokens.absolute_lifetime),
                issued_at,
            ),
            None => client.access_token_lifetime,
        };
        let grant = AccessTokenGrant {
            client_id: &client.client_id,
            subject: Some(&user.subject),
            scope: &scope,
            audiences: &granted.audiences,
            issued_at,
            lifetime,
            auth_time: Some(issued_at),
            amr: Some("pwd"),
            family: family.as_deref(),
        };
        let access_token = context.mint(client, &grant).await?;
        let refresh_token = match &family {
            Some(family) => Some(start_family(context, client, family, &grant).await?),
            None => None,
        };
        Ok(TokenResponse {
            refresh_token,
            ..TokenResponse::bearer(access_token, lifetime, scope)
        })
    }
}

#[cfg(test)]
mod tests {
    use ostium_protocol::ErrorCode;

    use super::*;
    use crate::login_guard::REFUSAL_DELAY;
    use crate::testing::{client, fixture, form, from, password_grant};

    /// A flood of refused guesses must not be answered as fast as it comes.
    #[tokio::test(start_paused = true)]
    async fn a_refused_login_is_answered_a_second_late_and_as_a_wrong_password() {
        let f = fixture();
        let app = client("app", "resource_owner_password");
        for _ in 0..f.context.logins.limits().failures_per_username {
            f.context.logins.failed(None, "alice", None).await;
        }
        let grant = password_grant();
        let request = grant
            .parse(&form("grant_type=password&username=alice&password=pw"))
            .unwrap();
        let started = tokio::time::Instant::now();
        let refused = grant
            .issue(&f.context, &from(&app), request)
            .await
            .unwrap_err();
        assert!(
            started.elapsed() >= REFUSAL_DELAY,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(refused.code, ErrorCode::InvalidGrant);
        assert_eq!(refused.description, "invalid username or password");
    }
}
