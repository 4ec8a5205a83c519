//! The cluster's signing keys, their private parts sealed with the key-encryption key
//! every node derives from the cluster secret. Keys are kept in the order they were
//! added: the first key of an algorithm is the one every node signs with, whichever
//! node added it. Keys are never purged, and never written to the hot cache (nodes
//! read them from the state).

use std::collections::BTreeMap;

use crate::cache::CacheWrites;
use crate::command::{AddSigningKey, StateResponse};
use crate::record::SigningKeyRecord;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningKeys {
    pub(super) signing_keys: BTreeMap<String, SigningKeyRecord>,
}

impl SigningKeys {
    pub(super) fn add(&mut self, c: &AddSigningKey, _cache: &mut CacheWrites) -> StateResponse {
        if self.signing_keys.contains_key(&c.kid) {
            return StateResponse::Duplicate;
        }
        let order = self.signing_keys.len() as u64;
        self.signing_keys.insert(
            c.kid.clone(),
            SigningKeyRecord {
                kid: c.kid.clone(),
                alg: c.alg.clone(),
                sealed: c.sealed.clone(),
                created_at: c.at,
                order,
            },
        );
        StateResponse::Issued
    }

    /// Every signing key, in the order they were added.
    pub fn in_order(&self) -> Vec<&SigningKeyRecord> {
        let mut keys: Vec<&SigningKeyRecord> = self.signing_keys.values().collect();
        keys.sort_by_key(|k| k.order);
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Purge, StateCommand};
    use crate::state::State;

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
        let mut state = State::default();
        assert_eq!(state.apply(&add("b")), StateResponse::Issued);
        assert_eq!(state.apply(&add("a")), StateResponse::Issued);
        assert_eq!(state.apply(&add("b")), StateResponse::Duplicate);
        let kids = |state: &State| -> Vec<String> {
            state
                .signing_keys()
                .in_order()
                .iter()
                .map(|k| k.kid.clone())
                .collect()
        };
        assert_eq!(kids(&state), ["b", "a"]);
        // Purging never drops a key.
        state.apply(&StateCommand::Purge(Purge { at: u64::MAX }));
        assert_eq!(kids(&state), ["b", "a"]);
    }
}
