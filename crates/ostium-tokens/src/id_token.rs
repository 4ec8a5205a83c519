//! ID tokens (OpenID Connect Core 1.0 §2): what the relying party learns of the
//! user's authentication, signed with the key ring's active key as a JWS of type
//! `JWT`, and read back when a logout request names one as `id_token_hint`.
//!
//! An ID token returned beside an access token, a code or a `state` from the
//! authorization endpoint binds them with `at_hash`, `c_hash` and `s_hash` (§3.3.2.11,
//! FAPI's `s_hash`): the left half of the hash the signing algorithm uses, so a token
//! swapped in the front channel no longer matches the signed one.

use std::sync::Arc;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::TokenError;
use crate::algorithm::SigningAlgorithm;
use crate::jws::{sign_compact, verify_compact};
use crate::key_ring::KeyRing;

/// The `typ` header of an ID token.
pub const ID_TOKEN_TYP: &str = "JWT";

/// Claims an ID token sets itself; a user claim of the same name is left out rather
/// than allowed to overwrite them.
const PROTOCOL_CLAIMS: [&str; 14] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "auth_time",
    "nonce",
    "sid",
    "amr",
    "at_hash",
    "c_hash",
    "s_hash",
    "azp",
];

/// Everything that goes into one ID token.
#[derive(Debug, Clone, Copy)]
pub struct IdTokenGrant<'a> {
    pub client_id: &'a str,
    pub subject: &'a str,
    /// Seconds since the Unix epoch.
    pub issued_at: u64,
    pub lifetime: u32,
    pub auth_time: u64,
    /// RFC 8176 values (`pwd`).
    pub amr: &'a str,
    pub nonce: Option<&'a str>,
    /// The login session (OpenID Connect Front-Channel Logout §3's `sid`).
    pub session_id: Option<&'a str>,
    /// Issued beside it from the authorization endpoint, for `at_hash`, `c_hash`,
    /// `s_hash`.
    pub access_token: Option<&'a str>,
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    /// The user's claims the granted identity scopes release.
    pub user_claims: &'a Map<String, Value>,
}

/// The claims of an ID token this server signed, as `id_token_hint` is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default)]
    pub sid: Option<String>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    auth_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    amr: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    c_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s_hash: Option<String>,
    #[serde(flatten)]
    user_claims: Map<String, Value>,
}

/// Mints and reads ID tokens with one key ring.
#[derive(Debug, Clone)]
pub struct IdTokens {
    issuer: Arc<str>,
    keys: Arc<KeyRing>,
}

impl IdTokens {
    pub fn new(issuer: &str, keys: Arc<KeyRing>) -> Self {
        Self {
            issuer: issuer.into(),
            keys,
        }
    }

    pub fn issue(&self, grant: &IdTokenGrant<'_>) -> Result<String, TokenError> {
        let key = &self.keys.active()?;
        let hash = |value: Option<&str>| value.map(|v| half_hash(key.algorithm(), v));
        let user_claims = grant
            .user_claims
            .iter()
            .filter(|(name, _)| !PROTOCOL_CLAIMS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let claims = Claims {
            iss: &self.issuer,
            sub: grant.subject,
            aud: grant.client_id,
            exp: grant.issued_at + u64::from(grant.lifetime),
            iat: grant.issued_at,
            auth_time: grant.auth_time,
            nonce: grant.nonce,
            sid: grant.session_id,
            amr: [grant.amr],
            at_hash: hash(grant.access_token),
            c_hash: hash(grant.code),
            s_hash: hash(grant.state),
            user_claims,
        };
        sign_compact(key, ID_TOKEN_TYP, &claims)
    }

    /// The claims of an ID token this server signed with a key it still publishes,
    /// expired or not: a logout request may carry an old one (RP-Initiated Logout
    /// §2 asks only that the OP issued it).
    pub fn decode_hint(&self, token: &str) -> Option<IdTokenClaims> {
        let payload = verify_compact(&self.keys, token, ID_TOKEN_TYP)?;
        let claims: IdTokenClaims = serde_json::from_slice(&payload).ok()?;
        (claims.iss == *self.issuer).then_some(claims)
    }
}

/// OpenID Connect Core §3.1.3.6: base64url of the left half of the hash of `value`,
/// with the hash of the signing algorithm (SHA-256 for ES256, PS256 and RS256;
/// SHA-512 for EdDSA with Ed25519, as the specification's errata set 2 has it).
pub fn half_hash(algorithm: SigningAlgorithm, value: &str) -> String {
    let hash = match algorithm {
        SigningAlgorithm::EdDSA => &digest::SHA512,
        SigningAlgorithm::ES256 | SigningAlgorithm::PS256 | SigningAlgorithm::RS256 => {
            &digest::SHA256
        }
    };
    let full = digest::digest(hash, value.as_bytes());
    let bytes = full.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::SigningKey;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::Jwk};

    fn ring(algorithm: SigningAlgorithm) -> Arc<KeyRing> {
        Arc::new(KeyRing::new(
            SigningKey::generate(algorithm).unwrap().0,
            vec![],
        ))
    }

    fn grant<'a>(claims: &'a Map<String, Value>) -> IdTokenGrant<'a> {
        IdTokenGrant {
            client_id: "web",
            subject: "alice-1",
            issued_at: 1_900_000_000,
            lifetime: 300,
            auth_time: 1_899_999_990,
            amr: "pwd",
            nonce: Some("n-0S6_WzA2Mj"),
            session_id: Some("sess-1"),
            access_token: Some("jHkWEdUXMU1BwAsC4vtUsZwnNXzeANZ6fk2Bl2LxsB0"),
            code: Some("Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"),
            state: None,
            user_claims: claims,
        }
    }

    #[test]
    fn c_hash_matches_the_specifications_example() {
        // OpenID Connect Core 1.0 Appendix A.4 (RS256).
        assert_eq!(
            half_hash(
                SigningAlgorithm::RS256,
                "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
            ),
            "LDktKdoQak3Pk0cnXxCltA"
        );
        assert_eq!(half_hash(SigningAlgorithm::EdDSA, "x").len(), 43);
    }

    #[test]
    fn an_id_token_verifies_and_carries_the_login_and_the_hashes() {
        for algorithm in SigningAlgorithm::ALL {
            let ring = ring(algorithm);
            let tokens = IdTokens::new("https://id.example.com", ring.clone());
            let mut user = Map::new();
            user.insert("email".into(), "alice@example.com".into());
            user.insert("sub".into(), "someone-else".into());
            let token = tokens.issue(&grant(&user)).unwrap();
            let header = decode_header(&token).unwrap();
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            let jwk: Jwk =
                serde_json::from_value(ring.active().unwrap().public_jwk().clone()).unwrap();
            let mut validation = Validation::new(header.alg);
            validation.set_issuer(&["https://id.example.com"]);
            validation.set_audience(&["web"]);
            validation.validate_exp = false;
            let claims =
                decode::<Value>(&token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
                    .unwrap()
                    .claims;
            assert_eq!(claims["sub"], "alice-1", "a user claim cannot replace sub");
            assert_eq!(claims["email"], "alice@example.com");
            assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
            assert_eq!(claims["sid"], "sess-1");
            assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
            assert_eq!(claims["exp"], 1_900_000_300u64);
            assert_eq!(claims["auth_time"], 1_899_999_990u64);
            assert_eq!(
                claims["at_hash"],
                half_hash(algorithm, "jHkWEdUXMU1BwAsC4vtUsZwnNXzeANZ6fk2Bl2LxsB0")
            );
            assert!(claims.get("s_hash").is_none());
            let hint = tokens.decode_hint(&token).unwrap();
            assert_eq!((hint.sub.as_str(), hint.aud.as_str()), ("alice-1", "web"));
        }
    }

    #[test]
    fn a_hint_from_another_issuer_or_an_access_token_is_refused() {
        let ring = ring(SigningAlgorithm::ES256);
        let ours = IdTokens::new("https://id.example.com", ring.clone());
        let theirs = IdTokens::new("https://other.example.com", ring.clone());
        let empty = Map::new();
        let token = theirs.issue(&grant(&empty)).unwrap();
        assert!(ours.decode_hint(&token).is_none());
        let access = crate::access_token::JwtAccessTokens::new("https://id.example.com", ring);
        let access_token = crate::AccessTokenStrategy::issue(
            &access,
            &crate::AccessTokenGrant {
                client_id: "web",
                subject: Some("alice-1"),
                scope: "openid",
                audiences: &[],
                issued_at: 1,
                lifetime: 60,
                auth_time: None,
                amr: None,
                family: None,
            },
        )
        .unwrap();
        assert!(ours.decode_hint(&access_token).is_none());
    }
}
