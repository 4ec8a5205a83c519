//! Reference access tokens (RFC 7662): the token is an opaque handle, its claims live
//! here and are handed out by introspection. A revoked one is remembered until it
//! would have expired, so that the denial can be copied to the hot cache again after
//! Redis lost it.

use super::expiry::{Due, Expiry, Kind};
use super::tables::{self, Result, Table, Writable};
use crate::cache::{CacheWrite, CacheWrites};
use crate::command::{RevokeReferenceToken, StateResponse, StoreReferenceToken};
use crate::digest::TokenDigest;
use crate::record::{Denial, ReferenceTokenRecord};

pub struct ReferenceTokens<T> {
    reference_tokens: Table<T, TokenDigest, ReferenceTokenRecord>,
    /// Revoked reference tokens → when they would have expired.
    revoked_references: Table<T, TokenDigest, u64>,
}

impl<T> ReferenceTokens<T> {
    pub(super) fn new(reference_tokens: T, revoked_references: T) -> Self {
        Self {
            reference_tokens: Table::new(reference_tokens, tables::REFERENCE_TOKENS),
            revoked_references: Table::new(revoked_references, tables::REVOKED_REFERENCES),
        }
    }
}

impl ReferenceTokens<Writable<'_>> {
    pub(super) fn store(
        &mut self,
        c: &StoreReferenceToken,
        expiry_index: &mut Expiry<Writable<'_>>,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        if self.reference_tokens.contains(&c.digest)? {
            return Ok(StateResponse::Duplicate);
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
        expiry_index.add(c.expires_at, Kind::ReferenceToken, &c.digest)?;
        self.reference_tokens.insert(&c.digest, &record)?;
        Ok(StateResponse::Issued)
    }

    pub(super) fn revoke(
        &mut self,
        c: &RevokeReferenceToken,
        expiry_index: &mut Expiry<Writable<'_>>,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        let Some(token) = self.reference_tokens.get(&c.digest)? else {
            return Ok(StateResponse::Invalid);
        };
        self.reference_tokens.remove(&c.digest)?;
        self.revoked_references
            .insert(&c.digest, &token.expires_at)?;
        expiry_index.add(token.expires_at, Kind::RevokedReference, &c.digest)?;
        cache.note(|| CacheWrite::ForgetReference(c.digest));
        cache.note(|| CacheWrite::Deny {
            denial: Denial::Reference(c.digest),
            until: token.expires_at,
        });
        Ok(StateResponse::Revoked)
    }

    /// Drops the token or revocation `due` names if it has expired by `at`; whether
    /// it went.
    pub(super) fn purge(&mut self, due: &Due, at: u64) -> Result<bool> {
        let Some(digest) = tables::digest_key(&due.key) else {
            return Ok(false);
        };
        match due.kind {
            Kind::ReferenceToken => match self.reference_tokens.get(&digest)? {
                Some(token) if at >= token.expires_at => self.reference_tokens.remove(&digest),
                _ => Ok(false),
            },
            Kind::RevokedReference => match self.revoked_references.get(&digest)? {
                Some(until) if at >= until => self.revoked_references.remove(&digest),
                _ => Ok(false),
            },
            _ => Ok(false),
        }
    }
}

impl<T: redb::ReadableTable<&'static [u8], &'static [u8]>> ReferenceTokens<T> {
    /// A reference token that is active at `now` (RFC 7662 §2.2 `active`).
    pub fn active(&self, digest: &TokenDigest, now: u64) -> Result<Option<ReferenceTokenRecord>> {
        Ok(self
            .reference_tokens
            .get(digest)?
            .filter(|token| now < token.expires_at))
    }

    /// Whether the reference token with this digest is revoked at `now`.
    pub fn is_revoked(&self, digest: &TokenDigest, now: u64) -> Result<bool> {
        Ok(self
            .revoked_references
            .get(digest)?
            .is_some_and(|until| now < until))
    }

    pub(super) fn denials(&self, visit: &mut impl FnMut(Denial, u64) -> Result<()>) -> Result<()> {
        self.revoked_references.scan(|digest, until| {
            if let Some(digest) = tables::digest_key(digest) {
                visit(Denial::Reference(digest), until)?;
            }
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::StateCommand;
    use crate::state::TestState;

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
        let mut state = TestState::default();
        assert_eq!(state.apply(&store()), StateResponse::Issued);
        assert_eq!(state.apply(&store()), StateResponse::Duplicate);
        let active =
            |state: &TestState, at| state.read(|s| s.reference_tokens().active(&d("ref"), at));
        assert_eq!(active(&state, T0 + 299).map(|t| t.issued_at), Some(T0));
        assert!(active(&state, T0 + 300).is_none());
        assert_eq!(state.apply(&revoke()), StateResponse::Revoked);
        assert!(active(&state, T0 + 2).is_none());
        assert!(state.read(|s| s.reference_tokens().is_revoked(&d("ref"), T0 + 299)));
        assert!(!state.read(|s| s.reference_tokens().is_revoked(&d("ref"), T0 + 300)));
        assert_eq!(state.apply(&revoke()), StateResponse::Invalid);
    }

    #[test]
    fn the_record_is_written_through_and_its_revocation_too() {
        let mut state = TestState::default();
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
