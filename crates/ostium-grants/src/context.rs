//! What every grant actor is given: the rules' inputs, the replicated token state,
//! and the means to mint.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ostium_protocol::{AccessTokenType, Client, OAuthError, ResourceCatalog};
use ostium_state::{StateCommand, StateResponse, TokenDigest};
use ostium_tokens::handle::{RefreshHandles, new_handle};
use ostium_tokens::{AccessTokenGrant, AccessTokenStrategy, JwtAccessTokens, TokenError};

use crate::metrics::GrantMetrics;
use crate::token_state::{StateUnavailable, TokenState};

/// Shared dependencies of the grant actors.
pub struct GrantContext {
    pub catalog: ResourceCatalog,
    /// Self-contained (JWT) access tokens: minted, and read back for revocation and
    /// introspection.
    pub access_tokens: JwtAccessTokens,
    pub state: Arc<dyn TokenState>,
    pub refresh_handles: RefreshHandles,
    pub metrics: GrantMetrics,
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
            AccessTokenType::Jwt => self
                .access_tokens
                .issue(grant)
                .map_err(unexpected("mint an access token")),
            AccessTokenType::Reference => {
                let handle = new_handle().map_err(unexpected("make a token handle"))?;
                let command = StateCommand::StoreReferenceToken {
                    digest: TokenDigest::of_handle(&handle),
                    client_id: grant.client_id.to_owned(),
                    subject: grant.subject.map(str::to_owned),
                    scope: grant.scope.to_owned(),
                    audiences: grant.audiences.to_vec(),
                    expires_at: grant.issued_at + u64::from(grant.lifetime),
                    at: grant.issued_at,
                };
                self.record(command, "reference token").await?;
                Ok(handle)
            }
        }
    }

    /// Records a new token (`what`, for the log) in the replicated state.
    pub(crate) async fn record(
        &self,
        command: StateCommand,
        what: &'static str,
    ) -> Result<(), OAuthError> {
        match self.propose(command).await? {
            // Duplicate: a retried proposal that had been applied already.
            StateResponse::Issued | StateResponse::Duplicate => Ok(()),
            other => {
                tracing::error!(?other, "the state refused a new {what}");
                Err(OAuthError::server_error())
            }
        }
    }

    /// Waits for a read of the replicated state; an unavailable state is
    /// `temporarily_unavailable`, so the client knows to retry.
    pub async fn read<T>(
        &self,
        read: impl std::future::Future<Output = Result<T, StateUnavailable>>,
    ) -> Result<T, OAuthError> {
        read.await.map_err(unavailable)
    }

    /// Proposes a command; an unavailable state is `temporarily_unavailable`, so the
    /// client knows to retry.
    pub async fn propose(&self, command: StateCommand) -> Result<StateResponse, OAuthError> {
        self.state.propose(command).await.map_err(unavailable)
    }
}

fn unavailable(e: StateUnavailable) -> OAuthError {
    tracing::warn!(error = %e, "token state unavailable");
    OAuthError::temporarily_unavailable("the token state is unavailable; retry shortly")
}

/// Turns a failure that no client could have caused into `server_error`, after
/// logging what it was (the client is told nothing more).
pub(crate) fn unexpected(doing: &'static str) -> impl FnOnce(TokenError) -> OAuthError {
    move |e| {
        tracing::error!(error = %e, "could not {doing}");
        OAuthError::server_error()
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
