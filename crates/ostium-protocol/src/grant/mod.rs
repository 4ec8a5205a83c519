//! Token-endpoint grants: one module per grant type.
//!
//! Each module parses its request from the form and validates it for a client,
//! purely; issuing the token is the job of the grant actors. [`TokenRequest`] is the
//! single dispatcher, the way a `grant_type` value picks a handler.

pub mod client_credentials;
pub mod password;

pub use client_credentials::ClientCredentialsRequest;
pub use password::PasswordRequest;

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
    /// A `grant_type` this server does not serve; answered `unsupported_grant_type`.
    Unsupported(String),
}

impl TokenRequest {
    /// Parses the grant-specific parameters of a token request.
    pub fn from_form(form: &Form) -> Result<Self, OAuthError> {
        let grant_type = form.require("grant_type")?;
        Ok(match grant_type {
            "client_credentials" => Self::ClientCredentials(ClientCredentialsRequest::parse(form)?),
            "password" => Self::Password(PasswordRequest::parse(form)?),
            other => Self::Unsupported(other.chars().take(100).collect()),
        })
    }

    /// The grant type this request uses, if it is one the server serves.
    pub fn grant_type(&self) -> Option<GrantType> {
        match self {
            Self::ClientCredentials(_) => Some(GrantType::ClientCredentials),
            Self::Password(_) => Some(GrantType::Password),
            Self::Unsupported(_) => None,
        }
    }

    /// Refuses the request unless the server serves its grant type and the client is
    /// allowed to use it.
    pub fn check_allowed(&self, client: &Client) -> Result<GrantType, OAuthError> {
        let grant = self.grant_type().ok_or_else(|| {
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            )
        })?;
        if !client.allowed_grant_types.allows(&grant) {
            return Err(OAuthError::unauthorized_client(format!(
                "the client is not allowed the `{}` grant type",
                grant.name()
            )));
        }
        Ok(grant)
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
        }
    }

    #[test]
    fn missing_grant_type_is_invalid_request() {
        let form = Form::parse(b"scope=a").unwrap();
        assert_eq!(
            TokenRequest::from_form(&form).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn unknown_grant_type_is_unsupported() {
        let form = Form::parse(b"grant_type=urn:example:magic").unwrap();
        let request = TokenRequest::from_form(&form).unwrap();
        assert_eq!(
            request
                .check_allowed(&client("client_credentials"))
                .unwrap_err()
                .code,
            ErrorCode::UnsupportedGrantType
        );
    }

    #[test]
    fn grant_the_client_lacks_is_unauthorized_client() {
        let form = Form::parse(b"grant_type=password&username=a&password=b").unwrap();
        let request = TokenRequest::from_form(&form).unwrap();
        assert_eq!(
            request
                .check_allowed(&client("client_credentials"))
                .unwrap_err()
                .code,
            ErrorCode::UnauthorizedClient
        );
        assert_eq!(
            request.check_allowed(&client("resource_owner_password")),
            Ok(GrantType::Password)
        );
    }
}
