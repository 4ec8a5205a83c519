//! Token-endpoint grants: one module per grant type.
//!
//! Each module parses its request from the form and validates it for a client,
//! purely; issuing the token is the job of the grants in `ostium-grants`, whose
//! registry picks the grant by `grant_type` (mini-redis's `Command::from_frame`, in
//! effect).

pub mod authorization_code;
pub mod client_credentials;
pub mod password;
pub mod refresh_token;

pub use authorization_code::{AuthorizationCodeRequest, IssuedCode};
pub use client_credentials::ClientCredentialsRequest;
pub use password::PasswordRequest;
pub use refresh_token::RefreshTokenRequest;

use crate::error::OAuthError;
use crate::form::Form;
use crate::scope::ScopeSet;

/// The optional `scope` parameter, parsed.
fn parse_scope(form: &Form) -> Result<Option<ScopeSet>, OAuthError> {
    form.get("scope").map(ScopeSet::parse).transpose()
}
