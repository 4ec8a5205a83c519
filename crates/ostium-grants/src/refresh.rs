//! Refresh tokens (RFC 6749 §1.5, §6): the first token of a family, issued with a
//! grant that was given `offline_access`, and the refresh token grant, which redeems
//! them.
//!
//! Redemption is one compare-and-set in the replicated state, so a token is
//! redeemed at most once across the cluster. The successor handle is derived from
//! the presented one, so a client retrying a redemption whose answer it lost gets
//! the same successor instead of opening a second branch of the family.

use ostium_protocol::grant::RefreshTokenRequest;
use ostium_protocol::{
    Client, Form, GrantType, OAuthError, RefreshTokenExpiration, RefreshTokenUsage, TokenResponse,
};
use ostium_state::token_store::{NewRefreshToken, Redeemed, Redemption};
use ostium_state::{FamilyId, RefreshTokenRecord, TokenDigest, TokenExpiration, TokenUsage};
use ostium_tokens::AccessTokenGrant;
use ostium_tokens::handle::{new_located_handle, random_id};

use crate::context::{GrantContext, state_failed, unexpected, users_failed};
use crate::grant::TokenGrant;
use crate::requester::Requester;

/// A new refresh-token family's id: 128 random bits.
pub(crate) fn new_family() -> Result<String, OAuthError> {
    random_id::<16>().map_err(unexpected)
}

/// Starts the refresh-token family `family` for a grant that was given
/// `offline_access`, whose first access token `grant` describes; returns the handle
/// for the client.
pub(crate) async fn start_family(
    context: &GrantContext,
    client: &Client,
    family: &str,
    grant: &AccessTokenGrant<'_>,
) -> Result<String, OAuthError> {
    let (handle, token) = first_of_family(client, family, grant)?;
    context
        .store
        .refresh()
        .issue(token)
        .await
        .map_err(state_failed)?;
    Ok(handle)
}

/// The first refresh token of `family`, by `client`'s policy, for the grant whose
/// first access token `grant` describes, not yet recorded: its handle and record.
pub(crate) fn first_of_family(
    client: &Client,
    family: &str,
    grant: &AccessTokenGrant<'_>,
) -> Result<(String, NewRefreshToken), OAuthError> {
    let handle = new_located_handle().map_err(unexpected)?;
    let policy = client.refresh_tokens;
    let at = grant.issued_at;
    let token = NewRefreshToken {
        family: FamilyId(family.to_owned()),
        digest: TokenDigest::of_handle(&handle),
        client_id: client.client_id.clone(),
        subject: grant.subject.unwrap_or(grant.client_id).to_owned(),
        scope: grant.scope.to_owned(),
        audiences: grant.audiences.to_vec(),
        usage: match policy.usage {
            RefreshTokenUsage::OneTimeOnly => TokenUsage::OneTimeOnly,
            RefreshTokenUsage::ReUse => TokenUsage::ReUse,
        },
        expiration: match policy.expiration {
            RefreshTokenExpiration::Absolute => TokenExpiration::Absolute,
            RefreshTokenExpiration::Sliding => TokenExpiration::Sliding,
        },
        absolute_expires_at: at + u64::from(policy.absolute_lifetime),
        sliding_lifetime: Some(policy.sliding_lifetime),
        at,
        auth_time: grant.auth_time,
        amr: grant.amr.map(str::to_owned),
    };
    Ok((handle, token))
}

/// Whether the user a refresh token was issued for may still be issued tokens. When
/// they are gone, every token of the family is revoked: it can never be redeemed
/// again, and its access tokens stop being active.
async fn user_is_active(
    context: &GrantContext,
    record: &RefreshTokenRecord,
) -> Result<bool, OAuthError> {
    if context
        .users
        .is_active(&record.subject)
        .await
        .map_err(users_failed)?
    {
        return Ok(true);
    }
    tracing::info!(subject = ?record.subject, client_id = ?record.client_id, "refresh refused: the user no longer exists; the token's family is revoked");
    context
        .store
        .refresh()
        .revoke_family(record, context.clock.now())
        .await
        .map_err(state_failed)?;
    Ok(false)
}

/// `grant_type=refresh_token`, for clients allowed offline access.
pub struct RefreshTokenGrant;

impl TokenGrant for RefreshTokenGrant {
    type Request = RefreshTokenRequest;

    fn grant_type(&self) -> &GrantType {
        &GrantType::RefreshToken
    }

    fn parse(&self, form: &Form) -> Result<Self::Request, OAuthError> {
        RefreshTokenRequest::parse(form)
    }

    async fn issue(
        &self,
        context: &GrantContext,
        requester: &Requester,
        request: Self::Request,
    ) -> Result<TokenResponse, OAuthError> {
        let client = &*requester.client;
        let invalid = || OAuthError::invalid_grant("the refresh token is not valid");
        let presented = TokenDigest::of_handle(&request.refresh_token);
        let at = context.clock.now();
        let refresh = context.store.refresh();
        // Refuse a bad scope, or a user who is gone, before the token is spent, so
        // that a refusal or a user store that cannot answer leaves it unspent: the
        // token is read first, from this node, or from the cluster if this node
        // does not know it yet (its successor was committed a moment ago at the
        // leader, as happens to a client rotating back to back through a follower;
        // one more round trip to the leader). Nothing is read first when nothing
        // checked after spending can go wrong in a way a retry would not mend: no
        // scope asked for, users that always answer (the configured ones), and a
        // grace period in which a retry gets the same successor. That is the usual
        // rotation, and its one write is then all it costs the state.
        let spend_first = request.scope.is_none()
            && context.users.always_answers()
            && client.refresh_tokens.grace_period > 0;
        let known = if spend_first {
            None
        } else {
            match refresh.peek(presented, at).await {
                Some(record) => Some(record),
                None => {
                    context
                        .store
                        .lookup(presented, at)
                        .await
                        .map_err(state_failed)?
                        .refresh
                }
            }
        };
        if let Some(record) = &known {
            request.validate(client, &record.client_id, &record.scope)?;
            if !user_is_active(context, record).await? {
                return Err(invalid());
            }
        }
        let successor = context.refresh_handles.successor(&request.refresh_token);
        let redeemed = refresh
            .redeem(Redemption {
                digest: presented,
                client_id: client.client_id.clone(),
                successor: TokenDigest::of_handle(&successor),
                grace_period: client.refresh_tokens.grace_period,
                at,
            })
            .await
            .map_err(state_failed)?;
        let (refresh_token, record) = match redeemed {
            Redeemed::Rotated { successor: record }
            | Redeemed::AlreadyRotated { successor: record } => (successor, record),
            Redeemed::Reused { token } => (request.refresh_token.clone(), token),
            Redeemed::ReuseDetected { .. } => {
                tracing::warn!(client_id = ?client.client_id, "a rotated refresh token was presented again; its family is revoked");
                return Err(OAuthError::invalid_grant(
                    "the refresh token was already used; every token of its grant is now revoked",
                ));
            }
            Redeemed::Invalid => return Err(invalid()),
        };
        if known.is_none() && !user_is_active(context, &record).await? {
            return Err(invalid());
        }
        let scopes = request.validate(client, &record.client_id, &record.scope)?;
        let scope = scopes.join(" ");
        let audiences = requester.catalog.audiences(&scopes);
        let lifetime = within_family(client.access_token_lifetime, record.absolute_expires_at, at);
        let access_token = context
            .mint(
                client,
                &AccessTokenGrant {
                    client_id: &client.client_id,
                    subject: Some(&record.subject),
                    scope: &scope,
                    audiences: &audiences,
                    issued_at: at,
                    lifetime,
                    auth_time: record.auth_time,
                    amr: record.amr.as_deref(),
                    family: Some(&record.family.0),
                },
            )
            .await?;
        Ok(TokenResponse {
            refresh_token: Some(refresh_token),
            ..TokenResponse::bearer(access_token, lifetime, scope)
        })
    }
}

/// An access token of a refresh-token family lives no longer than the family: a
/// revoked family is denied until its absolute expiry and then forgotten, so a token
/// outliving it would become active again.
pub(crate) fn within_family(lifetime: u32, absolute_expires_at: u64, at: u64) -> u32 {
    let left = absolute_expires_at.saturating_sub(at);
    lifetime.min(u32::try_from(left).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use ostium_protocol::token_management::TokenQuery;
    use ostium_protocol::{ErrorCode, RefreshTokenPolicy};

    use super::*;
    use crate::introspection::{Caller, introspect};
    use crate::testing::{Fixture, ISSUER, T0, client, fixture, form, from, login, offline};

    /// Starts a family for alice at the clock's time, as the password grant given
    /// `offline_access` would.
    async fn family(context: &GrantContext, client: &Client) -> String {
        let audiences = ["urn:orders".to_owned()];
        let grant = AccessTokenGrant {
            client_id: &client.client_id,
            subject: Some("alice"),
            scope: "openid orders.read offline_access",
            audiences: &audiences,
            issued_at: context.clock.now(),
            lifetime: 60,
            auth_time: Some(T0 - 30),
            amr: Some("pwd"),
            family: None,
        };
        start_family(context, client, &new_family().unwrap(), &grant)
            .await
            .unwrap()
    }

    async fn redeem(
        context: &GrantContext,
        client: &Client,
        body: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let request = RefreshTokenGrant.parse(&form(body))?;
        RefreshTokenGrant
            .issue(context, &from(client), request)
            .await
    }

    fn app() -> Client {
        offline(client("app", "resource_owner_password"))
    }

    #[tokio::test]
    async fn a_rotation_spends_the_token_and_hands_out_its_successor() {
        let f = fixture();
        let app = app();
        let first = family(&f.context, &app).await;
        let rotated = redeem(&f.context, &app, &format!("refresh_token={first}"))
            .await
            .unwrap();
        let second = rotated.refresh_token.clone().unwrap();
        assert_ne!(second, first);
        assert_eq!(
            rotated.scope.as_deref(),
            Some("openid orders.read offline_access")
        );
        let claims = f
            .context
            .access_tokens
            .decode(&rotated.access_token)
            .unwrap();
        assert_eq!((claims.sub.as_str(), claims.iat), ("alice", T0));
        assert_eq!(claims.aud, ["urn:orders"]);
        f.clock.advance(60);
        let third = redeem(&f.context, &app, &format!("refresh_token={second}"))
            .await
            .unwrap();
        assert_ne!(third.refresh_token.as_deref(), Some(second.as_str()));
    }

    #[tokio::test]
    async fn a_retry_within_the_grace_period_gets_the_same_successor_and_a_later_one_revokes_the_family()
     {
        let f = fixture();
        let app = app();
        let first = family(&f.context, &app).await;
        let presented = format!("refresh_token={first}");
        let rotated = redeem(&f.context, &app, &presented).await.unwrap();
        f.clock.advance(4);
        let retried = redeem(&f.context, &app, &presented).await.unwrap();
        assert_eq!(retried.refresh_token, rotated.refresh_token);
        // The grace period (5 s) is over: this is reuse, and the family goes.
        f.clock.advance(2);
        let reused = redeem(&f.context, &app, &presented).await.unwrap_err();
        assert_eq!(reused.code, ErrorCode::InvalidGrant);
        assert!(reused.description.contains("already used"), "{reused:?}");
        let successor = format!("refresh_token={}", rotated.refresh_token.unwrap());
        let revoked = redeem(&f.context, &app, &successor).await.unwrap_err();
        assert_eq!(
            revoked,
            OAuthError::invalid_grant("the refresh token is not valid")
        );
    }

    #[tokio::test]
    async fn tokens_expire_by_the_clock_absolute_or_sliding() {
        let f = fixture();
        let mut app = app();
        app.refresh_tokens = RefreshTokenPolicy {
            absolute_lifetime: 100,
            sliding_lifetime: 30,
            ..app.refresh_tokens
        };
        let absolute = family(&f.context, &app).await;
        f.clock.advance(100);
        let expired = redeem(&f.context, &app, &format!("refresh_token={absolute}")).await;
        assert_eq!(expired.unwrap_err().code, ErrorCode::InvalidGrant);

        app.refresh_tokens.expiration = RefreshTokenExpiration::Sliding;
        let sliding = family(&f.context, &app).await;
        f.clock.advance(29);
        let used = redeem(&f.context, &app, &format!("refresh_token={sliding}"))
            .await
            .unwrap();
        // Each use slides the expiry: unused for 31 s, the successor has expired.
        f.clock.advance(31);
        let successor = format!("refresh_token={}", used.refresh_token.unwrap());
        let lapsed = redeem(&f.context, &app, &successor).await.unwrap_err();
        assert_eq!(lapsed.code, ErrorCode::InvalidGrant);
    }

    #[tokio::test]
    async fn access_tokens_from_a_refresh_keep_how_the_user_logged_in() {
        let f = fixture();
        let app = app();
        let first = family(&f.context, &app).await;
        f.clock.advance(60);
        let rotated = redeem(&f.context, &app, &format!("refresh_token={first}"))
            .await
            .unwrap();
        let claims = f
            .context
            .access_tokens
            .decode(&rotated.access_token)
            .unwrap();
        assert_eq!(claims.auth_time, Some(T0 - 30));
        assert_eq!(claims.iat, T0 + 60);
        assert!(claims.fam.is_some());
    }

    #[tokio::test]
    async fn a_user_who_is_gone_gets_nothing_and_their_family_is_revoked() {
        let f = fixture();
        let app = app();
        let login = login(&f.context, &app, "orders.read offline_access").await;
        let token = login.refresh_token.unwrap();
        alice_gone_revokes(&f, &app, &token, &login.access_token).await;
    }

    /// Once alice is gone, `refresh_token` is refused and `access_token`, from the
    /// same family, is no longer active.
    async fn alice_gone_revokes(
        f: &Fixture,
        app: &Client,
        refresh_token: &str,
        access_token: &str,
    ) {
        f.users.remove("alice");
        let refused = redeem(&f.context, app, &format!("refresh_token={refresh_token}"))
            .await
            .unwrap_err();
        assert_eq!(
            refused,
            OAuthError::invalid_grant("the refresh token is not valid")
        );
        let query = TokenQuery::parse(&form(&format!("token={access_token}"))).unwrap();
        let seen = introspect(&f.context, ISSUER, &Caller::Client("app".into()), &query).await;
        assert!(
            !seen.unwrap().active,
            "the user's access token is still active"
        );
    }

    /// With users that always answer and no scope asked for, the token is redeemed
    /// without being read first; the redemption still refuses another client, and
    /// a user who is gone still gets nothing.
    #[tokio::test]
    async fn a_token_spent_without_reading_it_first_is_refused_as_before() {
        let f = fixture();
        f.users.answer_always(true);
        let app = app();
        let token = family(&f.context, &app).await;
        let presented = format!("refresh_token={token}");
        let mallory = offline(client("mallory", "resource_owner_password"));
        let stolen = redeem(&f.context, &mallory, &presented).await.unwrap_err();
        assert_eq!(
            stolen,
            OAuthError::invalid_grant("the refresh token is not valid")
        );
        // Not spent by the other client: its own client rotates it.
        let rotated = redeem(&f.context, &app, &presented).await.unwrap();
        let successor = rotated.refresh_token.unwrap();
        alice_gone_revokes(&f, &app, &successor, &rotated.access_token).await;
    }

    /// The client is told to retry, and its token still works when it does, however
    /// long after: nothing was spent.
    #[tokio::test]
    async fn a_user_store_that_cannot_answer_spends_nothing() {
        let f = fixture();
        let app = app();
        let token = family(&f.context, &app).await;
        let presented = format!("refresh_token={token}");
        f.users.fail(true);
        let refused = redeem(&f.context, &app, &presented).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::TemporarilyUnavailable);
        f.users.fail(false);
        f.clock.advance(60);
        assert!(redeem(&f.context, &app, &presented).await.is_ok());
    }

    /// A revoked family is denied until its absolute expiry and then forgotten: an
    /// access token outliving it would become active again.
    #[tokio::test]
    async fn no_access_token_outlives_its_family() {
        let f = fixture();
        let mut app = app();
        app.access_token_lifetime = 60;
        app.refresh_tokens.absolute_lifetime = 100;
        let token = family(&f.context, &app).await;
        f.clock.advance(90);
        let late = redeem(&f.context, &app, &format!("refresh_token={token}"))
            .await
            .unwrap();
        assert_eq!(late.expires_in, 10);
        let claims = f.context.access_tokens.decode(&late.access_token).unwrap();
        assert_eq!(claims.exp, T0 + 100);

        // The family's first access token too, when the family is the shorter.
        app.refresh_tokens.absolute_lifetime = 30;
        let first = login(&f.context, &app, "orders.read offline_access").await;
        assert_eq!(first.expires_in, 30);
    }

    #[tokio::test]
    async fn reuse_makes_the_grant_s_access_tokens_inactive() {
        let f = fixture();
        let app = app();
        let login = login(&f.context, &app, "orders.read offline_access").await;
        let presented = format!("refresh_token={}", login.refresh_token.unwrap());
        let rotated = redeem(&f.context, &app, &presented).await.unwrap();
        f.clock.advance(60);
        assert!(redeem(&f.context, &app, &presented).await.is_err());
        let caller = Caller::Client("app".into());
        for token in [login.access_token, rotated.access_token] {
            let query = TokenQuery::parse(&form(&format!("token={token}"))).unwrap();
            let seen = introspect(&f.context, ISSUER, &caller, &query).await;
            assert!(!seen.unwrap().active);
        }
    }

    #[tokio::test]
    async fn a_scope_the_client_lost_is_not_refreshed() {
        let f = fixture();
        let mut app = app();
        let token = family(&f.context, &app).await;
        app.allowed_scopes.retain(|s| s != "orders.read");
        let refreshed = redeem(&f.context, &app, &format!("refresh_token={token}"))
            .await
            .unwrap();
        assert_eq!(refreshed.scope.as_deref(), Some("openid offline_access"));
    }

    #[tokio::test]
    async fn a_re_usable_token_is_handed_back_unchanged() {
        let f = fixture();
        let mut app = app();
        app.refresh_tokens.usage = RefreshTokenUsage::ReUse;
        let token = family(&f.context, &app).await;
        for _ in 0..3 {
            f.clock.advance(10);
            let again = redeem(&f.context, &app, &format!("refresh_token={token}"))
                .await
                .unwrap();
            assert_eq!(again.refresh_token.as_deref(), Some(token.as_str()));
        }
    }

    #[tokio::test]
    async fn scope_may_narrow_and_a_token_works_only_for_its_client() {
        let f = fixture();
        let app = app();
        let token = family(&f.context, &app).await;
        let widened = redeem(
            &f.context,
            &app,
            &format!("refresh_token={token}&scope=orders.write"),
        )
        .await
        .unwrap_err();
        assert_eq!(widened.code, ErrorCode::InvalidScope);
        let mallory = offline(client("mallory", "resource_owner_password"));
        let stolen = redeem(&f.context, &mallory, &format!("refresh_token={token}"))
            .await
            .unwrap_err();
        assert_eq!(
            stolen,
            OAuthError::invalid_grant("the refresh token is not valid")
        );
        // Neither spent it.
        let narrowed = redeem(
            &f.context,
            &app,
            &format!("refresh_token={token}&scope=orders.read"),
        )
        .await
        .unwrap();
        assert_eq!(narrowed.scope.as_deref(), Some("orders.read"));
        let claims = f
            .context
            .access_tokens
            .decode(&narrowed.access_token)
            .unwrap();
        assert_eq!(claims.aud, ["urn:orders"]);
    }
}
