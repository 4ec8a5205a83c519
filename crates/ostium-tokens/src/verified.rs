//! Access tokens this node has verified already, so that introspecting the same
//! token again (a resource server checks a client's bearer token on each call it
//! makes) skips the signature check, most of an introspection's cost.
//!
//! A token is immutable and, while it lives, the key that signed it stays published
//! (keys are only ever added), so a token that verified once verifies until it
//! expires. Only verification is remembered: whether a token is revoked or expired
//! is still decided by the caller on every introspection. Only tokens that verified
//! are stored (so only tokens this server issued), under the SHA-256 of the token.
//!
//! The tokens are held in a bounded concurrent cache (`quick_cache`), which evicts
//! by its own policy (S3-FIFO) when full: a token that is not asked for again goes
//! before the ones resource servers keep introspecting, so expired tokens that
//! nobody presents any more do not crowd out live ones. A token evicted too early
//! only costs its signature check again.

use std::fmt;

use aws_lc_rs::digest;
use quick_cache::sync::Cache;

use crate::access_token::AccessTokenClaims;

pub(crate) struct VerifiedTokens {
    entries: Cache<[u8; 32], AccessTokenClaims>,
}

impl VerifiedTokens {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Cache::new(capacity),
        }
    }

    pub(crate) fn get(&self, token: &str) -> Option<AccessTokenClaims> {
        self.entries.get(&key(token))
    }

    pub(crate) fn insert(&self, token: &str, claims: &AccessTokenClaims) {
        self.entries.insert(key(token), claims.clone());
    }

    /// Forgets every token, so that a withdrawn key stops vouching for what it signed.
    pub(crate) fn clear(&self) {
        self.entries.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

impl fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("len", &self.len())
            .field("capacity", &self.entries.capacity())
            .finish()
    }
}

fn key(token: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    key
}
