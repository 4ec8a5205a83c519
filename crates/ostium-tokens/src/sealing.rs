//! Sealing private keys for the replicated state: AES-256-GCM under a key-encryption
//! key derived from the cluster secret, with the key id as associated data so a
//! sealed key cannot be passed off under another id. Every node holds the secret;
//! a copy of the log or a snapshot alone reveals no private key.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hmac;

use crate::TokenError;

pub struct KeySealer {
    key: RandomizedNonceKey,
}

impl KeySealer {
    /// Derives the key-encryption key from the cluster secret, under a label of its
    /// own so that it is never the key that signs Raft traffic.
    pub fn from_cluster_secret(secret: &[u8]) -> Result<Self, TokenError> {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let kek = hmac::sign(&root, b"ostium signing-key encryption key v1");
        let key =
            RandomizedNonceKey::new(&AES_256_GCM, kek.as_ref()).map_err(|_| TokenError::Crypto)?;
        Ok(Self { key })
    }

    /// `nonce || ciphertext || tag`.
    pub fn seal(&self, kid: &str, pkcs8: &[u8]) -> Result<Vec<u8>, TokenError> {
        let mut data = pkcs8.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(kid.as_bytes()), &mut data)
            .map_err(|_| TokenError::Crypto)?;
        let mut sealed = nonce.as_ref().to_vec();
        sealed.extend_from_slice(&data);
        Ok(sealed)
    }

    /// The PKCS#8 document, if `sealed` was sealed under this key for `kid`.
    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, TokenError> {
        if sealed.len() < NONCE_LEN {
            return Err(TokenError::Crypto);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| TokenError::Crypto)?;
        let mut data = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut data)
            .map_err(|_| TokenError::Crypto)?;
        Ok(plain.to_vec())
    }
}

impl std::fmt::Debug for KeySealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySealer(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_what_it_sealed_for_that_kid() {
        let sealer = KeySealer::from_cluster_secret(b"cluster secret of some length").unwrap();
        let sealed = sealer.seal("kid-1", b"private key").unwrap();
        assert!(!sealed.windows(11).any(|w| w == b"private key"));
        assert_eq!(sealer.open("kid-1", &sealed).unwrap(), b"private key");
        assert!(sealer.open("kid-2", &sealed).is_err(), "bound to its kid");
        let other = KeySealer::from_cluster_secret(b"another cluster secret").unwrap();
        assert!(
            other.open("kid-1", &sealed).is_err(),
            "bound to the cluster"
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(sealer.open("kid-1", &tampered).is_err());
        assert!(sealer.open("kid-1", &[1, 2, 3]).is_err());
    }
}
