//! The resource owner password credentials grant (RFC 6749 §4.3).
//!
//! The client sends a user's name and password; the password is checked by the
//! configured validator, outside this crate. It is off unless a client lists it.

use std::fmt;

use crate::client::Client;
use crate::error::OAuthError;
use crate::form::Form;
use crate::scope::{GrantedScopes, ResourceCatalog, ScopeSet, Subject};

/// Longest username or password accepted; longer is refused before any hashing.
const MAX_CREDENTIAL_LEN: usize = 1024;

/// `grant_type=password`.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordRequest {
    pub username: String,
    pub password: String,
    pub scope: Option<ScopeSet>,
}

/// The password must never reach a log through `{:?}`.
impl fmt::Debug for PasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordRequest")
            .field("username", &self.username)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl PasswordRequest {
    /// RFC 6749 §4.3.2.
    pub fn parse(form: &Form) -> Result<Self, OAuthError> {
        let username = form.require("username")?;
        let password = form.require("password")?;
        if username.len() > MAX_CREDENTIAL_LEN || password.len() > MAX_CREDENTIAL_LEN {
            return Err(OAuthError::invalid_request(
                "username or password is too long",
            ));
        }
        Ok(Self {
            username: username.to_owned(),
            password: password.to_owned(),
            scope: super::parse_scope(form)?,
        })
    }

    /// Scopes are checked before the password so that a refused request costs no hashing.
    pub fn validate(
        &self,
        client: &Client,
        catalog: &ResourceCatalog,
    ) -> Result<GrantedScopes, OAuthError> {
        catalog.grant(self.scope.as_ref(), &client.allowed_scopes, Subject::User)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn username_and_password_are_required() {
        for body in [
            "grant_type=password&username=alice",
            "grant_type=password&password=x",
            "grant_type=password&username=&password=x",
        ] {
            assert_eq!(
                PasswordRequest::parse(&Form::parse(body.as_bytes()).unwrap())
                    .unwrap_err()
                    .code,
                ErrorCode::InvalidRequest,
                "{body}"
            );
        }
    }

    #[test]
    fn overlong_credentials_are_refused() {
        let body = format!(
            "username=alice&password={}",
            "x".repeat(MAX_CREDENTIAL_LEN + 1)
        );
        assert_eq!(
            PasswordRequest::parse(&Form::parse(body.as_bytes()).unwrap())
                .unwrap_err()
                .code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let form = Form::parse(b"username=alice&password=hunter2").unwrap();
        let request = PasswordRequest::parse(&form).unwrap();
        assert!(!format!("{request:?}").contains("hunter2"));
    }
}
