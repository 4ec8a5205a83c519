//! Telling what a presented token is, for revocation (RFC 7009) and introspection
//! (RFC 7662): a JWT access token this server signed, a reference access token, or a
//! refresh token. Opaque tokens are found by the digest of their handle; every read
//! sees each write acknowledged before it, wherever in the cluster it was made.

use ostium_protocol::OAuthError;
use ostium_state::{ReferenceTokenRecord, RefreshTokenRecord, TokenDigest};
use ostium_tokens::AccessTokenClaims;

use crate::context::{GrantContext, state_failed};

/// A token this server issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownToken {
    /// A JWT access token whose signature checked; it may have expired or been revoked.
    Jwt(AccessTokenClaims),
    /// A reference access token that has not expired or been revoked.
    Reference(ReferenceTokenRecord),
    /// A refresh token, spent or not; `live` if it can still be redeemed.
    Refresh {
        record: RefreshTokenRecord,
        live: bool,
    },
}

impl KnownToken {
    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Jwt(claims) => &claims.client_id,
            Self::Reference(record) => &record.client_id,
            Self::Refresh { record, .. } => &record.client_id,
        }
    }
}

/// Finds the token. A JWT is recognised by its signature, without a read; an opaque
/// handle is looked up once, as a reference and as a refresh token, so the
/// `token_type_hint` of RFC 7009 §2.1 (only a hint) has nothing to save.
pub async fn identify(
    context: &GrantContext,
    token: &str,
    now: u64,
) -> Result<Option<KnownToken>, OAuthError> {
    if token.split('.').count() == 3 {
        return Ok(context.access_tokens.decode(token).map(KnownToken::Jwt));
    }
    let facts = context
        .store
        .lookup(TokenDigest::of_handle(token), now)
        .await
        .map_err(state_failed)?;
    Ok(match (facts.reference, facts.refresh) {
        (Some(record), _) => Some(KnownToken::Reference(record)),
        (None, Some(record)) => Some(KnownToken::Refresh {
            record,
            live: facts.refresh_live,
        }),
        (None, None) => None,
    })
}
