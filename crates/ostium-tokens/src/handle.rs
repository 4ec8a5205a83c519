//! Random identifiers and opaque handles: token ids (`jti`), refresh tokens and
//! reference tokens.
//!
//! A handle is 256 random bits, base64url. The server keeps only its SHA-256
//! digest (`ostium_state::TokenDigest`), so a copy of the replicated state or the
//! cache yields no usable token.
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

    /// The handle that replaces `presented` when it is rotated.
    pub fn successor(&self, presented: &str) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(b"ostium refresh-token successor v1\0");
        context.update(presented.as_bytes());
        URL_SAFE_NO_PAD.encode(context.sign().as_ref())
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
    fn ids_are_distinct_and_sized() {
        let a = random_id::<16>().unwrap();
        let b = random_id::<16>().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
    }
}
