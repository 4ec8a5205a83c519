//! The keys a node signs with and publishes.
//!
//! At any time one key signs every new token, and the published keys (the signing
//! one, the next one waiting to sign, and those that stopped signing but still
//! verify) are in the JWKS and verify tokens. Which key is in which state is decided
//! from the replicated state (docs/architecture.md, signing keys); the ring holds the
//! current [`KeySet`] and is swapped to a new one without a restart when a key is
//! added, starts signing, retires or is withdrawn.

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::json;

use crate::TokenError;
use crate::algorithm::SigningAlgorithm;
use crate::key::SigningKey;
use crate::sealing::KeySealer;

/// A key as the replicated state holds it.
#[derive(Debug, Clone, Copy)]
pub struct SealedKey<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    pub sealed: &'a [u8],
}

/// The signing key plus the published set, with the JWKS document rendered once.
#[derive(Debug, Clone)]
pub struct KeySet {
    signing: Option<Arc<SigningKey>>,
    published: Vec<Arc<SigningKey>>,
    jwks: Arc<str>,
}

impl KeySet {
    /// `signing` signs; it and `others` are published, the signing key first.
    pub fn new(signing: Option<SigningKey>, others: Vec<SigningKey>) -> Self {
        let signing = signing.map(Arc::new);
        let published: Vec<Arc<SigningKey>> = signing
            .iter()
            .cloned()
            .chain(others.into_iter().map(Arc::new))
            .collect();
        let keys: Vec<_> = published.iter().map(|k| k.public_jwk().clone()).collect();
        let jwks = json!({ "keys": keys }).to_string().into();
        Self {
            signing,
            published,
            jwks,
        }
    }

    /// Opens the published keys (as the replicated state holds them); the one named
    /// `signing` signs. A key that cannot be opened with this cluster's secret fails
    /// the whole set, since serving without it would fail its tokens silently.
    pub fn open(
        published: &[SealedKey<'_>],
        signing: Option<&str>,
        sealer: &KeySealer,
    ) -> Result<Self, TokenError> {
        let mut signer = None;
        let mut others = Vec::with_capacity(published.len());
        for key in published {
            let invalid = |reason: &str| TokenError::InvalidKey {
                kid: key.kid.to_owned(),
                reason: reason.to_owned(),
            };
            let alg =
                SigningAlgorithm::from_name(key.alg).ok_or_else(|| invalid("unknown algorithm"))?;
            let pkcs8 = sealer
                .open(key.kid, key.sealed)
                .map_err(|_| invalid("cannot be unsealed with this cluster secret"))?;
            let opened =
                SigningKey::from_pkcs8(alg, &pkcs8).map_err(|_| invalid("not a valid key"))?;
            if opened.kid() != key.kid {
                return Err(invalid("kid does not match the key"));
            }
            if Some(key.kid) == signing {
                signer = Some(opened);
            } else {
                others.push(opened);
            }
        }
        Ok(Self::new(signer, others))
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.published.iter().map(|k| k.kid())
    }

    pub fn signing_kid(&self) -> Option<&str> {
        self.signing.as_deref().map(SigningKey::kid)
    }
}

/// The node's current [`KeySet`], read on every token signed or verified and
/// replaced as a whole, so that a reader sees one set or the next, never a mix.
#[derive(Debug)]
pub struct KeyRing {
    current: ArcSwap<KeySet>,
}

impl KeyRing {
    /// `active` signs; `retired` are published only. The active key is listed first.
    pub fn new(active: SigningKey, retired: Vec<SigningKey>) -> Self {
        Self::from_set(KeySet::new(Some(active), retired))
    }

    pub fn from_set(set: KeySet) -> Self {
        Self {
            current: ArcSwap::from_pointee(set),
        }
    }

    /// Replaces the keys; returns the set it replaced.
    pub fn replace(&self, set: KeySet) -> Arc<KeySet> {
        self.current.swap(Arc::new(set))
    }

    /// The keys as they are now.
    pub fn current(&self) -> Arc<KeySet> {
        self.current.load_full()
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> Result<Arc<SigningKey>, TokenError> {
        self.current
            .load()
            .signing
            .clone()
            .ok_or(TokenError::NoSigningKey)
    }

    pub fn published(&self) -> Vec<Arc<SigningKey>> {
        self.current.load().published.clone()
    }

    /// The published key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.current
            .load()
            .published
            .iter()
            .find(|k| k.kid() == kid)
            .cloned()
    }

    /// Whether the key with this `kid` is published (verifies) now.
    pub fn publishes(&self, kid: &str) -> bool {
        self.current.load().published.iter().any(|k| k.kid() == kid)
    }

    /// The JWKS document (RFC 7517 §5) as served at `/.well-known/jwks`.
    pub fn jwks_json(&self) -> Arc<str> {
        self.current.load().jwks.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_key_signs_and_a_replaced_set_takes_over_at_once() {
        let sealer = KeySealer::from_cluster_secret(b"cluster secret of some length").unwrap();
        let make = |alg| {
            let (key, pkcs8) = SigningKey::generate(alg).unwrap();
            let sealed = sealer.seal(key.kid(), &pkcs8).unwrap();
            (key.kid().to_owned(), alg.name(), sealed)
        };
        let keys = [
            make(SigningAlgorithm::EdDSA),
            make(SigningAlgorithm::ES256),
            make(SigningAlgorithm::ES256),
        ];
        let sealed: Vec<SealedKey<'_>> = keys
            .iter()
            .map(|(kid, alg, sealed)| SealedKey { kid, alg, sealed })
            .collect();
        let set = KeySet::open(&sealed, Some(&keys[1].0), &sealer).unwrap();
        assert_eq!(set.signing_kid(), Some(keys[1].0.as_str()));
        let ring = KeyRing::from_set(set);
        assert_eq!(ring.active().unwrap().kid(), keys[1].0);
        assert_eq!(ring.published().len(), 3);
        assert!(ring.jwks_json().contains(&keys[0].0));

        // The first key retired and the second withdrawn: the third signs, alone.
        let old = ring.replace(KeySet::open(&sealed[2..], Some(&keys[2].0), &sealer).unwrap());
        assert_eq!(old.kids().count(), 3);
        assert_eq!(ring.active().unwrap().kid(), keys[2].0);
        assert!(ring.find(&keys[0].0).is_none() && ring.find(&keys[1].0).is_none());
        assert!(!ring.jwks_json().contains(&keys[1].0));

        // No signing key: verification goes on, signing fails.
        ring.replace(KeySet::open(&sealed[2..], None, &sealer).unwrap());
        assert!(matches!(ring.active(), Err(TokenError::NoSigningKey)));
        assert!(ring.find(&keys[2].0).is_some());

        let stranger = KeySealer::from_cluster_secret(b"another cluster secret").unwrap();
        assert!(KeySet::open(&sealed, None, &stranger).is_err());
    }
}
