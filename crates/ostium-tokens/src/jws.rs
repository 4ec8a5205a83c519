//! Compact JWS serialization (RFC 7515 §7.1): `header.payload.signature`, each part
//! base64url without padding; signing, and verifying tokens this server signed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::TokenError;
use crate::key::SigningKey;
use crate::key_ring::KeyRing;

/// Signs `claims` with `key`; the protected header is the key's precomputed one.
pub fn sign_compact(key: &SigningKey, claims: &impl Serialize) -> Result<String, TokenError> {
    let payload = serde_json::to_vec(claims)?;
    let header = key.access_token_header();
    let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 400);
    token.push_str(header);
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
    URL_SAFE_NO_PAD.decode(payload).ok()
}
