//! What every grant actor is given: the rules' inputs and the means to mint.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ostium_protocol::{OAuthError, ResourceCatalog};
use ostium_tokens::{AccessTokenGrant, AccessTokenStrategy, TokenError};

use crate::metrics::GrantMetrics;

/// Shared, read-only dependencies of the grant actors.
pub struct GrantContext {
    pub catalog: ResourceCatalog,
    pub access_tokens: Arc<dyn AccessTokenStrategy>,
    pub metrics: GrantMetrics,
}

impl GrantContext {
    /// Mints an access token; a failure is logged here and becomes `server_error`.
    pub fn mint(&self, grant: &AccessTokenGrant<'_>) -> Result<String, OAuthError> {
        self.access_tokens.issue(grant).map_err(|e: TokenError| {
            tracing::error!(error = %e, client_id = grant.client_id, "could not mint an access token");
            OAuthError::server_error()
        })
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
