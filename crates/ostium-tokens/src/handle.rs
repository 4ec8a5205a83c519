//! Random identifiers and opaque handles: token ids (`jti`), refresh tokens and
//! reference tokens.
//!
//! A handle is 256 random bits, base64url. The server keeps only its SHA-256
//! digest (`ostium_state::TokenDigest`), so a copy of the replicated state or the
//! cache yields no usable token.
//!
//! A refresh token is a *located* handle: 64 random bits that every token of its
//! family shares (its [`Locator`]), then 256 bits of its own. The locator leads the
//! token's digest, so that the records of one family sit side by side in the state's
//! tables and a rotation, which writes the spent token and its successor, changes one
//! page of them rather than two far apart (docs/architecture.md §4 "Records on disk").
//! A rotated refresh token's successor is derived from the presented handle with a
//! cluster-wide key ([`RefreshHandles::successor`]): a client retrying a refresh
//! whose answer it lost gets the same successor from any node, so a retry never
//! opens a second branch of the token family.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::TokenError;

/// `N` random bytes from the system CSPRNG, base64url-encoded without padding.
pub fn random_id<const N: usize>() -> Result<String, TokenError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TokenError::Crypto)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A new opaque handle: 32 random bytes, base64url.
pub fn new_handle() -> Result<String, TokenError> {
    random_id::<32>()
}

/// What the tokens of one refresh-token family share at the start of their handles.
pub type Locator = [u8; LOCATOR_BYTES];

/// The length of a [`Locator`].
pub const LOCATOR_BYTES: usize = 8;

/// The bytes of a located handle: its locator, then 32 of its own.
const LOCATED_BYTES: usize = LOCATOR_BYTES + 32;

/// A new located handle, the first of its family: 40 random bytes, base64url (54
/// characters, a length no other handle has).
pub fn new_located_handle() -> Result<String, TokenError> {
    random_id::<LOCATED_BYTES>()
}

/// The locator `handle` begins with, if it is a located handle. Any other string,
/// a handle of an older release among them, has none.
pub fn locator(handle: &str) -> Option<Locator> {
    if handle.len() != LOCATED_LEN {
        return None;
    }
    let mut bytes = [0u8; LOCATED_BYTES];
    match URL_SAFE_NO_PAD.decode_slice(handle, &mut bytes) {
        Ok(LOCATED_BYTES) => bytes[..LOCATOR_BYTES].try_into().ok(),
        _ => None,
    }
}

/// How long a located handle is, written.
const LOCATED_LEN: usize = (LOCATED_BYTES * 4).div_ceil(3);

/// The located handle of `locator` and `own`, the token's own 32 bytes.
pub fn located_handle(locator: &Locator, own: &[u8]) -> String {
    let mut bytes = locator.to_vec();
    bytes.extend_from_slice(own);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Derives refresh-token successors with a key every node of a cluster shares.
pub struct RefreshHandles {
    key: hmac::Key,
}

impl RefreshHandles {
    /// `key` must be secret and the same on every node; at least 32 bytes.
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// Derives the key from the cluster secret, under a label of its own so that it
    /// is never the key that signs Raft traffic.
    pub fn from_cluster_secret(secret: &[u8]) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        Self::new(hmac::sign(&root, b"ostium refresh-token successor key v1").as_ref())
    }

    /// The handle that replaces `presented` when it is rotated: located as
    /// `presented` is, so that a family keeps its locator from its first token on.
    pub fn successor(&self, presented: &str) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(b"ostium refresh-token successor v1\0");
        context.update(presented.as_bytes());
        let tag = context.sign();
        match locator(presented) {
            Some(locator) => located_handle(&locator, tag.as_ref()),
            None => URL_SAFE_NO_PAD.encode(tag.as_ref()),
        }
    }
}

impl std::fmt::Debug for RefreshHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshHandles(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_256_bit_and_distinct() {
        let handle = new_handle().unwrap();
        assert_eq!(handle.len(), 43);
        assert_ne!(handle, new_handle().unwrap());
    }

    #[test]
    fn successors_are_deterministic_per_key_and_handle() {
        let one = RefreshHandles::new(&[7u8; 32]);
        let same = RefreshHandles::new(&[7u8; 32]);
        let other = RefreshHandles::new(&[8u8; 32]);
        let handle = new_handle().unwrap();
        assert_eq!(one.successor(&handle), same.successor(&handle));
        assert_ne!(one.successor(&handle), other.successor(&handle));
        assert_ne!(
            one.successor(&handle),
            one.successor(&new_handle().unwrap())
        );
        assert_eq!(one.successor(&handle).len(), 43);
        assert_ne!(one.successor(&handle), handle);
        let from_secret = RefreshHandles::from_cluster_secret(b"cluster secret of 32 bytes or so");
        assert_ne!(from_secret.successor(&handle), one.successor(&handle));
        assert_eq!(
            from_secret.successor(&handle),
            RefreshHandles::from_cluster_secret(b"cluster secret of 32 bytes or so")
                .successor(&handle)
        );
    }

    #[test]
    fn a_located_handle_keeps_its_locator_through_every_successor() {
        let handles = RefreshHandles::new(&[7u8; 32]);
        let first = new_located_handle().unwrap();
        assert_eq!(first.len(), 54);
        let located = locator(&first).expect("a located handle");
        let second = handles.successor(&first);
        let third = handles.successor(&second);
        assert_eq!(second.len(), 54);
        assert_eq!(locator(&second), Some(located));
        assert_eq!(locator(&third), Some(located));
        assert_ne!(second, first);
        assert_ne!(third, second);
        assert_ne!(
            locator(&new_located_handle().unwrap()),
            Some(located),
            "each family draws its own"
        );
    }

    #[test]
    fn other_strings_have_no_locator() {
        assert_eq!(locator(&new_handle().unwrap()), None);
        assert_eq!(locator(""), None);
        // The right length, but not base64url.
        assert_eq!(locator(&"*".repeat(54)), None);
        // 54 characters whose last one carries bits past the 40 bytes.
        let mut overlong = new_located_handle().unwrap();
        overlong.replace_range(53.., "B");
        assert_eq!(locator(&overlong), None);
        assert_eq!(locator(&"A".repeat(55)), None);
    }

    #[test]
    fn ids_are_distinct_and_sized() {
        let a = random_id::<16>().unwrap();
        let b = random_id::<16>().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
    }
}
