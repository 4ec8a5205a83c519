//! Client and API secrets, stored as SHA-256 digests and compared in constant time.
//!
//! Secrets are high-entropy strings chosen by the server operator, so a single fast
//! digest is enough (as IdentityServer's `Sha256()`); slow password hashing is for
//! user passwords, which are low-entropy. The configuration only ever holds
//! `sha256:<hex>`, never the secret.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};

const PREFIX: &str = "sha256:";

/// The SHA-256 digest of a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

/// Why a `sha256:<hex>` string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected `sha256:` followed by 64 hexadecimal digits (see `ostium hash-secret`)")]
pub struct InvalidDigest;

impl SecretDigest {
    /// Digests a plain-text secret.
    pub fn of(secret: &str) -> Self {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
        Self(bytes)
    }

    /// Parses the `sha256:<hex>` form used in configuration.
    pub fn parse(encoded: &str) -> Result<Self, InvalidDigest> {
        let digits = encoded.strip_prefix(PREFIX).ok_or(InvalidDigest)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| InvalidDigest)?;
        Ok(Self(bytes))
    }

    /// Whether `presented` is the secret this digest was made from, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        verify_slices_are_equal(&Self::of(presented).0, &self.0).is_ok()
    }
}

impl fmt::Display for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        f.write_str(&hex::encode(self.0))
    }
}

/// Digests are not secrets, but there is no reason to print them in debug output.
impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches() {
        let digest = SecretDigest::of("s3cret");
        let encoded = digest.to_string();
        assert!(encoded.starts_with("sha256:") && encoded.len() == 7 + 64);
        let parsed = SecretDigest::parse(&encoded).unwrap();
        assert!(parsed.matches("s3cret"));
        assert!(!parsed.matches("s3cret "));
        assert!(!parsed.matches(""));
    }

    #[test]
    fn known_vector() {
        // printf 'abc' | sha256sum (FIPS 180-2 test vector)
        assert_eq!(
            SecretDigest::of("abc").to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parse_accepts_uppercase_digits() {
        let upper = "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        assert_eq!(SecretDigest::parse(upper), Ok(SecretDigest::of("abc")));
    }

    #[test]
    fn parse_refuses_malformed() {
        for bad in [
            "",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:ba78",
            "sha256:zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a\u{e9}",
            "sha256:+a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ] {
            assert_eq!(SecretDigest::parse(bad), Err(InvalidDigest), "{bad:?}");
        }
    }
}
