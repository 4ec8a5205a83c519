//! What every grant is given: the replicated token state, the means to mint, the
//! users and the clock (the rules' inputs, client and catalog, come with each
//! request's `Requester`). Narrow on purpose: a grant never sees the server.

use std::sync::Arc;

use ostium_protocol::{AccessTokenType, Client, OAuthError};
use ostium_state::token_store::NewReferenceToken;
use ostium_state::{FamilyId, StateError, TokenDigest, TokenStore};
use ostium_tokens::handle::{RefreshHandles, new_handle};
use ostium_tokens::{AccessTokenGrant, AccessTokenStrategy, IdTokens, JwtAccessTokens, TokenError};

use crate::clock::Clock;
use crate::login_guard::LoginGuard;
use crate::metrics::GrantMetrics;
use crate::users::UserStore;

/// Shared dependencies of the grants.
pub struct GrantContext {
    /// Self-contained (JWT) access tokens: minted, and read back for revocation and
    /// introspection.
    pub access_tokens: JwtAccessTokens,
    /// ID tokens, signed with the same key ring.
    pub id_tokens: IdTokens,
    pub store: TokenStore,
    pub refresh_handles: RefreshHandles,
    pub metrics: GrantMetrics,
    pub clock: Arc<dyn Clock>,
    /// Whether a user still exists, for grants that redeem what a login left.
    pub users: Arc<dyn UserStore>,
    /// Brute-force protection for every password check.
    pub logins: LoginGuard,
}

impl GrantContext {
    /// Mints the access token `client` is configured for: a JWT, or a reference
    /// token recorded in the replicated state before it is handed out.
    pub async fn mint(
        &self,
        client: &Client,
        grant: &AccessTokenGrant<'_>,
    ) -> Result<String, OAuthError> {
        match client.access_token_type {
            AccessTokenType::Jwt => self.access_tokens.issue(grant).map_err(unexpected),
            AccessTokenType::Reference => {
                let handle = new_handle().map_err(unexpected)?;
                let token = NewReferenceToken {
                    digest: TokenDigest::of_handle(&handle),
                    client_id: grant.client_id.to_owned(),
                    subject: grant.subject.map(str::to_owned),
                    scope: grant.scope.to_owned(),
                    audiences: grant.audiences.to_vec(),
                    expires_at: grant.issued_at + u64::from(grant.lifetime),
                    at: grant.issued_at,
                    family: grant.family.map(|family| FamilyId(family.to_owned())),
                };
                self.store
                    .reference()
                    .store(token)
                    .await
                    .map_err(state_failed)?;
                Ok(handle)
            }
        }
    }
}

/// A state that could not answer now is `temporarily_unavailable`, so the client
/// knows to retry; anything else is a bug, `server_error`. The cause goes with the
/// error, for the log.
pub fn state_failed(e: impl Into<StateError>) -> OAuthError {
    let e = e.into();
    match e {
        StateError::Unavailable(_) => {
            OAuthError::temporarily_unavailable("the token state is unavailable; retry shortly")
        }
        StateError::Unexpected { .. } => OAuthError::server_error(),
    }
    .with_cause(e)
}

/// A user store that could not answer is `temporarily_unavailable`, with the cause.
pub(crate) fn users_failed(e: crate::users::UserStoreError) -> OAuthError {
    OAuthError::temporarily_unavailable("the user store is unavailable; retry shortly")
        .with_cause(e)
}

/// A failure no client could have caused (the cryptographic library refused) is
/// `server_error`, with the cause kept for the log.
pub(crate) fn unexpected(e: TokenError) -> OAuthError {
    OAuthError::server_error().with_cause(e)
}

#[cfg(test)]
mod tests {
    use ostium_protocol::AccessTokenType;

    use super::*;
    use crate::testing::{T0, client, fixture};

    fn grant(client: &Client) -> AccessTokenGrant<'_> {
        AccessTokenGrant {
            client_id: &client.client_id,
            subject: Some("alice"),
            scope: "orders.read",
            audiences: &[],
            issued_at: T0,
            lifetime: 300,
            auth_time: None,
            amr: None,
            family: None,
        }
    }

    #[tokio::test]
    async fn a_jwt_is_self_contained_and_a_reference_token_is_recorded_first() {
        let f = fixture();
        let jwt_client = client("jwt", "client_credentials");
        let jwt = f
            .context
            .mint(&jwt_client, &grant(&jwt_client))
            .await
            .unwrap();
        let claims = f.context.access_tokens.decode(&jwt).unwrap();
        assert_eq!((claims.exp, claims.sub.as_str()), (T0 + 300, "alice"));
        assert!(
            f.context
                .store
                .lookup(TokenDigest::of_handle(&jwt), T0)
                .await
                .unwrap()
                .reference
                .is_none()
        );

        let reference_client = Client {
            access_token_type: AccessTokenType::Reference,
            ..client("reference", "client_credentials")
        };
        let handle = f
            .context
            .mint(&reference_client, &grant(&reference_client))
            .await
            .unwrap();
        assert!(f.context.access_tokens.decode(&handle).is_none());
        let record = f
            .context
            .store
            .lookup(TokenDigest::of_handle(&handle), T0 + 299)
            .await
            .unwrap()
            .reference
            .unwrap();
        assert_eq!(
            (
                record.client_id.as_str(),
                record.subject.as_deref(),
                record.expires_at
            ),
            ("reference", Some("alice"), T0 + 300)
        );
    }
}
