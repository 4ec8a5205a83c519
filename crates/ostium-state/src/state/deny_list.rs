//! The deny list of self-contained tokens (JWT access tokens by `jti`): a revoked
//! token stays denied until it would have expired anyway, and is then forgotten.

use super::expiry::{Due, Expiry, Kind};
use super::tables::{self, Result, Table, Writable};
use crate::cache::{CacheWrite, CacheWrites};
use crate::command::{RevokeToken, StateResponse};
use crate::record::Denial;

pub struct DenyList<T> {
    /// Token id → when the token would have expired anyway.
    revoked: Table<T, str, u64>,
}

impl<T> DenyList<T> {
    pub(super) fn new(revoked: T) -> Self {
        Self {
            revoked: Table::new(revoked, tables::DENY_LIST),
        }
    }
}

impl DenyList<Writable<'_>> {
    pub(super) fn revoke(
        &mut self,
        c: &RevokeToken,
        expiry_index: &mut Expiry<Writable<'_>>,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        // An entry that expired already needs no deny-list entry to stay dead.
        if c.expires_at > c.at {
            let kept = self.revoked.get(c.token_id.as_str())?;
            if kept.is_none_or(|kept| kept < c.expires_at) {
                self.revoked.insert(c.token_id.as_str(), &c.expires_at)?;
                expiry_index.add(c.expires_at, Kind::DenyListEntry, c.token_id.as_str())?;
            }
            cache.note(|| CacheWrite::Deny {
                denial: Denial::Token(c.token_id.clone()),
                until: c.expires_at,
            });
        }
        Ok(StateResponse::Revoked)
    }

    /// Drops the entry `due` names if it has expired by `at`; whether it went.
    pub(super) fn purge(&mut self, due: &Due, at: u64) -> Result<bool> {
        let id = String::from_utf8_lossy(&due.key);
        match self.revoked.get(id.as_ref())? {
            Some(expires_at) if at >= expires_at => self.revoked.remove(id.as_ref()),
            _ => Ok(false),
        }
    }
}

impl<T: redb::ReadableTable<&'static [u8], &'static [u8]>> DenyList<T> {
    /// Whether `token_id` is on the deny list at `now`.
    pub fn is_revoked(&self, token_id: &str, now: u64) -> Result<bool> {
        Ok(self
            .revoked
            .get(token_id)?
            .is_some_and(|expires_at| now < expires_at))
    }

    pub(super) fn denials(&self, visit: &mut impl FnMut(Denial, u64) -> Result<()>) -> Result<()> {
        self.revoked.scan(|id, until| {
            visit(
                Denial::Token(String::from_utf8_lossy(id).into_owned()),
                until,
            )?;
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

    fn revoke(token_id: &str, expires_at: u64) -> StateCommand {
        StateCommand::RevokeToken(RevokeToken {
            token_id: token_id.into(),
            expires_at,
            at: T0,
        })
    }

    #[test]
    fn deny_list_holds_until_expiry() {
        let mut state = TestState::default();
        assert_eq!(
            state.apply(&revoke("jti-1", T0 + 60)),
            StateResponse::Revoked
        );
        let denied =
            |state: &TestState, id: &str, at| state.read(|s| s.deny_list().is_revoked(id, at));
        assert!(denied(&state, "jti-1", T0 + 59));
        assert!(!denied(&state, "jti-1", T0 + 60));
        assert!(!denied(&state, "jti-2", T0));
        // A second revocation with an earlier expiry cannot shorten the first.
        state.apply(&revoke("jti-1", T0 + 10));
        assert!(denied(&state, "jti-1", T0 + 30));
        // An already expired token needs no entry.
        let mut empty = TestState::default();
        empty.apply(&revoke("old", T0));
        assert!(empty.holds_nothing());
    }

    #[test]
    fn a_revocation_is_written_through_as_a_denial() {
        let mut state = TestState::default();
        let mut cache = CacheWrites::collecting();
        state.apply_noting(&revoke("jti-1", T0 + 60), &mut cache);
        state.apply_noting(&revoke("expired", T0), &mut cache);
        assert_eq!(
            cache.take(),
            vec![CacheWrite::Deny {
                denial: Denial::Token("jti-1".into()),
                until: T0 + 60
            }]
        );
    }
}
