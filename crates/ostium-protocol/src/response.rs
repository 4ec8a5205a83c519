//! The successful token response (RFC 6749 §5.1).

use serde::Serialize;

/// What the token endpoint returns on success, serialized as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl TokenResponse {
    /// A bearer access token response with the granted scope.
    pub fn bearer(access_token: String, expires_in: u32, scope: String) -> Self {
        Self {
            access_token,
            token_type: "Bearer",
            expires_in,
            scope: Some(scope),
            refresh_token: None,
            id_token: None,
        }
    }
}
