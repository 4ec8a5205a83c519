//! What a relying party learns about the user: the claims the granted identity
//! scopes release (from the `UserStore`, IdentityServer's profile service) and the
//! ID token that carries them, shared by the authorization endpoint, the code
//! exchange and userinfo.

use ostium_protocol::{Client, OAuthError, ResourceCatalog};
use ostium_tokens::IdTokenGrant;
use serde_json::{Map, Value};

use crate::context::{GrantContext, unexpected, users_failed};

/// A user's sign-in, as an ID token describes it.
#[derive(Debug, Clone, Copy)]
pub struct SignIn<'a> {
    pub subject: &'a str,
    pub auth_time: u64,
    pub amr: &'a str,
    pub session_id: &'a str,
}

/// The claims of `subject` that `scopes` release, `sub` always among them. A user
/// the store no longer knows is `None`.
pub async fn released_claims<'a>(
    context: &GrantContext,
    catalog: &'a ResourceCatalog,
    subject: &str,
    scopes: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Map<String, Value>>, OAuthError> {
    let Some(all) = context.users.claims(subject).await.map_err(users_failed)? else {
        return Ok(None);
    };
    let mut released: Map<String, Value> = catalog
        .user_claims(scopes)
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), all.get(name)?.clone())))
        .collect();
    released.insert("sub".into(), subject.into());
    Ok(Some(released))
}

/// What goes into one ID token besides the sign-in.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdTokenParts<'a> {
    pub nonce: Option<&'a str>,
    /// Issued beside it, for `at_hash`, `c_hash` and `s_hash`.
    pub access_token: Option<&'a str>,
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    /// Whether the user's claims go into the ID token itself: when no access token
    /// comes with it (userinfo cannot be asked), or when the client always wants
    /// them (`always_include_user_claims_in_id_token`).
    pub with_user_claims: bool,
}

/// Mints the ID token of `sign_in` for `client`, releasing what `scopes` allow.
pub async fn id_token(
    context: &GrantContext,
    client: &Client,
    catalog: &ResourceCatalog,
    sign_in: SignIn<'_>,
    scopes: &[String],
    parts: IdTokenParts<'_>,
) -> Result<String, OAuthError> {
    let user_claims = if parts.with_user_claims || client.always_include_user_claims_in_id_token {
        released_claims(
            context,
            catalog,
            sign_in.subject,
            scopes.iter().map(String::as_str),
        )
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?
    } else {
        Map::new()
    };
    context
        .id_tokens
        .issue(&IdTokenGrant {
            client_id: &client.client_id,
            subject: sign_in.subject,
            issued_at: context.clock.now(),
            lifetime: client.identity_token_lifetime,
            auth_time: sign_in.auth_time,
            amr: sign_in.amr,
            nonce: parts.nonce,
            session_id: Some(sign_in.session_id),
            access_token: parts.access_token,
            code: parts.code,
            state: parts.state,
            user_claims: &user_claims,
        })
        .map_err(unexpected)
}
