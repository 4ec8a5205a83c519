//! The UserInfo endpoint (OpenID Connect Core §5.3): the claims about the user an
//! access token's identity scopes release, for whoever presents the token as a
//! bearer (RFC 6750). A read, like introspection: the token must be active here and
//! now, seen through every revocation acknowledged anywhere.

use ostium_protocol::{ErrorCode, OAuthError, ResourceCatalog};
use serde_json::{Map, Value};

use crate::context::GrantContext;
use crate::identity::released_claims;
use crate::introspection::describe;
use crate::token_lookup::{KnownToken, identify};

/// The claims `token` releases, or the RFC 6750 error to answer with.
pub async fn userinfo(
    context: &GrantContext,
    issuer: &str,
    catalog: &ResourceCatalog,
    token: &str,
) -> Result<Map<String, Value>, OAuthError> {
    let invalid = || OAuthError::new(ErrorCode::InvalidToken, "the access token is not valid");
    let now = context.clock.now();
    let token = match identify(context, token, now).await? {
        Some(token @ (KnownToken::Jwt(_) | KnownToken::Reference(_))) => token,
        // A refresh token is not a bearer credential anywhere but at the token endpoint.
        Some(KnownToken::Refresh { .. }) | None => return Err(invalid()),
    };
    let active = describe(context, issuer, token, now)
        .await?
        .ok_or_else(invalid)?;
    let scopes: Vec<&str> = active.scope.split(' ').collect();
    // Only a user's token carries `openid`: identity scopes need a user.
    let subject = match (scopes.contains(&"openid"), &active.sub) {
        (true, Some(subject)) => subject,
        _ => {
            return Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                "the access token was not granted the openid scope",
            ));
        }
    };
    released_claims(context, catalog, subject, scopes.iter().copied())
        .await?
        .ok_or_else(|| invalid().with_hint("the user no longer exists"))
}
