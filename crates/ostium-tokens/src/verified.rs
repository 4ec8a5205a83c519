//! Access tokens this node has verified already, so that introspecting the same
//! token again (a resource server checks a client's bearer token on each call it
//! makes) skips the signature check, most of an introspection's cost.
//!
//! A token is immutable and, while it lives, the key that signed it stays published
//! (keys are only ever added), so a token that verified once verifies until it
//! expires. Only verification is remembered: whether a token is revoked or expired
//! is still decided by the caller on every introspection. Only tokens that verified
//! are stored (so only tokens this server issued), under the SHA-256 of the token.
//! When the map is full, expired tokens go; if none has expired, the map is emptied,
//! which costs only signature checks again.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;

use crate::access_token::AccessTokenClaims;

pub(crate) struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], AccessTokenClaims>>,
    capacity: usize,
}

impl VerifiedTokens {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    pub(crate) fn get(&self, token: &str) -> Option<AccessTokenClaims> {
        self.lock().get(&key(token)).cloned()
    }

    pub(crate) fn insert(&self, token: &str, claims: &AccessTokenClaims) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            entries.retain(|_, claims| now < claims.exp);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key(token), claims.clone());
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], AccessTokenClaims>> {
        // Poisoning needs a panic while the lock is held, and nothing here panics;
        // the map is only a cache either way.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

fn key(token: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    key
}
