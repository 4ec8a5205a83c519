//! Telling what a presented token is, for revocation (RFC 7009) and introspection
//! (RFC 7662): a JWT access token this server signed, a reference access token, or a
//! refresh token. Opaque tokens are found by the digest of their handle.

use ostium_protocol::token_management::TokenTypeHint;
use ostium_state::{ReferenceTokenRecord, RefreshTokenRecord, TokenDigest};
use ostium_tokens::AccessTokenClaims;

use crate::context::GrantContext;

/// A token this server issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownToken {
    /// A JWT access token whose signature checked; it may have expired or been revoked.
    Jwt(AccessTokenClaims),
    /// A reference access token that has not expired or been revoked.
    Reference(ReferenceTokenRecord),
    /// A refresh token, spent or not.
    Refresh(RefreshTokenRecord),
}

impl KnownToken {
    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Jwt(claims) => &claims.client_id,
            Self::Reference(record) => &record.client_id,
            Self::Refresh(record) => &record.client_id,
        }
    }
}

/// Finds the token, looking first where the hint points; the hint is only a hint
/// (RFC 7009 §2.1), so both kinds are tried.
pub fn identify(
    context: &GrantContext,
    token: &str,
    hint: Option<TokenTypeHint>,
    now: u64,
) -> Option<KnownToken> {
    let access = || {
        if token.split('.').count() == 3 {
            context.access_tokens.decode(token).map(KnownToken::Jwt)
        } else {
            context
                .state
                .reference_token(&TokenDigest::of_handle(token), now)
                .map(KnownToken::Reference)
        }
    };
    let refresh = || {
        context
            .state
            .refresh_token(&TokenDigest::of_handle(token))
            .map(KnownToken::Refresh)
    };
    match hint {
        Some(TokenTypeHint::RefreshToken) => refresh().or_else(access),
        _ => access().or_else(refresh),
    }
}

/// Whether a refresh token can still be redeemed at `now`: not spent, its family
/// not revoked, not expired.
pub fn refresh_token_is_live(
    context: &GrantContext,
    record: &RefreshTokenRecord,
    now: u64,
) -> bool {
    record.rotation.is_none()
        && now < record.expires_at
        && context
            .state
            .refresh_family(&record.family)
            .is_some_and(|family| family.revoked_at.is_none() && family.current == record.digest)
}
