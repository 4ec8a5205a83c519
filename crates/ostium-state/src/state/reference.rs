//! Reference access tokens (RFC 7662): the token is an opaque handle, its claims live
//! here and are handed out by introspection. A revoked one is remembered until it
//! would have expired, so that the denial can be copied to the hot cache again after
//! Redis lost it.

use std::collections::BTreeMap;

use crate::cache::{CacheWrite, CacheWrites};
use crate::command::{RevokeReferenceToken, StateResponse, StoreReferenceToken};
use crate::digest::TokenDigest;
use crate::record::{Denial, ReferenceTokenRecord};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceTokens {
    pub(super) reference_tokens: BTreeMap<TokenDigest, ReferenceTokenRecord>,
    /// Revoked reference tokens → when they would have expired.
    pub(super) revoked_references: BTreeMap<TokenDigest, u64>,
}

impl ReferenceTokens {
    pub(super) fn store(
        &mut self,
        c: &StoreReferenceToken,
        cache: &mut CacheWrites,
    ) -> StateResponse {
        if self.reference_tokens.contains_key(&c.digest) {
            return StateResponse::Duplicate;
        }
        let record = ReferenceTokenRecord {
            digest: c.digest,
            client_id: c.client_id.clone(),
            subject: c.subject.clone(),
            scope: c.scope.clone(),
            audiences: c.audiences.clone(),
            issued_at: c.at,
            expires_at: c.expires_at,
            family: c.family.clone(),
        };
        // An expired token is never copied: the cache holds nothing longer than it lives.
        if c.at < c.expires_at {
            cache.note(|| CacheWrite::Reference(record.clone()));
        }
        self.reference_tokens.insert(c.digest, record);
        StateResponse::Issued
    }

    pub(super) fn revoke(
        &mut self,
        c: &RevokeReferenceToken,
        cache: &mut CacheWrites,
    ) -> StateResponse {
        let Some(token) = self.reference_tokens.remove(&c.digest) else {
            return StateResponse::Invalid;
        };
        self.revoked_references.insert(c.digest, token.expires_at);
        cache.note(|| CacheWrite::ForgetReference(c.digest));
        cache.note(|| CacheWrite::Deny {
            denial: Denial::Reference(c.digest),
            until: token.expires_at,
        });
        StateResponse::Revoked
    }

    /// Drops what expired by `at`; returns how many entries went.
    pub(super) fn purge(&mut self, at: u64) -> usize {
        let before = self.len();
        self.reference_tokens
            .retain(|_, token| at < token.expires_at);
        self.revoked_references
            .retain(|_, expires_at| at < *expires_at);
        before - self.len()
    }

    pub(super) fn len(&self) -> usize {
        self.reference_tokens.len() + self.revoked_references.len()
    }

    /// A reference token that is active at `now` (RFC 7662 §2.2 `active`).
    pub fn active(&self, digest: &TokenDigest, now: u64) -> Option<&ReferenceTokenRecord> {
        self.reference_tokens
            .get(digest)
            .filter(|token| now < token.expires_at)
    }

    /// Whether the reference token with this digest is revoked at `now`.
    pub fn is_revoked(&self, digest: &TokenDigest, now: u64) -> bool {
        self.revoked_references
            .get(digest)
            .is_some_and(|until| now < *until)
    }

    pub(super) fn denials(&self) -> impl Iterator<Item = (Denial, u64)> + '_ {
        self.revoked_references
            .iter()
            .map(|(digest, until)| (Denial::Reference(*digest), *until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::StateCommand;
    use crate::state::State;

    const T0: u64 = 1_800_000_000;

    fn d(handle: &str) -> TokenDigest {
        TokenDigest::of_handle(handle)
    }

    fn store() -> StateCommand {
        StateCommand::StoreReferenceToken(StoreReferenceToken {
            digest: d("ref"),
            client_id: "app".into(),
            subject: Some("alice".into()),
            scope: "api".into(),
            audiences: vec!["api".into()],
            expires_at: T0 + 300,
            at: T0,
            family: None,
        })
    }

    fn revoke() -> StateCommand {
        StateCommand::RevokeReferenceToken(RevokeReferenceToken {
            digest: d("ref"),
            at: T0 + 1,
        })
    }

    #[test]
    fn reference_tokens_store_expire_and_revoke() {
        let mut state = State::default();
        assert_eq!(state.apply(&store()), StateResponse::Issued);
        assert_eq!(state.apply(&store()), StateResponse::Duplicate);
        let active = |state: &State, at| state.reference_tokens().active(&d("ref"), at).cloned();
        assert_eq!(active(&state, T0 + 299).map(|t| t.issued_at), Some(T0));
        assert!(active(&state, T0 + 300).is_none());
        assert_eq!(state.apply(&revoke()), StateResponse::Revoked);
        assert!(active(&state, T0 + 2).is_none());
        assert!(state.reference_tokens().is_revoked(&d("ref"), T0 + 299));
        assert!(!state.reference_tokens().is_revoked(&d("ref"), T0 + 300));
        assert_eq!(state.apply(&revoke()), StateResponse::Invalid);
    }

    #[test]
    fn the_record_is_written_through_and_its_revocation_too() {
        let mut state = State::default();
        let mut cache = CacheWrites::collecting();
        state.apply_noting(&store(), &mut cache);
        assert!(matches!(&cache.take()[..], [CacheWrite::Reference(r)] if r.digest == d("ref")));
        state.apply_noting(&revoke(), &mut cache);
        assert_eq!(
            cache.take(),
            vec![
                CacheWrite::ForgetReference(d("ref")),
                CacheWrite::Deny {
                    denial: Denial::Reference(d("ref")),
                    until: T0 + 300
                }
            ]
        );
        // Revoking again is `Invalid`: nothing new to copy.
        state.apply_noting(&revoke(), &mut cache);
        assert!(cache.take().is_empty());
    }
}
