//! Token-endpoint grants: one module per grant type.
//!
//! Each module parses its request from the form and validates it for a client,
//! purely; issuing the token is the job of the grant actors. [`TokenRequest`] is the
//! single dispatcher, the way a `grant_type` value picks a handler.

pub mod client_credentials;
pub mod password;
pub mod refresh_token;

pub use client_credentials::ClientCredentialsRequest;
pub use password::PasswordRequest;
pub use refresh_token::RefreshTokenRequest;

use crate::client::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::form::Form;
use crate::grant_type::GrantType;
use crate::scope::ScopeSet;

/// A parsed token request, by grant type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    ClientCredentials(ClientCredentialsRequest),
    Password(PasswordRequest),
    RefreshToken(RefreshTokenRequest),
}

impl TokenRequest {
    /// Parses a token request from an authenticated `client`, refusing, in this
    /// order: a missing `grant_type` (`invalid_request`), one this server does not
    /// serve (`unsupported_grant_type`), one the client is not allowed
    /// (`unauthorized_client`), and then whatever the grant's own parameters lack.
    pub fn parse(form: &Form, client: &Client) -> Result<Self, OAuthError> {
        let grant = match form.require("grant_type")? {
            "client_credentials" => GrantType::ClientCredentials,
            "password" => GrantType::Password,
            "refresh_token" => GrantType::RefreshToken,
            _ => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    "this grant type is not supported",
                ));
            }
        };
        if !client.allows(&grant) {
            return Err(OAuthError::unauthorized_client(format!(
                "the client is not allowed the `{}` grant type",
                grant.name()
            )));
        }
        Ok(match grant {
            GrantType::Password => Self::Password(PasswordRequest::parse(form)?),
            GrantType::RefreshToken => Self::RefreshToken(RefreshTokenRequest::parse(form)?),
            _ => Self::ClientCredentials(ClientCredentialsRequest::parse(form)?),
        })
    }

    /// The grant type, as a metrics label.
    pub fn grant_name(&self) -> &'static str {
        match self {
            Self::ClientCredentials(_) => "client_credentials",
            Self::Password(_) => "password",
            Self::RefreshToken(_) => "refresh_token",
        }
    }
}

/// The optional `scope` parameter, parsed.
fn parse_scope(form: &Form) -> Result<Option<ScopeSet>, OAuthError> {
    form.get("scope").map(ScopeSet::parse).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant_type::AllowedGrantTypes;

    fn client(preset: &str) -> Client {
        Client {
            client_id: "c".into(),
            client_name: None,
            enabled: true,
            secrets: vec![],
            require_client_secret: true,
            allowed_grant_types: AllowedGrantTypes::preset(preset).unwrap(),
            allowed_scopes: vec![],
            access_token_lifetime: 60,
            access_token_type: Default::default(),
            refresh_tokens: Default::default(),
        }
    }

    fn parse(body: &str, preset: &str) -> Result<TokenRequest, OAuthError> {
        TokenRequest::parse(&Form::parse(body.as_bytes()).unwrap(), &client(preset))
    }

    #[test]
    fn missing_grant_type_is_invalid_request() {
        assert_eq!(
            parse("scope=a", "client_credentials").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn grant_types_not_served_are_unsupported() {
        for grant in ["urn:example:magic", "authorization_code", "implicit"] {
            assert_eq!(
                parse(
                    &format!("grant_type={grant}"),
                    "hybrid_and_client_credentials"
                )
                .unwrap_err()
                .code,
                ErrorCode::UnsupportedGrantType,
                "{grant}"
            );
        }
    }

    #[test]
    fn refresh_token_grant_needs_offline_access() {
        assert_eq!(
            parse(
                "grant_type=refresh_token&refresh_token=x",
                "resource_owner_password"
            )
            .unwrap_err()
            .code,
            ErrorCode::UnauthorizedClient
        );
        let mut offline = client("resource_owner_password");
        offline.refresh_tokens.allow_offline_access = true;
        let form = Form::parse(b"grant_type=refresh_token&refresh_token=x").unwrap();
        assert!(matches!(
            TokenRequest::parse(&form, &offline),
            Ok(TokenRequest::RefreshToken(_))
        ));
    }

    #[test]
    fn grant_the_client_lacks_is_unauthorized_client_before_its_parameters() {
        // No username or password: still unauthorized_client, not invalid_request.
        assert_eq!(
            parse("grant_type=password", "client_credentials")
                .unwrap_err()
                .code,
            ErrorCode::UnauthorizedClient
        );
        assert!(matches!(
            parse(
                "grant_type=password&username=a&password=b",
                "resource_owner_password"
            ),
            Ok(TokenRequest::Password(_))
        ));
        assert_eq!(
            parse("grant_type=password", "resource_owner_password")
                .unwrap_err()
                .code,
            ErrorCode::InvalidRequest
        );
    }
}
