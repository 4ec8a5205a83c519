//! The keys a node signs with and publishes.
//!
//! One key is active and signs every new token; every key in the ring, active or
//! retired, is published in the JWKS so that tokens signed before a change of key
//! or algorithm still verify until they expire.

use std::sync::Arc;

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

    /// Opens the cluster's keys, given in the order they were added. The first key of
    /// `algorithm` signs, so every node picks the same one; `None` if there is none.
    pub fn open(
        keys: &[SealedKey<'_>],
        algorithm: SigningAlgorithm,
        sealer: &KeySealer,
    ) -> Result<Option<Self>, TokenError> {
        let mut opened = Vec::with_capacity(keys.len());
        for key in keys {
            let invalid = |reason: &str| TokenError::InvalidKey {
                kid: key.kid.to_owned(),
                reason: reason.to_owned(),
            };
            let alg =
                SigningAlgorithm::from_name(key.alg).ok_or_else(|| invalid("unknown algorithm"))?;
            let pkcs8 = sealer
                .open(key.kid, key.sealed)
                .map_err(|_| invalid("cannot be unsealed with this cluster secret"))?;
            let signing =
                SigningKey::from_pkcs8(alg, &pkcs8).map_err(|_| invalid("not a valid key"))?;
            if signing.kid() != key.kid {
                return Err(invalid("kid does not match the key"));
            }
            opened.push(signing);
        }
        let Some(position) = opened.iter().position(|k| k.algorithm() == algorithm) else {
            return Ok(None);
        };
        let active = opened.remove(position);
        Ok(Some(Self::new(active, opened)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_key_of_the_algorithm_signs_and_all_are_published() {
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
        let ring = KeyRing::open(&sealed, SigningAlgorithm::ES256, &sealer)
            .unwrap()
            .unwrap();
        assert_eq!(ring.active().kid(), keys[1].0);
        assert_eq!(ring.published().count(), 3);
        assert!(
            KeyRing::open(&sealed, SigningAlgorithm::RS256, &sealer)
                .unwrap()
                .is_none()
        );
        let stranger = KeySealer::from_cluster_secret(b"another cluster secret").unwrap();
        assert!(KeyRing::open(&sealed, SigningAlgorithm::ES256, &stranger).is_err());
    }
}
