//! Compact JWS serialization (RFC 7515 §7.1): `header.payload.signature`, each part
//! base64url without padding; signing, and verifying tokens this server signed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::TokenError;
use crate::key::SigningKey;
use crate::key_ring::KeyRing;

/// Signs `claims` with `key` as a JWS of type `typ` (`at+jwt` for access tokens,
/// `JWT` for ID tokens).
pub fn sign_compact(
    key: &SigningKey,
    typ: &str,
    claims: &impl Serialize,
) -> Result<String, TokenError> {
    let payload = serde_json::to_vec(claims)?;
    let header = key.header(typ);
    let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 400);
    token.push_str(&header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
    Ok(token)
}

#[derive(Deserialize)]
struct Header<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: Option<&'a str>,
}

/// Verifies a compact JWS of type `typ` against the published keys and returns its
/// payload. `None` for anything malformed, of another type, signed by an unknown key
/// or with an algorithm that is not the key's (no `alg: none`, no confusion).
pub fn verify_compact(keys: &KeyRing, token: &str, typ: &str) -> Option<Vec<u8>> {
    verify_compact_by(keys, token, typ).map(|(_, payload)| payload)
}

/// As [`verify_compact`], with the `kid` of the key that verified the token.
pub(crate) fn verify_compact_by(
    keys: &KeyRing,
    token: &str,
    typ: &str,
) -> Option<(String, Vec<u8>)> {
    let mut parts = token.splitn(3, '.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if signature.contains('.') {
        return None;
    }
    let header_json = URL_SAFE_NO_PAD.decode(header).ok()?;
    let parsed: Header<'_> = serde_json::from_slice(&header_json).ok()?;
    let key = keys.find(parsed.kid)?;
    if parsed.alg != key.algorithm().name() || parsed.typ != Some(typ) {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let signing_input = &token[..header.len() + 1 + payload.len()];
    if !key.verify(signing_input.as_bytes(), &signature) {
        return None;
    }
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    Some((parsed.kid.to_owned(), payload))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::Jwk};
    use serde_json::{Value, json};

    use super::*;
    use crate::access_token::ACCESS_TOKEN_TYP;
    use crate::algorithm::SigningAlgorithm;

    fn ring() -> KeyRing {
        let (key, _) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        KeyRing::new(key, vec![])
    }

    #[test]
    fn the_access_token_header_is_the_precomputed_one() {
        let ring = ring();
        let key = &ring.active().unwrap();
        let header = key.header(ACCESS_TOKEN_TYP);
        assert!(matches!(header, Cow::Borrowed(_)));
        let decoded: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&*header).unwrap()).unwrap();
        assert_eq!(
            decoded,
            json!({ "alg": "ES256", "kid": key.kid(), "typ": "at+jwt" })
        );
    }

    #[test]
    fn a_jwt_of_another_type_verifies_as_that_type_only() {
        let ring = ring();
        let key = &ring.active().unwrap();
        let claims =
            json!({ "iss": "https://id.example.com", "sub": "u", "exp": 4_000_000_000u64 });
        let token = sign_compact(key, "JWT", &claims).unwrap();

        let header = decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let jwk: Jwk = serde_json::from_value(key.public_jwk().clone()).unwrap();
        let verified = decode::<Value>(
            &token,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &Validation::new(header.alg),
        )
        .unwrap();
        assert_eq!(verified.claims, claims);

        // Type confusion: an ID token is not an access token, nor the reverse.
        assert!(verify_compact(&ring, &token, ACCESS_TOKEN_TYP).is_none());
        assert!(verify_compact(&ring, &token, "JWT").is_some());
        let access = sign_compact(key, ACCESS_TOKEN_TYP, &claims).unwrap();
        assert!(verify_compact(&ring, &access, "JWT").is_none());
        assert!(verify_compact(&ring, &access, ACCESS_TOKEN_TYP).is_some());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever a client sends as a token, checking it never panics, and only
        /// this server's tokens of the asked type verify.
        #[test]
        fn no_token_panics_and_strangers_never_verify(token in "\\PC{0,300}") {
            let ring = ring();
            proptest::prop_assert!(verify_compact(&ring, &token, ACCESS_TOKEN_TYP).is_none());
            let dotted = format!("{token}.{token}.{token}");
            proptest::prop_assert!(verify_compact(&ring, &dotted, ACCESS_TOKEN_TYP).is_none());
        }

        /// Sign, verify, and the payload is what was signed, byte for byte.
        #[test]
        fn sign_then_verify_gives_back_the_claims(sub in "\\PC{0,40}", n in proptest::prelude::any::<u64>()) {
            let ring = ring();
            let claims = json!({"sub": sub, "n": n});
            let token = sign_compact(&ring.active().unwrap(), ACCESS_TOKEN_TYP, &claims).unwrap();
            let payload = verify_compact(&ring, &token, ACCESS_TOKEN_TYP).unwrap();
            proptest::prop_assert_eq!(serde_json::from_slice::<Value>(&payload).unwrap(), claims);
        }
    }
}
