//! The cluster's signing keys, their private parts sealed with the key-encryption key
//! every node derives from the cluster secret. Keys are kept in the order they were
//! added: the first key of an algorithm is the one every node signs with, whichever
//! node added it. Keys are never purged, and never written to the hot cache (nodes
//! read them from the state).

use super::tables::{self, Result, Table, Writable};
use crate::cache::CacheWrites;
use crate::command::{AddSigningKey, StateResponse};
use crate::record::SigningKeyRecord;

pub struct SigningKeys<T> {
    signing_keys: Table<T, str, SigningKeyRecord>,
}

impl<T> SigningKeys<T> {
    pub(super) fn new(signing_keys: T) -> Self {
        Self {
            signing_keys: Table::new(signing_keys, tables::SIGNING_KEYS),
        }
    }
}

impl SigningKeys<Writable<'_>> {
    pub(super) fn add(
        &mut self,
        c: &AddSigningKey,
        _cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        if self.signing_keys.contains(c.kid.as_str())? {
            return Ok(StateResponse::Duplicate);
        }
        let order = self.signing_keys.count()?;
        self.signing_keys.insert(
            c.kid.as_str(),
            &SigningKeyRecord {
                kid: c.kid.clone(),
                alg: c.alg.clone(),
                sealed: c.sealed.clone(),
                created_at: c.at,
                order,
            },
        )?;
        Ok(StateResponse::Issued)
    }
}

impl<T: redb::ReadableTable<&'static [u8], &'static [u8]>> SigningKeys<T> {
    /// Every signing key, in the order they were added.
    pub fn in_order(&self) -> Result<Vec<SigningKeyRecord>> {
        let mut keys = Vec::new();
        self.signing_keys.scan(|_, key| {
            keys.push(key);
            Ok(true)
        })?;
        keys.sort_by_key(|k| k.order);
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Purge, StateCommand};
    use crate::state::TestState;

    fn add(kid: &str) -> StateCommand {
        StateCommand::AddSigningKey(AddSigningKey {
            kid: kid.into(),
            alg: "ES256".into(),
            sealed: vec![1, 2, 3],
            at: 1_800_000_000,
        })
    }

    #[test]
    fn signing_keys_keep_the_order_they_were_added_in() {
        let mut state = TestState::default();
        assert_eq!(state.apply(&add("b")), StateResponse::Issued);
        assert_eq!(state.apply(&add("a")), StateResponse::Issued);
        assert_eq!(state.apply(&add("b")), StateResponse::Duplicate);
        let kids = |state: &TestState| -> Vec<String> {
            state
                .read(|s| s.signing_keys().in_order())
                .iter()
                .map(|k| k.kid.clone())
                .collect()
        };
        assert_eq!(kids(&state), ["b", "a"]);
        // Purging never drops a key.
        state.apply(&StateCommand::Purge(Purge {
            at: u64::MAX,
            limit: None,
        }));
        assert_eq!(kids(&state), ["b", "a"]);
    }
}
