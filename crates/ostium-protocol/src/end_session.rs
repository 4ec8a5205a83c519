//! The logout request (OpenID Connect RP-Initiated Logout 1.0 §2-3).
//!
//! A client sends the user to the end-session endpoint to log them out, naming
//! itself (`client_id`, or through the `aud` of the ID token in `id_token_hint`) and
//! where the browser should go next. That address is only followed when it is one
//! the client registered: otherwise logout would be an open redirector (§3). Checking
//! the ID token's signature and audience needs keys, and is the caller's job.

use url::Url;

use crate::client::Client;
use crate::error::OAuthError;
use crate::form::Form;

/// Longest `id_token_hint` accepted: an ID token with many claims fits, a flood
/// does not.
const MAX_ID_TOKEN_HINT: usize = 8192;
/// Longest `client_id`, as at the other endpoints.
const MAX_CLIENT_ID: usize = 256;
/// Longest `post_logout_redirect_uri`.
const MAX_REDIRECT_URI: usize = 2048;
/// Longest `state`, as at the authorization endpoint.
const MAX_STATE: usize = 512;

/// A logout request, from the query (GET) or the body (POST).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndSessionRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed to the post-logout redirect URI (§3).
    pub state: Option<String>,
}

impl EndSessionRequest {
    /// RP-Initiated Logout 1.0 §2. Every parameter is optional, but a
    /// `post_logout_redirect_uri` is useless without a way to know the client, and
    /// an overlong value is refused rather than carried along.
    pub fn parse(form: &Form) -> Result<Self, OAuthError> {
        let bounded = |name: &'static str, max: usize| match form.get(name) {
            Some(value) if value.len() > max => Err(OAuthError::invalid_request(format!(
                "`{name}` is longer than {max} bytes"
            ))),
            value => Ok(value.map(str::to_owned)),
        };
        let request = Self {
            id_token_hint: bounded("id_token_hint", MAX_ID_TOKEN_HINT)?,
            client_id: bounded("client_id", MAX_CLIENT_ID)?,
            post_logout_redirect_uri: bounded("post_logout_redirect_uri", MAX_REDIRECT_URI)?,
            state: bounded("state", MAX_STATE)?,
        };
        if request.post_logout_redirect_uri.is_some()
            && request.client_id.is_none()
            && request.id_token_hint.is_none()
        {
            // §3: without a client, the URI cannot be checked against a registration.
            return Err(OAuthError::invalid_request(
                "post_logout_redirect_uri needs client_id or id_token_hint to say \
                 which client registered it",
            ));
        }
        Ok(request)
    }
}

/// `uri` as a URL, if `client` registered it as a post-logout redirect URI: the
/// same string, byte for byte (§3), with the loopback rule of redirect URIs at the
/// authorization endpoint (a native app's loopback listener takes any port).
pub fn check_post_logout_redirect(client: &Client, uri: &str) -> Result<Url, OAuthError> {
    let registered = |r: &String| crate::authorize::redirect_uri_matches(r, uri);
    if !client.post_logout_redirect_uris.iter().any(registered) {
        return Err(OAuthError::invalid_request(
            "post_logout_redirect_uri is not registered for this client; it must match \
             a registered URI exactly",
        ));
    }
    Url::parse(uri)
        .map_err(|_| OAuthError::invalid_request("post_logout_redirect_uri is not an absolute URI"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::grant_type::AllowedGrantTypes;

    fn request(body: &str) -> Result<EndSessionRequest, OAuthError> {
        EndSessionRequest::parse(&Form::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn every_parameter_is_read() {
        let parsed = request(
            "id_token_hint=eyJ.x.y&client_id=app&\
             post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye&state=s",
        )
        .unwrap();
        assert_eq!(
            parsed,
            EndSessionRequest {
                id_token_hint: Some("eyJ.x.y".into()),
                client_id: Some("app".into()),
                post_logout_redirect_uri: Some("https://app.example.com/bye".into()),
                state: Some("s".into()),
            }
        );
        assert_eq!(request("").unwrap(), EndSessionRequest::default());
    }

    #[test]
    fn a_redirect_needs_a_client() {
        let uri = "post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye";
        assert_eq!(request(uri).unwrap_err().code, ErrorCode::InvalidRequest);
        assert!(request(&format!("{uri}&client_id=app")).is_ok());
        assert!(request(&format!("{uri}&id_token_hint=eyJ")).is_ok());
    }

    #[test]
    fn overlong_values_are_refused() {
        for (name, max) in [
            ("id_token_hint", MAX_ID_TOKEN_HINT),
            ("client_id", MAX_CLIENT_ID),
            ("state", MAX_STATE),
        ] {
            assert!(request(&format!("{name}={}", "a".repeat(max))).is_ok());
            let err = request(&format!("{name}={}", "a".repeat(max + 1))).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{name}");
        }
    }

    #[test]
    fn the_redirect_must_be_registered_exactly() {
        let client = Client {
            post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
            ..Client::new("app", AllowedGrantTypes::preset("code").unwrap())
        };
        let url = check_post_logout_redirect(&client, "https://app.example.com/bye").unwrap();
        assert_eq!(url.as_str(), "https://app.example.com/bye");
        for bad in [
            "https://app.example.com/bye/",
            "https://app.example.com/bye?next=x",
            "https://APP.example.com/bye",
            "https://evil.example/bye",
            "",
        ] {
            assert_eq!(
                check_post_logout_redirect(&client, bad).unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
    }
}
