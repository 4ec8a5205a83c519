//! Proof Key for Code Exchange (RFC 7636).
//!
//! A client that starts a code flow sends a challenge derived from a secret verifier;
//! only whoever knows the verifier can redeem the code, so a code stolen from the
//! redirect (another app claiming the same URI scheme, a leaked log) is useless.
//! `S256` sends the SHA-256 of the verifier; `plain` sends the verifier itself and
//! only helps when the attacker sees the response but not the request, so clients
//! must opt in to it.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::OAuthError;

/// Shortest challenge or verifier (RFC 7636 §4.1: 32 random octets, base64url).
const MIN_LEN: usize = 43;
/// Longest challenge or verifier (RFC 7636 §4.1, §4.2).
const MAX_LEN: usize = 128;

/// `code_challenge_method` (RFC 7636 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeChallengeMethod {
    S256,
    Plain,
}

impl CodeChallengeMethod {
    /// Every method, for discovery's `code_challenge_methods_supported`.
    pub const ALL: [CodeChallengeMethod; 2] = [Self::S256, Self::Plain];

    /// The name as sent and as listed in discovery's
    /// `code_challenge_methods_supported`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }

    /// Parses a method name; names are case-sensitive (RFC 7636 §4.2).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "S256" => Some(Self::S256),
            "plain" => Some(Self::Plain),
            _ => None,
        }
    }
}

impl fmt::Display for CodeChallengeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The challenge an authorization request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge {
    pub challenge: String,
    pub method: CodeChallengeMethod,
}

impl CodeChallenge {
    /// Reads `code_challenge` and `code_challenge_method`. No challenge is `None`
    /// (whether one is required is the caller's rule); a challenge without a method
    /// is `plain`, as RFC 7636 §4.3 says; a method without a challenge, an unknown
    /// method or a malformed challenge is `invalid_request`.
    pub fn parse(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<CodeChallenge>, OAuthError> {
        let Some(challenge) = challenge else {
            return match method {
                None => Ok(None),
                Some(_) => Err(OAuthError::invalid_request(
                    "code_challenge_method was sent without a code_challenge",
                )),
            };
        };
        let method = match method {
            None => CodeChallengeMethod::Plain,
            Some(name) => CodeChallengeMethod::parse(name).ok_or_else(|| {
                OAuthError::invalid_request(
                    "code_challenge_method must be S256 or plain (RFC 7636 §4.3)",
                )
            })?,
        };
        if !is_well_formed(challenge) {
            return Err(OAuthError::invalid_request(
                "code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ \
                 (RFC 7636 §4.2)",
            ));
        }
        Ok(Some(CodeChallenge {
            challenge: challenge.to_owned(),
            method,
        }))
    }
}

/// 43 to 128 characters of RFC 3986's unreserved set (RFC 7636 §4.1, §4.2).
fn is_well_formed(value: &str) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of `verifier`: BASE64URL(SHA-256(verifier)), RFC 7636 §4.2.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()).as_ref())
}

/// Whether `verifier` answers `challenge` (RFC 7636 §4.6). A malformed verifier
/// never verifies, even against a `plain` challenge equal to it. The comparison takes
/// the same time wherever the values differ, so it does not leak the challenge.
pub fn verify(challenge: &str, method: CodeChallengeMethod, verifier: &str) -> bool {
    if !is_well_formed(verifier) {
        return false;
    }
    let computed = match method {
        CodeChallengeMethod::S256 => s256(verifier),
        CodeChallengeMethod::Plain => verifier.to_owned(),
    };
    verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert!(verify(CHALLENGE, CodeChallengeMethod::S256, VERIFIER));
        assert_eq!(s256(VERIFIER), CHALLENGE);
        let mut wrong = VERIFIER.to_owned();
        wrong.replace_range(0..1, "e");
        assert!(!verify(CHALLENGE, CodeChallengeMethod::S256, &wrong));
        // The challenge itself is not a verifier for S256.
        assert!(!verify(CHALLENGE, CodeChallengeMethod::S256, CHALLENGE));
    }

    #[test]
    fn plain_compares_the_verifier_itself() {
        assert!(verify(VERIFIER, CodeChallengeMethod::Plain, VERIFIER));
        assert!(!verify(VERIFIER, CodeChallengeMethod::Plain, CHALLENGE));
    }

    #[test]
    fn malformed_verifiers_never_verify() {
        let short = &VERIFIER[..42];
        assert!(!verify(short, CodeChallengeMethod::Plain, short));
        let long = "a".repeat(129);
        assert!(!verify(&long, CodeChallengeMethod::Plain, &long));
        let odd = format!("{}+", &VERIFIER[..42]);
        assert!(!verify(&odd, CodeChallengeMethod::Plain, &odd));
        assert!(!verify("", CodeChallengeMethod::S256, ""));
    }

    #[test]
    fn parse_defaults_to_plain_and_checks_the_challenge() {
        assert_eq!(CodeChallenge::parse(None, None).unwrap(), None);
        let plain = CodeChallenge::parse(Some(CHALLENGE), None)
            .unwrap()
            .unwrap();
        assert_eq!(plain.method, CodeChallengeMethod::Plain);
        let s256 = CodeChallenge::parse(Some(CHALLENGE), Some("S256"))
            .unwrap()
            .unwrap();
        assert_eq!(s256.method, CodeChallengeMethod::S256);
        assert_eq!(s256.challenge, CHALLENGE);
        let max = "~".repeat(128);
        assert!(CodeChallenge::parse(Some(&max), Some("plain")).is_ok());
        for (challenge, method) in [
            (None, Some("S256")),
            (Some(CHALLENGE), Some("s256")),
            (Some(CHALLENGE), Some("RS256")),
            (Some(&CHALLENGE[..42]), Some("S256")),
            (Some(&"a".repeat(129)), Some("S256")),
            (
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw=cM"),
                Some("S256"),
            ),
        ] {
            assert_eq!(
                CodeChallenge::parse(challenge, method).unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{challenge:?} {method:?}"
            );
        }
    }

    #[test]
    fn method_names_round_trip() {
        for method in CodeChallengeMethod::ALL {
            assert_eq!(CodeChallengeMethod::parse(method.as_str()), Some(method));
        }
    }

    proptest::proptest! {
        #[test]
        fn a_verifier_verifies_its_own_s256_challenge(verifier in "[A-Za-z0-9._~-]{43,128}") {
            let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()).as_ref());
            proptest::prop_assert!(verify(&challenge, CodeChallengeMethod::S256, &verifier));
        }
    }
}
