//! The cluster's signing keys, their private parts sealed with the key-encryption key
//! every node derives from the cluster secret, with the times of their lifecycle
//! (docs/architecture.md, signing keys): a key is published when added, signs from
//! `signs_from`, stops signing when a newer key of its algorithm starts, and retires
//! `retire_after` later; an operator may withdraw it at any time. Every time comes
//! from the command; which key signs at a given time is read with
//! [`crate::key_lifecycle`]. Keys are never purged (a retired or withdrawn key stays
//! for the record), and never written to the hot cache (nodes read them from the
//! state). There are a handful of keys at most, so a command reads them all, changes
//! them as one map, and writes back what changed.

use std::collections::BTreeMap;

use super::tables::{self, Result, Table, Writable};
use crate::cache::CacheWrites;
use crate::command::{AddSigningKey, AddUnless, StateResponse, WithdrawSigningKey};
use crate::key_lifecycle;
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

impl<T: redb::ReadableTable<&'static [u8], &'static [u8]>> SigningKeys<T> {
    /// Every signing key, in the order they were added.
    pub fn in_order(&self) -> Result<Vec<SigningKeyRecord>> {
        let mut keys: Vec<SigningKeyRecord> = self.all()?.into_values().collect();
        keys.sort_by_key(|k| k.order);
        Ok(keys)
    }

    /// Every key, by kid.
    pub(crate) fn all(&self) -> Result<BTreeMap<String, SigningKeyRecord>> {
        let mut keys = BTreeMap::new();
        self.signing_keys.scan(|_, key| {
            keys.insert(key.kid.clone(), key);
            Ok(true)
        })?;
        Ok(keys)
    }
}

impl SigningKeys<Writable<'_>> {
    /// `add_signing_key/v1`: a key without a lifecycle, as before rotation.
    pub(super) fn add_v1(
        &mut self,
        c: &AddSigningKey,
        _cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        self.change(|keys| Keys(keys).add_v1(c))
    }

    /// Adds a key that signs from `signs_from`; every key of its algorithm not yet
    /// replaced stops signing then and retires `retire_after` later.
    pub(super) fn add(
        &mut self,
        c: &AddSigningKey,
        _cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        self.change(|keys| Keys(keys).add(c))
    }

    /// Withdraws a key. If it was signing, the key that waits to sign next takes over
    /// at once, else the replacement the command carries.
    pub(super) fn withdraw(
        &mut self,
        c: &WithdrawSigningKey,
        _cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        self.change(|keys| Keys(keys).withdraw(c))
    }

    /// Runs `change` on every key and writes back the keys it changed or added.
    fn change(
        &mut self,
        change: impl FnOnce(&mut BTreeMap<String, SigningKeyRecord>) -> StateResponse,
    ) -> Result<StateResponse> {
        let before = self.all()?;
        let mut keys = before.clone();
        let response = change(&mut keys);
        for (kid, key) in &keys {
            if before.get(kid) != Some(key) {
                self.signing_keys.insert(kid.as_str(), key)?;
            }
        }
        Ok(response)
    }
}

/// The keys as one map, while a command changes them.
struct Keys<'a>(&'a mut BTreeMap<String, SigningKeyRecord>);

impl Keys<'_> {
    fn add_v1(&mut self, c: &AddSigningKey) -> StateResponse {
        if self.0.contains_key(&c.kid) {
            return StateResponse::Duplicate;
        }
        self.insert(c, 0);
        StateResponse::Issued
    }

    fn add(&mut self, c: &AddSigningKey) -> StateResponse {
        if self.0.contains_key(&c.kid) {
            return StateResponse::Duplicate;
        }
        let needed = match &c.unless {
            None => true,
            // Signing at `at` or from later: two cores adding the first key at
            // once, their clocks a second apart, must still make one key.
            Some(AddUnless::Signing) => !self.0.values().any(|k| {
                k.alg == c.alg
                    && k.withdrawn_at.is_none()
                    && k.stops_signing_at.is_none_or(|stop| stop > c.at)
            }),
            Some(AddUnless::Replaced(kid)) => self
                .0
                .get(kid)
                .is_some_and(|k| k.stops_signing_at.is_none() && k.withdrawn_at.is_none()),
        };
        if !needed {
            return StateResponse::Duplicate;
        }
        let signs_from = c.signs_from.unwrap_or(c.at);
        let retire_at = signs_from.saturating_add(c.retire_after.unwrap_or(0));
        for key in self.0.values_mut() {
            if key.alg == c.alg && key.withdrawn_at.is_none() && key.stops_signing_at.is_none() {
                key.stops_signing_at = Some(signs_from);
                key.retire_at = Some(retire_at);
            }
        }
        self.insert(c, signs_from);
        StateResponse::Issued
    }

    fn insert(&mut self, c: &AddSigningKey, signs_from: u64) {
        let order = self.0.len() as u64;
        self.0.insert(
            c.kid.clone(),
            SigningKeyRecord {
                kid: c.kid.clone(),
                alg: c.alg.clone(),
                sealed: c.sealed.clone(),
                created_at: c.at,
                order,
                signs_from,
                stops_signing_at: None,
                retire_at: None,
                withdrawn_at: None,
            },
        );
    }

    fn withdraw(&mut self, c: &WithdrawSigningKey) -> StateResponse {
        let Some(key) = self.0.get(&c.kid) else {
            return StateResponse::Invalid;
        };
        if key.withdrawn_at.is_some() {
            return StateResponse::Revoked;
        }
        let alg = key.alg.clone();
        let was_signing = key_lifecycle::signer(self.0.values(), &alg, c.at)
            .is_some_and(|signer| signer.kid == c.kid);
        if let Some(key) = self.0.get_mut(&c.kid) {
            key.withdrawn_at = Some(c.at);
        }
        if !was_signing {
            return StateResponse::Revoked;
        }
        let next = self
            .0
            .values_mut()
            .filter(|k| k.alg == alg && k.waits_at(c.at))
            .min_by_key(|k| (k.signs_from, k.order));
        match (next, &c.replacement) {
            (Some(next), _) => next.signs_from = c.at,
            (None, Some(replacement)) if replacement.alg == alg => {
                let replacement = AddSigningKey {
                    at: c.at,
                    signs_from: Some(c.at),
                    unless: None,
                    ..replacement.clone()
                };
                self.add(&replacement);
            }
            (None, _) => {}
        }
        StateResponse::Revoked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Purge, StateCommand};
    use crate::state::TestState;

    const T0: u64 = 1_800_000_000;

    fn add(kid: &str) -> StateCommand {
        StateCommand::AddSigningKeyV1(AddSigningKey {
            kid: kid.into(),
            alg: "ES256".into(),
            sealed: vec![1, 2, 3],
            at: T0,
            signs_from: None,
            retire_after: None,
            unless: None,
        })
    }

    /// A key added at `at`, signing `ahead` later, retiring its predecessors 100
    /// after that.
    fn rotate(kid: &str, at: u64, ahead: u64, unless: Option<AddUnless>) -> StateCommand {
        StateCommand::AddSigningKey(AddSigningKey {
            kid: kid.into(),
            alg: "ES256".into(),
            sealed: vec![1, 2, 3],
            at,
            signs_from: Some(at + ahead),
            retire_after: Some(100),
            unless,
        })
    }

    fn withdraw(kid: &str, at: u64, replacement: Option<&str>) -> StateCommand {
        let replacement = replacement.map(|kid| match rotate(kid, at, 0, None) {
            StateCommand::AddSigningKey(add) => add,
            _ => unreachable!(),
        });
        StateCommand::WithdrawSigningKey(WithdrawSigningKey {
            kid: kid.into(),
            at,
            replacement,
        })
    }

    fn signing_at(state: &TestState, now: u64) -> Option<String> {
        let keys = state.read(|s| s.signing_keys().in_order());
        crate::key_lifecycle::signer(keys.iter(), "ES256", now).map(|k| k.kid.clone())
    }

    #[test]
    fn a_rotated_key_signs_after_the_delay_and_its_predecessor_retires() {
        let mut state = TestState::default();
        state.apply(&rotate("k1", T0, 0, Some(AddUnless::Signing)));
        // A second node starting at once adds nothing, whether its clock is a
        // second ahead or a second behind.
        for (kid, at) in [("k1b", T0 + 1), ("k1c", T0 - 1)] {
            assert_eq!(
                state.apply(&rotate(kid, at, 0, Some(AddUnless::Signing))),
                StateResponse::Duplicate,
                "{kid}"
            );
        }
        let replacing_k1 = || Some(AddUnless::Replaced("k1".into()));
        assert_eq!(
            state.apply(&rotate("k2", T0 + 50, 10, replacing_k1())),
            StateResponse::Issued
        );
        // The same rotation decided by another core (even later, even once k2
        // signs) is one key, not two.
        assert_eq!(
            state.apply(&rotate("k3", T0 + 61, 0, replacing_k1())),
            StateResponse::Duplicate
        );
        assert_eq!(signing_at(&state, T0 + 59).as_deref(), Some("k1"));
        assert_eq!(signing_at(&state, T0 + 60).as_deref(), Some("k2"));
        let k1 = &state.read(|s| s.signing_keys().all())["k1"];
        assert_eq!(k1.stops_signing_at, Some(T0 + 60));
        assert_eq!(k1.retire_at, Some(T0 + 160));
        assert!(k1.verifies_at(T0 + 159) && !k1.verifies_at(T0 + 160));
    }

    #[test]
    fn withdrawing_the_signing_key_promotes_the_next_or_the_replacement() {
        let mut state = TestState::default();
        state.apply(&rotate("k1", T0, 0, None));
        state.apply(&rotate("k2", T0 + 10, 1000, None));
        assert_eq!(
            state.apply(&withdraw("k1", T0 + 20, Some("r1"))),
            StateResponse::Revoked
        );
        assert_eq!(signing_at(&state, T0 + 20).as_deref(), Some("k2"));
        assert!(!state.read(|s| s.signing_keys().all()).contains_key("r1"));
        assert!(!state.read(|s| s.signing_keys().all())["k1"].verifies_at(T0 + 20));
        // No key waits: the replacement signs at once.
        assert_eq!(
            state.apply(&withdraw("k2", T0 + 30, Some("r2"))),
            StateResponse::Revoked
        );
        assert_eq!(signing_at(&state, T0 + 30).as_deref(), Some("r2"));
        // Again, or an unknown key: nothing changes.
        let before = state.dump();
        assert_eq!(
            state.apply(&withdraw("k2", T0 + 40, Some("r3"))),
            StateResponse::Revoked
        );
        assert_eq!(
            state.apply(&withdraw("nope", T0 + 40, None)),
            StateResponse::Invalid
        );
        assert_eq!(state.dump(), before);
        // A key that is not signing is withdrawn alone.
        state.apply(&rotate("k4", T0 + 50, 1000, None));
        state.apply(&withdraw("k4", T0 + 60, Some("r4")));
        assert_eq!(signing_at(&state, T0 + 60).as_deref(), Some("r2"));
        assert!(!state.read(|s| s.signing_keys().all()).contains_key("r4"));
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
        // Keys from before rotation: the first signs, and a rotation replaces both.
        assert_eq!(signing_at(&state, T0).as_deref(), Some("b"));
        state.apply(&rotate(
            "c",
            T0 + 10,
            5,
            Some(AddUnless::Replaced("b".into())),
        ));
        assert_eq!(signing_at(&state, T0 + 14).as_deref(), Some("b"));
        assert_eq!(signing_at(&state, T0 + 15).as_deref(), Some("c"));
        let keys = state.read(|s| s.signing_keys().all());
        for old in ["a", "b"] {
            assert_eq!(keys[old].retire_at, Some(T0 + 115));
        }
    }
}
