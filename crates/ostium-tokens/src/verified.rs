//! Access tokens this node has verified already, so that introspecting the same
//! token again (a resource server checks a client's bearer token on each call it
//! makes) skips the signature check, most of an introspection's cost.
//!
//! A token is immutable, so a token that verified once verifies for as long as the
//! key that signed it is published: each entry keeps that key's `kid`, and the
//! caller accepts it only while the key is still in the ring (a key retired or
//! withdrawn stops vouching at once), and a withdrawn key's entries are dropped.
//! Only verification is remembered: whether a token is revoked or expired
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
    entries: Cache<[u8; 32], (String, AccessTokenClaims)>,
}

impl VerifiedTokens {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Cache::new(capacity),
        }
    }

    /// The `kid` that verified the token, and its claims.
    pub(crate) fn get(&self, token: &str) -> Option<(String, AccessTokenClaims)> {
        self.entries.get(&key(token))
    }

    pub(crate) fn insert(&self, token: &str, kid: &str, claims: &AccessTokenClaims) {
        self.entries
            .insert(key(token), (kid.to_owned(), claims.clone()));
    }

    pub(crate) fn clear(&self) {
        self.entries.clear();
    }

    /// Forgets the tokens `kid` verified.
    pub(crate) fn forget_kid(&self, kid: &str) {
        self.entries.retain(|_, (signed_by, _)| signed_by != kid);
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
