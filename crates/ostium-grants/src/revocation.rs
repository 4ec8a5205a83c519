//! `RevocationActor`: token revocation (RFC 7009). A client revokes its own access or
//! refresh tokens; revoking a refresh token revokes every token of its family.
//!
//! The answer is the same whether the token existed, belonged to someone else or was
//! already revoked (RFC 7009 §2.2): the caller learns nothing, and only the holder's
//! own tokens are touched. Success is answered only once the revocation is committed
//! to the replicated state.

use std::sync::Arc;

use actix::{Handler, Message, ResponseFuture};
use ostium_protocol::token_management::TokenQuery;
use ostium_protocol::{Client, OAuthError};
use ostium_state::{Denial, StateCommand};

use crate::context::{GrantContext, now};
use crate::token_lookup::{KnownToken, identify};

pub struct RevocationActor {
    context: Arc<GrantContext>,
}

impl RevocationActor {
    pub fn new(context: Arc<GrantContext>) -> Self {
        Self { context }
    }
}

crate::supervisor::grant_actor!(RevocationActor, "revocation");

/// Revoke a token on behalf of the authenticated client that holds it.
pub struct Revoke {
    pub client: Arc<Client>,
    pub query: TokenQuery,
}

impl Message for Revoke {
    type Result = Result<(), OAuthError>;
}

impl Handler<Revoke> for RevocationActor {
    type Result = ResponseFuture<Result<(), OAuthError>>;

    fn handle(&mut self, msg: Revoke, _: &mut Self::Context) -> Self::Result {
        let context = self.context.clone();
        Box::pin(async move { revoke(&context, &msg.client, &msg.query).await })
    }
}

async fn revoke(
    context: &GrantContext,
    client: &Client,
    query: &TokenQuery,
) -> Result<(), OAuthError> {
    let at = now();
    // A token issued through another node a moment ago is found here too.
    let Some(token) = identify(context, &query.token, at).await? else {
        return Ok(());
    };
    if token.client_id() != client.client_id {
        tracing::info!(client_id = ?client.client_id, "revocation of another client's token ignored");
        return Ok(());
    }
    let (command, denial, until) = match token {
        KnownToken::Refresh { record, .. } => (
            StateCommand::RevokeRefreshFamily {
                family: record.family.clone(),
                at,
            },
            Denial::Family(record.family),
            record.absolute_expires_at,
        ),
        KnownToken::Reference(record) => (
            StateCommand::RevokeReferenceToken {
                digest: record.digest,
                at,
            },
            Denial::Reference(record.digest),
            record.expires_at,
        ),
        KnownToken::Jwt(claims) if claims.exp > at => (
            StateCommand::RevokeToken {
                token_id: claims.jti.clone(),
                expires_at: claims.exp,
                at,
            },
            Denial::Token(claims.jti),
            claims.exp,
        ),
        // An expired JWT can no longer be used; there is nothing to deny.
        KnownToken::Jwt(_) => return Ok(()),
    };
    context.propose(command).await?;
    // Answered only once every node, edges included, refuses the token.
    context.state.publish_denial(denial, until).await;
    Ok(())
}
