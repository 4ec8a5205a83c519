//! The cluster's signing keys as a node reads and adds them at start: sealed records,
//! in the order they were added (the first key of an algorithm signs on every node).

use crate::command::{AddSigningKey, StateCommand, StateResponse};
use crate::error::{StateError, Unavailable};
use crate::record::SigningKeyRecord;

use super::TokenStore;

pub struct SigningKeyStorage<'a> {
    store: &'a TokenStore,
}

/// A key to add, its private part already sealed.
#[derive(Debug, Clone)]
pub struct NewSigningKey {
    pub kid: String,
    /// JWS `alg` name.
    pub alg: String,
    /// Nonce, ciphertext and tag (AES-256-GCM) of the PKCS#8 document.
    pub sealed: Vec<u8>,
    pub at: u64,
}

impl<'a> SigningKeyStorage<'a> {
    pub(super) fn new(store: &'a TokenStore) -> Self {
        Self { store }
    }

    /// Every key, in the order they were added, seeing every acknowledged write (an
    /// edge asks a core).
    pub async fn list(&self) -> Result<Vec<SigningKeyRecord>, Unavailable> {
        self.store.signing_key_records().await
    }

    /// Adds a key; adding one that is there already changes nothing.
    pub async fn add(&self, key: NewSigningKey) -> Result<(), StateError> {
        let command = StateCommand::AddSigningKey(AddSigningKey {
            kid: key.kid,
            alg: key.alg,
            sealed: key.sealed,
            at: key.at,
        });
        match self.store.propose(command).await? {
            StateResponse::Issued | StateResponse::Duplicate => Ok(()),
            other => Err(StateError::unexpected("add_signing_key", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_come_back_in_the_order_they_were_added() {
        let store = TokenStore::in_memory();
        for kid in ["b", "a", "b"] {
            let key = NewSigningKey {
                kid: kid.into(),
                alg: "ES256".into(),
                sealed: vec![0; 8],
                at: 1,
            };
            store.signing_keys().add(key).await.unwrap();
        }
        let kids: Vec<String> = store
            .signing_keys()
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert_eq!(kids, ["b", "a"]);
    }
}
