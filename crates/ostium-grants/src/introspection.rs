//! Token introspection (RFC 7662): whether a token is active, and what it stands for,
//! answered to a resource server or to the client that holds the token.
//!
//! A caller only learns about tokens meant for it: an API resource about access
//! tokens whose audience names it, a client about tokens issued to it. Anything else
//! is exactly `{"active": false}` (§2.2), as is every inactive token, so an answer
//! never tells a caller that someone else's token exists.

use serde::Serialize;

use ostium_protocol::OAuthError;
use ostium_protocol::token_management::TokenQuery;
use ostium_state::{Denial, FamilyId};

use crate::context::{GrantContext, state_failed};
use crate::token_lookup::{KnownToken, identify};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An API resource, authenticated with one of its `api_secrets`.
    Resource(String),
    /// A client, authenticated as at the token endpoint.
    Client(String),
}

/// RFC 7662 §2.2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<ActiveToken>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveToken {
    /// RFC 6749 §5.1's token type: `Bearer` for access tokens; a refresh token has
    /// none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    pub iss: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub scope: String,
    pub aud: Vec<String>,
    pub iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl Introspection {
    pub const INACTIVE: Self = Self {
        active: false,
        details: None,
    };
}

/// Answers from reads that see every acknowledged write, so that a token revoked
/// anywhere is inactive here too (invariant 2).
pub async fn introspect(
    context: &GrantContext,
    issuer: &str,
    caller: &Caller,
    query: &TokenQuery,
) -> Result<Introspection, OAuthError> {
    let now = context.clock.now();
    let Some(token) = identify(context, &query.token, now).await? else {
        return Ok(Introspection::INACTIVE);
    };
    let visible = match (caller, &token) {
        (Caller::Client(id), token) => token.client_id() == id,
        (Caller::Resource(name), KnownToken::Jwt(claims)) => claims.aud.contains(name),
        (Caller::Resource(name), KnownToken::Reference(record)) => record.audiences.contains(name),
        // Refresh tokens are the client's business alone.
        (Caller::Resource(_), KnownToken::Refresh { .. }) => false,
    };
    if !visible {
        return Ok(Introspection::INACTIVE);
    }
    let details = describe(context, issuer, token, now).await?;
    Ok(Introspection {
        active: details.is_some(),
        details,
    })
}

/// What an identified token stands for, if it is active at `now`: current, not
/// revoked, its refresh-token family not revoked.
pub(crate) async fn describe(
    context: &GrantContext,
    issuer: &str,
    token: KnownToken,
    now: u64,
) -> Result<Option<ActiveToken>, OAuthError> {
    Ok(match token {
        KnownToken::Jwt(claims) => {
            let current = now < claims.exp && claims.nbf.is_none_or(|nbf| nbf <= now);
            // Revoked itself, or its refresh-token family revoked (RFC 7009 §2.1).
            let denials: Vec<Denial> = std::iter::once(Denial::Token(claims.jti.clone()))
                .chain(claims.fam.clone().map(|fam| Denial::Family(FamilyId(fam))))
                .collect();
            let active = current
                && !context
                    .store
                    .deny()
                    .is_any_denied(&denials, now)
                    .await
                    .map_err(state_failed)?;
            active.then_some(ActiveToken {
                token_type: Some("Bearer"),
                iss: claims.iss,
                client_id: claims.client_id,
                sub: Some(claims.sub),
                scope: claims.scope,
                aud: claims.aud,
                iat: claims.iat,
                nbf: claims.nbf,
                exp: claims.exp,
                jti: Some(claims.jti),
            })
        }
        KnownToken::Reference(record) => Some(ActiveToken {
            token_type: Some("Bearer"),
            iss: issuer.to_owned(),
            sub: record.subject.or_else(|| Some(record.client_id.clone())),
            client_id: record.client_id,
            scope: record.scope,
            aud: record.audiences,
            iat: record.issued_at,
            nbf: Some(record.issued_at),
            exp: record.expires_at,
            jti: None,
        }),
        KnownToken::Refresh { record, live } => live.then(|| ActiveToken {
            token_type: None,
            iss: issuer.to_owned(),
            client_id: record.client_id,
            sub: Some(record.subject),
            scope: record.scope,
            aud: record.audiences,
            iat: record.issued_at,
            nbf: None,
            exp: record.expires_at,
            jti: None,
        }),
    })
}

#[cfg(test)]
mod tests {
    use ostium_protocol::{AccessTokenType, Client};

    use super::*;
    use crate::client_credentials::ClientCredentialsGrant;
    use crate::grant::TokenGrant;
    use crate::testing::{ISSUER, client, fixture, form, from};

    async fn token(context: &GrantContext, client: &Client, body: &str) -> String {
        let request = ClientCredentialsGrant.parse(&form(body)).unwrap();
        let issued = ClientCredentialsGrant
            .issue(context, &from(client), request)
            .await;
        issued.unwrap().access_token
    }

    async fn ask(context: &GrantContext, caller: &Caller, token: &str) -> Introspection {
        let query = TokenQuery::parse(&form(&format!("token={token}"))).unwrap();
        introspect(context, ISSUER, caller, &query).await.unwrap()
    }

    #[tokio::test]
    async fn a_token_is_active_for_its_audience_and_its_client_until_it_expires() {
        let f = fixture();
        let machine = Client {
            access_token_lifetime: 60,
            ..client("machine", "client_credentials")
        };
        let reference = Client {
            access_token_type: AccessTokenType::Reference,
            ..machine.clone()
        };
        for owner in [&machine, &reference] {
            let token = token(&f.context, owner, "scope=orders.read").await;
            let seen = ask(&f.context, &Caller::Resource("urn:orders".into()), &token).await;
            let details = seen.details.unwrap();
            assert_eq!(
                (details.client_id.as_str(), details.scope.as_str()),
                ("machine", "orders.read")
            );
            assert_eq!(
                (details.iat, details.exp, details.iss.as_str()),
                (f.context.clock.now(), f.context.clock.now() + 60, ISSUER)
            );
            assert!(
                ask(&f.context, &Caller::Client("machine".into()), &token)
                    .await
                    .active
            );
            // Nobody else learns the token exists.
            for stranger in [
                Caller::Resource("urn:billing".into()),
                Caller::Client("other".into()),
            ] {
                assert_eq!(
                    ask(&f.context, &stranger, &token).await,
                    Introspection::INACTIVE
                );
            }
            f.clock.advance(60);
            assert_eq!(
                ask(&f.context, &Caller::Client("machine".into()), &token).await,
                Introspection::INACTIVE
            );
        }
    }

    #[tokio::test]
    async fn garbage_is_inactive() {
        let f = fixture();
        for junk in ["x", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
            assert_eq!(
                ask(&f.context, &Caller::Client("machine".into()), junk).await,
                Introspection::INACTIVE,
                "{junk}"
            );
        }
    }
}
