//! Access tokens as JWTs (RFC 9068, "JSON Web Token Profile for OAuth 2.0 Access
//! Tokens").
//!
//! A grant describes the token it wants in an [`AccessTokenGrant`]; an
//! [`AccessTokenStrategy`] turns that into the string the client receives. The JWT
//! strategy is the default; reference and Biscuit tokens are other strategies behind
//! the same interface.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::TokenError;
use crate::handle::random_id;
use crate::jws::{sign_compact, verify_compact_by};
use crate::key_ring::KeyRing;
use crate::verified::VerifiedTokens;

/// The `typ` header of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Everything that goes into one access token.
#[derive(Debug, Clone, Copy)]
pub struct AccessTokenGrant<'a> {
    pub client_id: &'a str,
    /// The user the token is about; `None` for a client acting on its own behalf.
    pub subject: Option<&'a str>,
    /// Space-delimited granted scopes.
    pub scope: &'a str,
    /// The API resources the token is for; empty means the server's default audience.
    pub audiences: &'a [String],
    /// Seconds since the Unix epoch.
    pub issued_at: u64,
    pub lifetime: u32,
    /// When the user authenticated (seconds since the Unix epoch), for user tokens.
    pub auth_time: Option<u64>,
    /// How the user authenticated (RFC 8176 values, e.g. `pwd`).
    pub amr: Option<&'a str>,
    /// The refresh-token family issued with the token, if any: carried as the
    /// private claim `fam`, so that revoking the family (or reusing one of its
    /// refresh tokens) makes the token inactive at introspection too.
    pub family: Option<&'a str>,
}

/// The claims of a JWT access token this server issued, once its signature checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub exp: u64,
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub sub: String,
    pub client_id: String,
    pub iat: u64,
    #[serde(default)]
    pub nbf: Option<u64>,
    pub jti: String,
    pub scope: String,
    #[serde(default)]
    pub auth_time: Option<u64>,
    /// The refresh-token family the token was issued with (private claim `fam`).
    #[serde(default)]
    pub fam: Option<String>,
}

/// RFC 7519 §4.1.3: `aud` is a string or an array of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// Mints access tokens.
pub trait AccessTokenStrategy: Send + Sync {
    fn issue(&self, grant: &AccessTokenGrant<'_>) -> Result<String, TokenError>;
}

/// RFC 9068 JWT access tokens signed with the key ring's active key.
#[derive(Debug, Clone)]
pub struct JwtAccessTokens {
    issuer: Arc<str>,
    default_audience: Arc<str>,
    keys: Arc<KeyRing>,
    verified: Arc<VerifiedTokens>,
}

/// How many verified tokens a node remembers (about 300 bytes each).
const VERIFIED_TOKENS: usize = 100_000;

impl JwtAccessTokens {
    /// Tokens whose scopes map to no API resource are given `{issuer}/resources` as
    /// audience, because RFC 9068 requires an `aud`.
    pub fn new(issuer: &str, keys: Arc<KeyRing>) -> Self {
        Self {
            issuer: issuer.into(),
            default_audience: format!("{}/resources", issuer.trim_end_matches('/')).into(),
            keys,
            verified: Arc::new(VerifiedTokens::new(VERIFIED_TOKENS)),
        }
    }
}

impl JwtAccessTokens {
    /// The claims of `token` if this server signed it as an access token with a key
    /// it still publishes. Expiry and revocation are the caller's to check.
    pub fn decode(&self, token: &str) -> Option<AccessTokenClaims> {
        // A remembered token counts only while its key is still published: a key
        // retired or withdrawn since stops vouching for it at once.
        if let Some((kid, claims)) = self.verified.get(token)
            && self.keys.publishes(&kid)
        {
            return Some(claims);
        }
        let (kid, payload) = verify_compact_by(&self.keys, token, ACCESS_TOKEN_TYP)?;
        let claims: AccessTokenClaims = serde_json::from_slice(&payload).ok()?;
        if claims.iss != *self.issuer {
            return None;
        }
        self.verified.insert(token, &kid, &claims);
        Some(claims)
    }

    /// Forgets every token remembered as verified.
    pub fn forget_verified_tokens(&self) {
        self.verified.clear();
    }

    /// Forgets the tokens remembered as verified by `kid`: a withdrawn key's tokens
    /// do not linger in memory (`decode` refuses them anyway once the key is gone
    /// from the ring).
    pub fn forget_verified_by(&self, kid: &str) {
        self.verified.forget_kid(kid);
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

/// RFC 9068 §2.2, in the order the RFC lists them.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    exp: u64,
    aud: Audience<'a>,
    sub: &'a str,
    client_id: &'a str,
    iat: u64,
    nbf: u64,
    jti: &'a str,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<[&'a str; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fam: Option<&'a str>,
}

impl AccessTokenStrategy for JwtAccessTokens {
    fn issue(&self, grant: &AccessTokenGrant<'_>) -> Result<String, TokenError> {
        let jti = random_id::<16>()?;
        let aud = match grant.audiences {
            [] => Audience::One(&self.default_audience),
            [one] => Audience::One(one),
            many => Audience::Many(many),
        };
        let claims = Claims {
            iss: &self.issuer,
            exp: grant.issued_at + u64::from(grant.lifetime),
            aud,
            sub: grant.subject.unwrap_or(grant.client_id),
            client_id: grant.client_id,
            iat: grant.issued_at,
            nbf: grant.issued_at,
            jti: &jti,
            scope: grant.scope,
            auth_time: grant.auth_time,
            amr: grant.amr.map(|m| [m]),
            fam: grant.family,
        };
        let key = self.keys.active()?;
        sign_compact(&key, ACCESS_TOKEN_TYP, &claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::SigningAlgorithm;
    use crate::key::SigningKey;
    use crate::verified::VerifiedTokens;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::Jwk};
    use serde_json::Value;

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn verify(token: &str, ring: &KeyRing, audience: &str) -> Value {
        let header = decode_header(token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let jwk: Jwk = serde_json::from_value(
            ring.published()
                .into_iter()
                .find(|k| Some(k.kid()) == header.kid.as_deref())
                .expect("kid is published")
                .public_jwk()
                .clone(),
        )
        .unwrap();
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&["https://id.example.com"]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        decode::<Value>(token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn every_algorithm_produces_a_verifiable_rfc9068_token() {
        for (algorithm, expected) in [
            (SigningAlgorithm::ES256, Algorithm::ES256),
            (SigningAlgorithm::EdDSA, Algorithm::EdDSA),
            (SigningAlgorithm::PS256, Algorithm::PS256),
            (SigningAlgorithm::RS256, Algorithm::RS256),
        ] {
            let (key, _) = SigningKey::generate(algorithm).unwrap();
            let ring = Arc::new(KeyRing::new(key, vec![]));
            let tokens = JwtAccessTokens::new("https://id.example.com", ring.clone());
            let audiences = vec!["urn:orders".to_owned()];
            let issued_at = now();
            let token = tokens
                .issue(&AccessTokenGrant {
                    client_id: "worker",
                    subject: None,
                    scope: "orders.read",
                    audiences: &audiences,
                    issued_at,
                    lifetime: 300,
                    auth_time: None,
                    amr: None,
                    family: None,
                })
                .unwrap();
            assert_eq!(decode_header(&token).unwrap().alg, expected);
            let claims = verify(&token, &ring, "urn:orders");
            assert_eq!(claims["sub"], "worker");
            assert_eq!(claims["client_id"], "worker");
            assert_eq!(claims["scope"], "orders.read");
            assert_eq!(claims["exp"], issued_at + 300);
            assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
            assert!(claims.get("auth_time").is_none());
        }
    }

    #[test]
    fn user_tokens_carry_subject_and_authentication() {
        let (key, _) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        let ring = Arc::new(KeyRing::new(key, vec![]));
        let tokens = JwtAccessTokens::new("https://id.example.com", ring.clone());
        let audiences = vec!["urn:a".to_owned(), "urn:b".to_owned()];
        let token = tokens
            .issue(&AccessTokenGrant {
                client_id: "app",
                subject: Some("8f1c"),
                scope: "openid a b",
                audiences: &audiences,
                issued_at: now(),
                lifetime: 60,
                auth_time: Some(1_700_000_000),
                amr: Some("pwd"),
                family: Some("f-1"),
            })
            .unwrap();
        let claims = verify(&token, &ring, "urn:b");
        assert_eq!(claims["sub"], "8f1c");
        assert_eq!(claims["aud"], serde_json::json!(["urn:a", "urn:b"]));
        assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
        assert_eq!(claims["auth_time"], 1_700_000_000);
        assert_eq!(claims["fam"], "f-1");
        assert_eq!(tokens.decode(&token).unwrap().fam.as_deref(), Some("f-1"));
    }

    #[test]
    fn decode_accepts_only_our_untampered_access_tokens() {
        let (key, _) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        let ring = Arc::new(KeyRing::new(key, vec![]));
        let tokens = JwtAccessTokens::new("https://id.example.com", ring.clone());
        let audiences = vec!["urn:a".to_owned()];
        let token = tokens
            .issue(&AccessTokenGrant {
                client_id: "app",
                subject: Some("u"),
                scope: "a",
                audiences: &audiences,
                issued_at: 1_000,
                lifetime: 60,
                auth_time: None,
                amr: None,
                family: None,
            })
            .unwrap();
        let claims = tokens.decode(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.exp), ("u", 1_060));
        assert_eq!(claims.aud, ["urn:a"]);
        // Another issuer's tokens, tampering, and other keys are refused.
        let elsewhere = JwtAccessTokens::new("https://other.example.com", ring.clone());
        assert_eq!(elsewhere.decode(&token), None);
        let (payload_start, payload_end) =
            (token.find('.').unwrap() + 1, token.rfind('.').unwrap());
        let mut tampered = token.clone();
        tampered.replace_range(payload_start..payload_start + 1, "X");
        assert_eq!(tokens.decode(&tampered), None);
        let (other, _) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        let stranger = JwtAccessTokens::new(
            "https://id.example.com",
            Arc::new(KeyRing::new(other, vec![])),
        );
        assert_eq!(stranger.decode(&token), None);
        // alg "none" with our kid.
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#,
            ring.active().unwrap().kid()
        ));
        let unsigned = format!("{header}.{}.", &token[payload_start..payload_end]);
        assert_eq!(tokens.decode(&unsigned), None);
        for junk in ["", "a.b", "a.b.c.d", "...", "eyJ.eyJ.x"] {
            assert_eq!(tokens.decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn verified_tokens_are_remembered_and_refused_ones_are_not() {
        let (key, _) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        let tokens = JwtAccessTokens::new(
            "https://id.example.com",
            Arc::new(KeyRing::new(key, vec![])),
        );
        let token = tokens
            .issue(&AccessTokenGrant {
                client_id: "app",
                subject: None,
                scope: "a",
                audiences: &[],
                issued_at: now(),
                lifetime: 60,
                auth_time: None,
                amr: None,
                family: None,
            })
            .unwrap();
        assert_eq!(tokens.verified.len(), 0);
        let first = tokens.decode(&token).unwrap();
        assert_eq!(tokens.verified.len(), 1);
        assert_eq!(tokens.decode(&token), Some(first));
        assert_eq!(tokens.verified.len(), 1);
        let mut tampered = token.clone();
        tampered.push('A');
        assert_eq!(tokens.decode(&tampered), None);
        assert_eq!(tokens.verified.len(), 1, "a refused token was remembered");
        // Another issuer's view never sees this one's memory.
        let elsewhere = JwtAccessTokens::new("https://other.example.com", tokens.keys.clone());
        assert_eq!(elsewhere.decode(&token), None);
    }

    #[test]
    fn the_verified_tokens_stay_bounded() {
        let claims = AccessTokenClaims {
            iss: "i".into(),
            exp: now() + 60,
            aud: vec!["a".into()],
            sub: "s".into(),
            client_id: "c".into(),
            iat: 0,
            nbf: None,
            jti: "j".into(),
            scope: "a".into(),
            auth_time: None,
            fam: None,
        };
        let verified = VerifiedTokens::new(100);
        verified.insert("introspected", "kid", &claims);
        for i in 0..1_000 {
            // A resource server keeps introspecting one token while others pass once.
            assert!(verified.get("introspected").is_some(), "evicted after {i}");
            verified.insert(&format!("once-{i}"), "kid", &claims);
        }
        assert!(verified.len() <= 100, "{} remembered", verified.len());
        assert!(verified.get("once-999").is_some());
    }

    #[test]
    fn forgotten_tokens_are_verified_again() {
        let (key, _) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        let tokens = JwtAccessTokens::new(
            "https://id.example.com",
            Arc::new(KeyRing::new(key, vec![])),
        );
        let token = tokens
            .issue(&AccessTokenGrant {
                client_id: "app",
                subject: None,
                scope: "a",
                audiences: &[],
                issued_at: now(),
                lifetime: 60,
                auth_time: None,
                amr: None,
                family: None,
            })
            .unwrap();
        let claims = tokens.decode(&token).unwrap();
        let clone = tokens.clone();
        clone.forget_verified_tokens();
        assert_eq!(tokens.verified.len(), 0, "clones share what they remember");
        assert_eq!(tokens.decode(&token), Some(claims));
        assert_eq!(tokens.verified.len(), 1);
    }

    #[test]
    fn a_remembered_token_fails_once_its_key_leaves_the_ring() {
        let (old, old_pkcs8) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        let (new, new_pkcs8) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        let copy = |pkcs8: &[u8]| SigningKey::from_pkcs8(SigningAlgorithm::ES256, pkcs8).unwrap();
        let ring = Arc::new(KeyRing::new(copy(&old_pkcs8), vec![]));
        let tokens = JwtAccessTokens::new("https://id.example.com", ring.clone());
        let grant = AccessTokenGrant {
            client_id: "app",
            subject: None,
            scope: "a",
            audiences: &[],
            issued_at: now(),
            lifetime: 60,
            auth_time: None,
            amr: None,
            family: None,
        };
        let by_old = tokens.issue(&grant).unwrap();
        assert!(tokens.decode(&by_old).is_some());
        // Rotated: the old key verifies, the new one signs.
        ring.replace(crate::KeySet::new(
            Some(copy(&new_pkcs8)),
            vec![copy(&old_pkcs8)],
        ));
        let by_new = tokens.issue(&grant).unwrap();
        assert!(tokens.decode(&by_old).is_some());
        assert!(tokens.decode(&by_new).is_some());
        assert_eq!(tokens.verified.len(), 2);
        // The old key withdrawn: its token fails though it is remembered.
        ring.replace(crate::KeySet::new(Some(new), vec![]));
        assert_eq!(tokens.decode(&by_old), None);
        tokens.forget_verified_by(old.kid());
        assert_eq!(
            tokens.verified.len(),
            1,
            "only the withdrawn key's tokens go"
        );
        assert!(tokens.decode(&by_new).is_some());
    }

    #[test]
    fn no_resource_means_the_default_audience() {
        let (key, _) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        let ring = Arc::new(KeyRing::new(key, vec![]));
        let token = JwtAccessTokens::new("https://id.example.com", ring.clone())
            .issue(&AccessTokenGrant {
                client_id: "app",
                subject: Some("u"),
                scope: "openid",
                audiences: &[],
                issued_at: now(),
                lifetime: 60,
                auth_time: None,
                amr: None,
                family: None,
            })
            .unwrap();
        verify(&token, &ring, "https://id.example.com/resources");
    }
}
