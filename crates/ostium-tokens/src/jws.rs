//! Compact JWS serialization (RFC 7515 §7.1): `header.payload.signature`, each part
//! base64url without padding.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::TokenError;
use crate::key::SigningKey;

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
