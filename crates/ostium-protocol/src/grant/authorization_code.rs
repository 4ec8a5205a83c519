//! The authorization code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636
//! §4.5): a client trades the code it got through the browser for tokens.
//!
//! What the code stands for (client, redirect URI, PKCE challenge, user, scopes) was
//! stored when it was issued; this module reads the request and checks it against
//! that record. Spending the code once only is the store's rule, not this one's.

use std::fmt;

use crate::client::Client;
use crate::error::OAuthError;
use crate::form::Form;
use crate::pkce::{self, CodeChallengeMethod};

/// Longest code accepted; ours are 43 characters.
const MAX_CODE_LEN: usize = 512;

/// What every refusal about the code itself says, so a client cannot tell an unknown
/// code from another client's.
const INVALID_CODE: &str = "the authorization code is not valid";

/// `grant_type=authorization_code`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationCodeRequest {
    pub code: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

/// The code and the verifier must never reach a log through `{:?}`.
impl fmt::Debug for AuthorizationCodeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCodeRequest")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// What was recorded when the code was issued, as the caller read it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedCode<'a> {
    pub client_id: &'a str,
    /// The `redirect_uri` of the authorization request, as sent.
    pub redirect_uri: &'a str,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<CodeChallengeMethod>,
}

impl AuthorizationCodeRequest {
    /// RFC 6749 §4.1.3. A code too long to be one of ours is refused as invalid
    /// before it is looked up.
    pub fn parse(form: &Form) -> Result<Self, OAuthError> {
        let code = form.require("code")?;
        if code.len() > MAX_CODE_LEN {
            return Err(OAuthError::invalid_grant(INVALID_CODE));
        }
        Ok(Self {
            code: code.to_owned(),
            redirect_uri: form.get("redirect_uri").map(str::to_owned),
            code_verifier: form.get("code_verifier").map(str::to_owned),
        })
    }

    /// RFC 6749 §4.1.3, RFC 7636 §4.6: the code must have been issued to this
    /// client, for the same redirect URI, and the verifier must answer its challenge.
    pub fn validate(&self, client: &Client, issued: &IssuedCode<'_>) -> Result<(), OAuthError> {
        if issued.client_id != client.client_id {
            // Same answer as an unknown code: a client learns nothing about others'.
            return Err(OAuthError::invalid_grant(INVALID_CODE));
        }
        // Ostium always records the redirect URI, so it is always required here:
        // a code injected into another redirect URI is caught (RFC 6749 §4.1.3).
        if self.redirect_uri.as_deref() != Some(issued.redirect_uri) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri must be the one of the authorization request",
            ));
        }
        match (issued.code_challenge, self.code_verifier.as_deref()) {
            (None, None) => Ok(()),
            (Some(challenge), Some(verifier)) => {
                // A challenge stored without a method was `plain` (RFC 7636 §4.3).
                let method = issued
                    .code_challenge_method
                    .unwrap_or(CodeChallengeMethod::Plain);
                if pkce::verify(challenge, method, verifier) {
                    Ok(())
                } else {
                    Err(OAuthError::invalid_grant(
                        "code_verifier does not match the code_challenge",
                    ))
                }
            }
            (Some(_), None) => Err(OAuthError::invalid_grant(
                "missing code_verifier: the authorization request sent a code_challenge",
            )),
            // RFC 9700 §2.1.1: a verifier for a code issued without a challenge means
            // the code was swapped for one obtained without PKCE.
            (None, Some(_)) => Err(OAuthError::invalid_grant(
                "code_verifier was sent but the authorization request had no \
                 code_challenge",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::grant_type::AllowedGrantTypes;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CB: &str = "https://app.example.com/cb";

    fn client(id: &str) -> Client {
        Client::new(id, AllowedGrantTypes::preset("code").unwrap())
    }

    fn issued() -> IssuedCode<'static> {
        IssuedCode {
            client_id: "app",
            redirect_uri: CB,
            code_challenge: Some(CHALLENGE),
            code_challenge_method: Some(CodeChallengeMethod::S256),
        }
    }

    fn request(body: &str) -> Result<AuthorizationCodeRequest, OAuthError> {
        AuthorizationCodeRequest::parse(&Form::parse(body.as_bytes()).unwrap())
    }

    fn valid() -> String {
        format!(
            "grant_type=authorization_code&code=c0de&redirect_uri={}&code_verifier={VERIFIER}",
            form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
        )
    }

    #[test]
    fn a_matching_request_is_valid() {
        let parsed = request(&valid()).unwrap();
        assert_eq!(parsed.code, "c0de");
        parsed.validate(&client("app"), &issued()).unwrap();
    }

    #[test]
    fn code_is_required_and_bounded() {
        assert_eq!(
            request("grant_type=authorization_code").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        let long = format!("code={}", "a".repeat(MAX_CODE_LEN + 1));
        assert_eq!(request(&long).unwrap_err().code, ErrorCode::InvalidGrant);
        assert!(request(&format!("code={}", "a".repeat(MAX_CODE_LEN))).is_ok());
    }

    #[test]
    fn another_clients_code_reads_as_an_unknown_one() {
        let err = request(&valid())
            .unwrap()
            .validate(&client("mallory"), &issued())
            .unwrap_err();
        assert_eq!(err, OAuthError::invalid_grant(INVALID_CODE));
    }

    #[test]
    fn the_redirect_uri_must_be_the_authorization_requests() {
        let app = client("app");
        for body in [
            valid().replace("&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb", ""),
            valid().replace("%2Fcb", "%2Fcb%2F"),
            valid().replace("app.example", "APP.example"),
        ] {
            let err = request(&body)
                .unwrap()
                .validate(&app, &issued())
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidGrant, "{body}");
        }
    }

    #[test]
    fn the_verifier_must_answer_the_challenge() {
        let app = client("app");
        let wrong = valid().replace(VERIFIER, &VERIFIER.replace('d', "e"));
        let missing = valid().replace(&format!("&code_verifier={VERIFIER}"), "");
        for body in [wrong, missing] {
            let err = request(&body)
                .unwrap()
                .validate(&app, &issued())
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidGrant, "{body}");
        }
        // A plain challenge (or one stored without a method) is the verifier itself.
        let plain = IssuedCode {
            code_challenge: Some(VERIFIER),
            code_challenge_method: None,
            ..issued()
        };
        request(&valid()).unwrap().validate(&app, &plain).unwrap();
    }

    #[test]
    fn a_verifier_without_a_challenge_is_a_downgrade() {
        let app = client("app");
        let no_pkce = IssuedCode {
            code_challenge: None,
            code_challenge_method: None,
            ..issued()
        };
        let err = request(&valid())
            .unwrap()
            .validate(&app, &no_pkce)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        let without = valid().replace(&format!("&code_verifier={VERIFIER}"), "");
        request(&without).unwrap().validate(&app, &no_pkce).unwrap();
    }

    #[test]
    fn debug_hides_the_code_and_the_verifier() {
        let debug = format!("{:?}", request(&valid()).unwrap());
        assert!(
            !debug.contains("c0de") && !debug.contains(VERIFIER),
            "{debug}"
        );
    }

    proptest::proptest! {
        #[test]
        fn no_code_request_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(form) = Form::parse(&body)
                && let Ok(request) = AuthorizationCodeRequest::parse(&form)
            {
                let _ = request.validate(&client("app"), &issued());
            }
        }
    }
}
