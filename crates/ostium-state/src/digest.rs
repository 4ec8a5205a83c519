//! SHA-256 digests of opaque handles: the only form in which a refresh token or a
//! reference token is ever stored or replicated (docs/architecture.md §4), written as
//! lowercase hex in JSON (the log, the hot cache) and as its 32 bytes in the state's
//! tables.
//!
//! The digest of a located handle (a refresh token, `ostium_tokens::handle`) is its
//! locator, then the first 24 bytes of its SHA-256: the records of one family then
//! sort together, and 192 bits of the hash still make a digest no one can match
//! without the handle.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};
use hex::FromHex;
use ostium_tokens::handle::locator;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The SHA-256 digest of an opaque handle.
///
/// Serialized as its lowercase hex in human-readable formats, also as a map key: the
/// replicated log and the hot cache hold it in that form. The state's tables
/// (postcard) hold its bytes, half the size.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenDigest([u8; 32]);

impl Serialize for TokenDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for TokenDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let digits = std::borrow::Cow::<str>::deserialize(deserializer)?;
            Self::from_hex(&digits).map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(deserializer).map(Self)
        }
    }
}

/// Why a hex string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a token digest is 64 hex digits")]
pub struct DigestParseError;

impl TokenDigest {
    /// The digest of the handle a client presents.
    pub fn of_handle(handle: &str) -> Self {
        let hash = digest(&SHA256, handle.as_bytes());
        let mut bytes = [0u8; 32];
        match locator(handle) {
            Some(locator) => {
                let (front, back) = bytes.split_at_mut(locator.len());
                front.copy_from_slice(&locator);
                back.copy_from_slice(&hash.as_ref()[..back.len()]);
            }
            None => bytes.copy_from_slice(hash.as_ref()),
        }
        Self(bytes)
    }

    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Upper- and lowercase digits are both accepted.
    pub fn from_hex(digits: &str) -> Result<Self, DigestParseError> {
        <[u8; 32]>::from_hex(digits)
            .map(Self)
            .map_err(|_| DigestParseError)
    }
}

// Debug and Display print the digest, which is safe to log: it cannot be turned back
// into the handle.
impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({})", self.to_hex())
    }
}

impl fmt::Display for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_a_known_handle() {
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(
            TokenDigest::of_handle("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_located_handle_s_digest_begins_with_its_locator() {
        let handles = ostium_tokens::handle::RefreshHandles::new(&[7u8; 32]);
        let first = ostium_tokens::handle::new_located_handle().unwrap();
        let successor = handles.successor(&first);
        let (one, two) = (
            TokenDigest::of_handle(&first),
            TokenDigest::of_handle(&successor),
        );
        assert_eq!(one.as_bytes()[..8], locator(&first).unwrap());
        assert_eq!(one.as_bytes()[..8], two.as_bytes()[..8]);
        assert_ne!(one, two);
        let hash = digest(&SHA256, first.as_bytes());
        assert_eq!(one.as_bytes()[8..], hash.as_ref()[..24]);
        assert_eq!(
            TokenDigest::of_handle(&first),
            one,
            "a function of the handle"
        );
    }

    #[test]
    fn hex_round_trips_through_serde_including_map_keys() {
        let d = TokenDigest::of_handle("handle");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{}\"", d.to_hex()));
        assert_eq!(serde_json::from_str::<TokenDigest>(&json).unwrap(), d);
        let map = std::collections::BTreeMap::from([(d, 1u8)]);
        let back: std::collections::BTreeMap<TokenDigest, u8> =
            serde_json::from_str(&serde_json::to_string(&map).unwrap()).unwrap();
        assert_eq!(back, map);
    }

    #[test]
    fn binary_formats_hold_the_bytes() {
        let d = TokenDigest::of_handle("handle");
        let bytes = postcard::to_stdvec(&d).unwrap();
        assert_eq!(bytes, d.as_bytes());
        assert_eq!(postcard::from_bytes::<TokenDigest>(&bytes).unwrap(), d);
    }

    #[test]
    fn uppercase_hex_is_accepted_and_written_back_lowercase() {
        let d = TokenDigest::of_handle("abc");
        let upper = d.to_hex().to_uppercase();
        assert_eq!(TokenDigest::from_hex(&upper), Ok(d));
        let read: TokenDigest = serde_json::from_str(&format!("\"{upper}\"")).unwrap();
        assert_eq!(read, d);
        assert_eq!(
            serde_json::to_string(&read).unwrap(),
            format!("\"{}\"", d.to_hex())
        );
    }

    #[test]
    fn malformed_hex_is_refused() {
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(63), &"0".repeat(65)] {
            assert_eq!(TokenDigest::from_hex(bad), Err(DigestParseError), "{bad}");
            assert!(serde_json::from_str::<TokenDigest>(&format!("\"{bad}\"")).is_err());
        }
    }
}
