//! Refresh tokens (RFC 6749 §1.5, §6): the first token of a family, issued with a
//! grant that was given `offline_access`, and `RefreshActor`, which redeems them.
//!
//! Redemption is one compare-and-set in the replicated state, so a token is
//! redeemed at most once across the cluster. The successor handle is derived from
//! the presented one, so a client retrying a redemption whose answer it lost gets
//! the same successor instead of opening a second branch of the family.

use std::sync::Arc;

use actix::{Handler, Message, ResponseFuture};
use ostium_protocol::grant::RefreshTokenRequest;
use ostium_protocol::{
    Client, OAuthError, RefreshTokenExpiration, RefreshTokenUsage, TokenResponse,
};
use ostium_state::{
    FamilyId, StateCommand, StateResponse, TokenDigest, TokenExpiration, TokenUsage,
};
use ostium_tokens::AccessTokenGrant;
use ostium_tokens::handle::{new_handle, random_id};

use crate::context::{GrantContext, now, unexpected};

/// Starts a refresh-token family for a grant that was given `offline_access`;
/// returns the handle for the client.
pub(crate) async fn issue_refresh_token(
    context: &GrantContext,
    client: &Client,
    subject: &str,
    scope: &str,
    audiences: &[String],
    at: u64,
) -> Result<String, OAuthError> {
    let handle = new_handle().map_err(unexpected("make a refresh-token handle"))?;
    let family = FamilyId(random_id::<16>().map_err(unexpected("make a refresh-token family id"))?);
    let policy = client.refresh_tokens;
    let command = StateCommand::IssueRefreshToken {
        family,
        digest: TokenDigest::of_handle(&handle),
        client_id: client.client_id.clone(),
        subject: subject.to_owned(),
        scope: scope.to_owned(),
        audiences: audiences.to_vec(),
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
    };
    context.record(command, "refresh token").await?;
    Ok(handle)
}

pub struct RefreshActor {
    context: Arc<GrantContext>,
}

impl RefreshActor {
    pub fn new(context: Arc<GrantContext>) -> Self {
        Self { context }
    }
}

crate::supervisor::grant_actor!(RefreshActor, "refresh_token");

/// Redeem a refresh token for an authenticated client allowed offline access.
pub struct IssueRefresh {
    pub client: Arc<Client>,
    pub request: RefreshTokenRequest,
}

impl Message for IssueRefresh {
    type Result = Result<TokenResponse, OAuthError>;
}

impl Handler<IssueRefresh> for RefreshActor {
    type Result = ResponseFuture<Result<TokenResponse, OAuthError>>;

    fn handle(&mut self, msg: IssueRefresh, _: &mut Self::Context) -> Self::Result {
        let context = self.context.clone();
        Box::pin(async move { redeem(&context, &msg.client, &msg.request).await })
    }
}

async fn redeem(
    context: &GrantContext,
    client: &Client,
    request: &RefreshTokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let invalid = || OAuthError::invalid_grant("the refresh token is not valid");
    let presented = TokenDigest::of_handle(&request.refresh_token);
    // Refuse a bad scope before the token is spent, when this node already knows it.
    if let Some(record) = context.state.peek_refresh(presented).await {
        request.validate(client, &record.client_id, &record.scope)?;
    }
    let successor = context.refresh_handles.successor(&request.refresh_token);
    let at = now();
    let outcome = context
        .propose(StateCommand::RedeemRefreshToken {
            digest: presented,
            client_id: client.client_id.clone(),
            successor: TokenDigest::of_handle(&successor),
            grace_period: client.refresh_tokens.grace_period,
            at,
        })
        .await?;
    let (refresh_token, record) = match outcome {
        StateResponse::Rotated { record } | StateResponse::AlreadyRotated { record } => {
            (successor, record)
        }
        StateResponse::Reused { record } => (request.refresh_token.clone(), record),
        StateResponse::ReuseDetected { .. } => {
            tracing::warn!(client_id = ?client.client_id, "a rotated refresh token was presented again; its family is revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of its grant is now revoked",
            ));
        }
        _ => return Err(invalid()),
    };
    let scopes = request.validate(client, &record.client_id, &record.scope)?;
    let scope = scopes.join(" ");
    let audiences = context.catalog.audiences(&scopes);
    let access_token = context
        .mint(
            client,
            &AccessTokenGrant {
                client_id: &client.client_id,
                subject: Some(&record.subject),
                scope: &scope,
                audiences: &audiences,
                issued_at: at,
                lifetime: client.access_token_lifetime,
                auth_time: None,
                amr: None,
            },
        )
        .await?;
    Ok(TokenResponse {
        refresh_token: Some(refresh_token),
        ..TokenResponse::bearer(access_token, client.access_token_lifetime, scope)
    })
}
