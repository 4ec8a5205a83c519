//! The refresh token grant (RFC 6749 §6): a client trades a refresh token for a new
//! access token (and, with rotation, a new refresh token).
//!
//! What the token stands for lives in the replicated state; this module only reads
//! the request and checks it against that record, so the same rules hold whichever
//! node serves the request.

use crate::client::Client;
use crate::error::OAuthError;
use crate::form::Form;
use crate::scope::ScopeSet;

/// Longest refresh token accepted; ours are 43 characters.
const MAX_REFRESH_TOKEN_LEN: usize = 512;

/// `grant_type=refresh_token`.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenRequest {
    pub refresh_token: String,
    pub scope: Option<ScopeSet>,
}

/// The token must never reach a log through `{:?}`.
impl std::fmt::Debug for RefreshTokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshTokenRequest")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl RefreshTokenRequest {
    /// RFC 6749 §6.
    pub fn parse(form: &Form) -> Result<Self, OAuthError> {
        let refresh_token = form.require("refresh_token")?;
        if refresh_token.len() > MAX_REFRESH_TOKEN_LEN {
            return Err(OAuthError::invalid_grant("the refresh token is not valid"));
        }
        Ok(Self {
            refresh_token: refresh_token.to_owned(),
            scope: super::parse_scope(form)?,
        })
    }

    /// RFC 6749 §6: the token must have been issued to this client, and a requested
    /// scope may narrow the original grant but never widen it. What the client is no
    /// longer allowed (an operator took a scope away since the login) is dropped: a
    /// refresh token never carries more than its client may have now. Returns the
    /// scopes the new access token carries, in their original order.
    pub fn validate(
        &self,
        client: &Client,
        issued_to: &str,
        granted_scope: &str,
    ) -> Result<Vec<String>, OAuthError> {
        if issued_to != client.client_id {
            // Same answer as an unknown token: a client learns nothing about others'.
            return Err(OAuthError::invalid_grant("the refresh token is not valid"));
        }
        let granted: Vec<&str> = granted_scope.split(' ').filter(|s| !s.is_empty()).collect();
        let allowed_now = |scope: &str| client.allowed_scopes.iter().any(|a| a == scope);
        let requested = self
            .scope
            .as_ref()
            .filter(|requested| !requested.is_empty());
        if let Some(requested) = requested {
            if let Some(extra) = requested.iter().find(|s| !granted.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope `{extra}` was not granted with this refresh token"
                )));
            }
            if let Some(withdrawn) = requested.iter().find(|s| !allowed_now(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope `{withdrawn}` is no longer allowed for this client"
                )));
            }
        }
        let scopes: Vec<String> = granted
            .into_iter()
            .filter(|g| requested.is_none_or(|requested| requested.iter().any(|r| r == *g)))
            .filter(|g| allowed_now(g))
            .map(str::to_owned)
            .collect();
        if scopes.is_empty() {
            return Err(OAuthError::invalid_scope(
                "no scope granted with this refresh token is allowed for this client any more",
            ));
        }
        Ok(scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::grant_type::AllowedGrantTypes;

    fn client(id: &str) -> Client {
        Client {
            allowed_scopes: ["openid", "orders.read", "orders.write", "offline_access"]
                .map(String::from)
                .to_vec(),
            ..Client::new(
                id,
                AllowedGrantTypes::list(["password", "refresh_token"]).unwrap(),
            )
        }
    }

    fn request(body: &str) -> Result<RefreshTokenRequest, OAuthError> {
        RefreshTokenRequest::parse(&Form::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn refresh_token_is_required() {
        assert_eq!(
            request("grant_type=refresh_token").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn scope_may_narrow_but_not_widen() {
        let app = client("app");
        let narrowed = request("refresh_token=x&scope=orders.read")
            .unwrap()
            .validate(&app, "app", "openid orders.read offline_access")
            .unwrap();
        assert_eq!(narrowed, ["orders.read"]);
        let all = request("refresh_token=x")
            .unwrap()
            .validate(&app, "app", "openid orders.read offline_access")
            .unwrap();
        assert_eq!(all, ["openid", "orders.read", "offline_access"]);
        let widened = request("refresh_token=x&scope=orders.write")
            .unwrap()
            .validate(&app, "app", "openid orders.read")
            .unwrap_err();
        assert_eq!(widened.code, ErrorCode::InvalidScope);
    }

    #[test]
    fn scopes_the_client_lost_since_the_login_are_dropped() {
        let mut app = client("app");
        app.allowed_scopes.retain(|s| s != "orders.read");
        let cut = request("refresh_token=x")
            .unwrap()
            .validate(&app, "app", "openid orders.read offline_access")
            .unwrap();
        assert_eq!(cut, ["openid", "offline_access"]);
        let asked = request("refresh_token=x&scope=orders.read")
            .unwrap()
            .validate(&app, "app", "openid orders.read offline_access")
            .unwrap_err();
        assert_eq!(asked.code, ErrorCode::InvalidScope);
        app.allowed_scopes.clear();
        let nothing_left = request("refresh_token=x")
            .unwrap()
            .validate(&app, "app", "openid orders.read")
            .unwrap_err();
        assert_eq!(nothing_left.code, ErrorCode::InvalidScope);
    }

    #[test]
    fn another_clients_token_is_invalid_grant() {
        let err = request("refresh_token=x")
            .unwrap()
            .validate(&client("mallory"), "app", "openid")
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant);
    }

    #[test]
    fn oversized_tokens_are_refused_and_never_printed() {
        let long = format!("refresh_token={}", "a".repeat(MAX_REFRESH_TOKEN_LEN + 1));
        assert_eq!(request(&long).unwrap_err().code, ErrorCode::InvalidGrant);
        let parsed = request("refresh_token=secret-handle").unwrap();
        assert!(!format!("{parsed:?}").contains("secret-handle"));
    }

    proptest::proptest! {
        #[test]
        fn no_refresh_request_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(form) = Form::parse(&body) {
                let _ = RefreshTokenRequest::parse(&form);
            }
        }
    }
}
