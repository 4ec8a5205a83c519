//! The keys a node signs with and publishes.
//!
//! One key is active and signs every new token; every key in the ring, active or
//! retired, is published in the JWKS so that tokens signed before a change of key
//! or algorithm still verify until they expire.

use std::sync::Arc;

use serde_json::json;

use crate::key::SigningKey;

/// The active key plus the published set, with the JWKS document rendered once.
#[derive(Debug, Clone)]
pub struct KeyRing {
    active: Arc<SigningKey>,
    published: Vec<Arc<SigningKey>>,
    jwks: Arc<str>,
}

impl KeyRing {
    /// `active` signs; `retired` are published only. The active key is listed first.
    pub fn new(active: SigningKey, retired: Vec<SigningKey>) -> Self {
        let published: Vec<Arc<SigningKey>> = std::iter::once(active)
            .chain(retired)
            .map(Arc::new)
            .collect();
        let keys: Vec<_> = published.iter().map(|k| k.public_jwk().clone()).collect();
        let jwks = json!({ "keys": keys }).to_string().into();
        Self {
            active: published[0].clone(),
            published,
            jwks,
        }
    }

    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    pub fn published(&self) -> impl Iterator<Item = &SigningKey> {
        self.published.iter().map(|k| k.as_ref())
    }

    /// The published key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.published().find(|k| k.kid() == kid)
    }

    /// The JWKS document (RFC 7517 §5) as served at `/.well-known/jwks`.
    pub fn jwks_json(&self) -> &Arc<str> {
        &self.jwks
    }
}
