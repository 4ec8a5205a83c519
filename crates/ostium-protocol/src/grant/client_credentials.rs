//! The client credentials grant (RFC 6749 §4.4): a client asks for a token about itself.

use crate::client::Client;
use crate::error::OAuthError;
use crate::form::Form;
use crate::scope::{GrantedScopes, ResourceCatalog, ScopeSet, Subject};

/// `grant_type=client_credentials`, with its optional `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentialsRequest {
    pub scope: Option<ScopeSet>,
}

impl ClientCredentialsRequest {
    /// RFC 6749 §4.4.2.
    pub fn parse(form: &Form) -> Result<Self, OAuthError> {
        Ok(Self {
            scope: super::parse_scope(form)?,
        })
    }

    /// RFC 6749 §4.4.2: only confidential clients may use this grant; scopes must be
    /// API scopes the client is allowed.
    pub fn validate(
        &self,
        client: &Client,
        catalog: &ResourceCatalog,
    ) -> Result<GrantedScopes, OAuthError> {
        if !client.is_confidential() {
            return Err(OAuthError::unauthorized_client(
                "public clients cannot use the client_credentials grant",
            ));
        }
        catalog.grant(self.scope.as_ref(), &client.allowed_scopes, Subject::Client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::grant_type::AllowedGrantTypes;
    use crate::scope::ApiResource;

    fn setup() -> (Client, ResourceCatalog) {
        let mut catalog = ResourceCatalog::new();
        catalog.add_api_scope("orders.read");
        catalog.add_api_resource(ApiResource {
            name: "urn:orders".into(),
            scopes: vec!["orders.read".into()],
        });
        let client = Client {
            allowed_scopes: vec!["orders.read".into(), "openid".into()],
            ..Client::new(
                "worker",
                AllowedGrantTypes::preset("client_credentials").unwrap(),
            )
        };
        (client, catalog)
    }

    #[test]
    fn grants_requested_or_default_scopes() {
        let (client, catalog) = setup();
        for body in [
            "grant_type=client_credentials",
            "grant_type=client_credentials&scope=orders.read",
        ] {
            let request =
                ClientCredentialsRequest::parse(&Form::parse(body.as_bytes()).unwrap()).unwrap();
            let granted = request.validate(&client, &catalog).unwrap();
            assert_eq!(granted.scopes, ["orders.read"], "{body}");
            assert_eq!(granted.audiences, ["urn:orders"]);
        }
    }

    #[test]
    fn identity_scope_is_invalid_scope() {
        let (client, catalog) = setup();
        let form = Form::parse(b"grant_type=client_credentials&scope=openid").unwrap();
        let request = ClientCredentialsRequest::parse(&form).unwrap();
        assert_eq!(
            request.validate(&client, &catalog).unwrap_err().code,
            ErrorCode::InvalidScope
        );
    }

    #[test]
    fn public_client_is_refused() {
        let (mut client, catalog) = setup();
        client.require_client_secret = false;
        let request = ClientCredentialsRequest { scope: None };
        assert_eq!(
            request.validate(&client, &catalog).unwrap_err().code,
            ErrorCode::UnauthorizedClient
        );
    }
}
