//! One signing key: generation, loading from PKCS#8, signing, and its public JWK.
//!
//! Keys are parsed once, when loaded, and reused for every signature: parsing an
//! RSA key costs more than signing with it. The `kid` is the key's RFC 7638
//! thumbprint, so it is stable and needs no bookkeeping.

use std::borrow::Cow;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::TokenError;
use crate::access_token::ACCESS_TOKEN_TYP;
use crate::algorithm::SigningAlgorithm;

enum Signer {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(signature::RsaKeyPair, &'static dyn signature::RsaEncoding),
}

/// A private key ready to sign, with its public description.
pub struct SigningKey {
    kid: String,
    algorithm: SigningAlgorithm,
    signer: Signer,
    public_jwk: Value,
    /// The header of every access token this key signs, so the token endpoint does not
    /// build it anew for each token.
    access_token_header: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key; returns it with its PKCS#8 encoding for storage.
    pub fn generate(algorithm: SigningAlgorithm) -> Result<(Self, Vec<u8>), TokenError> {
        let rng = SystemRandom::new();
        let pkcs8: Vec<u8> = match algorithm {
            SigningAlgorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| TokenError::Crypto)?
                    .as_ref()
                    .to_vec()
            }
            SigningAlgorithm::EdDSA => Ed25519KeyPair::generate_pkcs8v1(&rng)
                .map_err(|_| TokenError::Crypto)?
                .as_ref()
                .to_vec(),
            SigningAlgorithm::PS256 | SigningAlgorithm::RS256 => {
                signature::RsaKeyPair::generate(KeySize::Rsa2048)
                    .and_then(|k| k.as_der())
                    .map_err(|_| TokenError::Crypto)?
                    .as_ref()
                    .to_vec()
            }
        };
        let key = Self::from_pkcs8(algorithm, &pkcs8)?;
        Ok((key, pkcs8))
    }

    /// Loads a key from its PKCS#8 DER encoding.
    pub fn from_pkcs8(algorithm: SigningAlgorithm, pkcs8: &[u8]) -> Result<Self, TokenError> {
        let (signer, public_jwk) = match algorithm {
            SigningAlgorithm::ES256 => {
                let pair =
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                        .map_err(|_| TokenError::Crypto)?;
                // Uncompressed SEC1 point: 0x04 || X (32 bytes) || Y (32 bytes).
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(TokenError::Crypto);
                }
                let jwk = json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": b64(&point[1..33]),
                    "y": b64(&point[33..65]),
                });
                (Signer::Ecdsa(pair), jwk)
            }
            SigningAlgorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| TokenError::Crypto)?;
                let jwk = json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": b64(pair.public_key().as_ref()),
                });
                (Signer::Ed25519(pair), jwk)
            }
            SigningAlgorithm::PS256 | SigningAlgorithm::RS256 => {
                let pair =
                    signature::RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| TokenError::Crypto)?;
                let public = pair.public_key();
                let jwk = json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                });
                let encoding: &'static dyn signature::RsaEncoding =
                    if algorithm == SigningAlgorithm::PS256 {
                        &signature::RSA_PSS_SHA256
                    } else {
                        &signature::RSA_PKCS1_SHA256
                    };
                (Signer::Rsa(pair, encoding), jwk)
            }
        };
        let kid = thumbprint(&public_jwk)?;
        let access_token_header = encode_header(algorithm, ACCESS_TOKEN_TYP, &kid);
        let mut public_jwk = public_jwk;
        if let Value::Object(members) = &mut public_jwk {
            members.insert("kid".into(), kid.clone().into());
            members.insert("alg".into(), algorithm.name().into());
            members.insert("use".into(), "sig".into());
        }
        Ok(Self {
            kid,
            algorithm,
            signer,
            public_jwk,
            access_token_header,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The public key as a JWK with `kid`, `alg` and `use`, for the JWKS document.
    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// The encoded protected header of a JWS of type `typ` signed by this key.
    pub fn header(&self, typ: &str) -> Cow<'_, str> {
        if typ == ACCESS_TOKEN_TYP {
            Cow::Borrowed(&self.access_token_header)
        } else {
            Cow::Owned(encode_header(self.algorithm, typ, &self.kid))
        }
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let (algorithm, public): (&'static dyn signature::VerificationAlgorithm, &[u8]) =
            match &self.signer {
                Signer::Ecdsa(pair) => (
                    &signature::ECDSA_P256_SHA256_FIXED,
                    pair.public_key().as_ref(),
                ),
                Signer::Ed25519(pair) => (&signature::ED25519, pair.public_key().as_ref()),
                Signer::Rsa(pair, _) => (
                    if self.algorithm == SigningAlgorithm::PS256 {
                        &signature::RSA_PSS_2048_8192_SHA256
                    } else {
                        &signature::RSA_PKCS1_2048_8192_SHA256
                    },
                    pair.public_key().as_ref(),
                ),
            };
        signature::UnparsedPublicKey::new(algorithm, public)
            .verify(message, signature)
            .is_ok()
    }

    /// Signs `message` and returns the JWS signature bytes.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        match &self.signer {
            Signer::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| TokenError::Crypto),
            Signer::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Signer::Rsa(pair, encoding) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(*encoding, &SystemRandom::new(), message, &mut signature)
                    .map_err(|_| TokenError::Crypto)?;
                Ok(signature)
            }
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url of `{"alg":…,"kid":…,"typ":…}`.
fn encode_header(algorithm: SigningAlgorithm, typ: &str, kid: &str) -> String {
    b64(json!({ "alg": algorithm.name(), "typ": typ, "kid": kid })
        .to_string()
        .as_bytes())
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
fn thumbprint(jwk: &Value) -> Result<String, TokenError> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str).unwrap_or_default();
    let canonical = match member("kty") {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            member("crv"),
            member("x"),
            member("y")
        ),
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            member("crv"),
            member("x")
        ),
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            member("e"),
            member("n")
        ),
        _ => return Err(TokenError::Crypto),
    };
    Ok(b64(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    )
    .as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips_through_pkcs8() {
        for algorithm in SigningAlgorithm::ALL {
            let (key, pkcs8) = SigningKey::generate(algorithm).unwrap();
            let again = SigningKey::from_pkcs8(algorithm, &pkcs8).unwrap();
            assert_eq!(key.kid(), again.kid(), "{algorithm}");
            assert_eq!(key.public_jwk(), again.public_jwk());
            assert_eq!(key.public_jwk()["alg"], algorithm.name());
        }
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn every_algorithm_verifies_its_own_signatures_only() {
        for algorithm in SigningAlgorithm::ALL {
            let (key, _) = SigningKey::generate(algorithm).unwrap();
            let (other, _) = SigningKey::generate(algorithm).unwrap();
            let signature = key.sign(b"header.payload").unwrap();
            assert!(key.verify(b"header.payload", &signature), "{algorithm}");
            assert!(!key.verify(b"header.payloaD", &signature), "{algorithm}");
            assert!(!other.verify(b"header.payload", &signature), "{algorithm}");
        }
    }

    #[test]
    fn pkcs8_of_another_algorithm_is_refused() {
        let (_, pkcs8) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        assert!(SigningKey::from_pkcs8(SigningAlgorithm::EdDSA, &pkcs8).is_err());
        assert!(SigningKey::from_pkcs8(SigningAlgorithm::RS256, &pkcs8).is_err());
    }
}
