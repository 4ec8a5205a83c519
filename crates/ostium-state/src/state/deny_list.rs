//! The deny list of self-contained tokens (JWT access tokens by `jti`): a revoked
//! token stays denied until it would have expired anyway, and is then forgotten.

use std::collections::BTreeMap;

use crate::cache::{CacheWrite, CacheWrites};
use crate::command::{RevokeToken, StateResponse};
use crate::record::Denial;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DenyList {
    /// Token id → when the token would have expired anyway.
    pub(super) revoked: BTreeMap<String, u64>,
}

impl DenyList {
    pub(super) fn revoke(&mut self, c: &RevokeToken, cache: &mut CacheWrites) -> StateResponse {
        // An entry that expired already needs no deny-list entry to stay dead.
        if c.expires_at > c.at {
            let kept = self
                .revoked
                .entry(c.token_id.clone())
                .or_insert(c.expires_at);
            *kept = (*kept).max(c.expires_at);
            cache.note(|| CacheWrite::Deny {
                denial: Denial::Token(c.token_id.clone()),
                until: c.expires_at,
            });
        }
        StateResponse::Revoked
    }

    /// Drops what expired by `at`; returns how many entries went.
    pub(super) fn purge(&mut self, at: u64) -> usize {
        let before = self.revoked.len();
        self.revoked.retain(|_, expires_at| at < *expires_at);
        before - self.revoked.len()
    }

    /// Whether `token_id` is on the deny list at `now`.
    pub fn is_revoked(&self, token_id: &str, now: u64) -> bool {
        self.revoked
            .get(token_id)
            .is_some_and(|expires_at| now < *expires_at)
    }

    pub(super) fn denials(&self) -> impl Iterator<Item = (Denial, u64)> + '_ {
        self.revoked
            .iter()
            .map(|(id, until)| (Denial::Token(id.clone()), *until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::StateCommand;
    use crate::state::State;

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
        let mut state = State::default();
        assert_eq!(
            state.apply(&revoke("jti-1", T0 + 60)),
            StateResponse::Revoked
        );
        let denied = |state: &State, id: &str, at| state.deny_list().is_revoked(id, at);
        assert!(denied(&state, "jti-1", T0 + 59));
        assert!(!denied(&state, "jti-1", T0 + 60));
        assert!(!denied(&state, "jti-2", T0));
        // A second revocation with an earlier expiry cannot shorten the first.
        state.apply(&revoke("jti-1", T0 + 10));
        assert!(denied(&state, "jti-1", T0 + 30));
        // An already expired token needs no entry.
        let mut empty = State::default();
        empty.apply(&revoke("old", T0));
        assert_eq!(empty, State::default());
    }

    #[test]
    fn a_revocation_is_written_through_as_a_denial() {
        let mut state = State::default();
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
