//! What a core copies into the hot cache for a command it has applied: the records
//! the command created or changed, and the denials it added. Pure (no I/O), so what
//! reaches Redis can be checked without one.

use crate::command::{StateCommand, StateResponse};
use crate::digest::TokenDigest;
use crate::record::{Denial, ReferenceTokenRecord, RefreshTokenRecord};
use crate::state::State;

/// One entry to copy into the hot cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheWrite {
    Refresh(RefreshTokenRecord),
    Reference(ReferenceTokenRecord),
    /// A denial, in force until `until` (seconds since the epoch).
    Deny {
        denial: Denial,
        until: u64,
    },
    /// A reference token that is no longer active.
    ForgetReference(TokenDigest),
}

/// The writes that copy the effect of `command` (answered with `response`) from
/// `state`, the state right after it was applied.
pub fn for_applied(
    command: &StateCommand,
    response: &StateResponse,
    state: &State,
) -> Vec<CacheWrite> {
    let refresh = |digest: &TokenDigest| state.refresh_token(digest).cloned();
    let family_denial = |family: &crate::record::FamilyId| {
        state.refresh_family(family).map(|found| CacheWrite::Deny {
            denial: Denial::Family(family.clone()),
            until: found.absolute_expires_at,
        })
    };
    match (command, response) {
        (StateCommand::IssueRefreshToken { digest, .. }, StateResponse::Issued) => refresh(digest)
            .map(CacheWrite::Refresh)
            .into_iter()
            .collect(),
        (StateCommand::RedeemRefreshToken { digest, .. }, StateResponse::Rotated { record }) => {
            let mut writes = vec![CacheWrite::Refresh(record.clone())];
            if let Some(spent) = refresh(digest) {
                writes.push(CacheWrite::Deny {
                    denial: Denial::Spent(*digest),
                    until: spent.expires_at,
                });
                writes.push(CacheWrite::Refresh(spent));
            }
            writes
        }
        (StateCommand::RedeemRefreshToken { .. }, StateResponse::Reused { record }) => {
            vec![CacheWrite::Refresh(record.clone())]
        }
        (StateCommand::RedeemRefreshToken { .. }, StateResponse::ReuseDetected { family })
        | (StateCommand::RevokeRefreshFamily { family, .. }, StateResponse::Revoked) => {
            family_denial(family).into_iter().collect()
        }
        (
            StateCommand::RevokeToken {
                token_id,
                expires_at,
                ..
            },
            StateResponse::Revoked,
        ) => vec![CacheWrite::Deny {
            denial: Denial::Token(token_id.clone()),
            until: *expires_at,
        }],
        (StateCommand::StoreReferenceToken { digest, at, .. }, StateResponse::Issued) => state
            .reference_token(digest, *at)
            .cloned()
            .map(CacheWrite::Reference)
            .into_iter()
            .collect(),
        (StateCommand::RevokeReferenceToken { digest, .. }, StateResponse::Revoked) => {
            let mut writes = vec![CacheWrite::ForgetReference(*digest)];
            if let Some(until) = state.reference_revoked_until(digest) {
                writes.push(CacheWrite::Deny {
                    denial: Denial::Reference(*digest),
                    until,
                });
            }
            writes
        }
        _ => Vec::new(),
    }
}

/// Every denial in `state`, as writes: what a refill copies.
pub fn denials(state: &State) -> Vec<CacheWrite> {
    state
        .denials()
        .into_iter()
        .map(|(denial, until)| CacheWrite::Deny { denial, until })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FamilyId, TokenExpiration, TokenUsage};

    const T0: u64 = 1_800_000_000;

    fn d(handle: &str) -> TokenDigest {
        TokenDigest::of_handle(handle)
    }

    fn applied(state: &mut State, command: StateCommand) -> Vec<CacheWrite> {
        let response = state.apply(&command);
        for_applied(&command, &response, state)
    }

    fn issue(state: &mut State) -> Vec<CacheWrite> {
        applied(
            state,
            StateCommand::IssueRefreshToken {
                family: FamilyId("fam".into()),
                digest: d("rt0"),
                client_id: "app".into(),
                subject: "alice".into(),
                scope: "api offline_access".into(),
                audiences: vec!["api".into()],
                usage: TokenUsage::OneTimeOnly,
                expiration: TokenExpiration::Absolute,
                absolute_expires_at: T0 + 3600,
                sliding_lifetime: None,
                at: T0,
            },
        )
    }

    fn redeem(state: &mut State, at: u64) -> Vec<CacheWrite> {
        applied(
            state,
            StateCommand::RedeemRefreshToken {
                digest: d("rt0"),
                client_id: "app".into(),
                successor: d("rt1"),
                grace_period: 0,
                at,
            },
        )
    }

    #[test]
    fn a_rotation_copies_the_successor_and_denies_the_spent_token() {
        let mut state = State::default();
        assert!(matches!(&issue(&mut state)[..], [CacheWrite::Refresh(r)] if r.digest == d("rt0")));
        let writes = redeem(&mut state, T0 + 1);
        assert!(matches!(&writes[0], CacheWrite::Refresh(r) if r.digest == d("rt1")));
        assert!(writes.contains(&CacheWrite::Deny {
            denial: Denial::Spent(d("rt0")),
            until: T0 + 3600
        }));
    }

    #[test]
    fn reuse_denies_the_family_until_its_absolute_expiry() {
        let mut state = State::default();
        issue(&mut state);
        redeem(&mut state, T0 + 1);
        let writes = redeem(&mut state, T0 + 10);
        assert_eq!(
            writes,
            vec![CacheWrite::Deny {
                denial: Denial::Family(FamilyId("fam".into())),
                until: T0 + 3600
            }]
        );
    }

    #[test]
    fn every_revocation_is_a_denial_and_a_refused_command_writes_nothing() {
        let mut state = State::default();
        let writes = applied(
            &mut state,
            StateCommand::RevokeToken {
                token_id: "jti-1".into(),
                expires_at: T0 + 60,
                at: T0,
            },
        );
        assert_eq!(
            writes,
            vec![CacheWrite::Deny {
                denial: Denial::Token("jti-1".into()),
                until: T0 + 60
            }]
        );
        let store = StateCommand::StoreReferenceToken {
            digest: d("ref"),
            client_id: "app".into(),
            subject: None,
            scope: "api".into(),
            audiences: vec!["api".into()],
            expires_at: T0 + 300,
            at: T0,
        };
        assert!(matches!(
            &applied(&mut state, store)[..],
            [CacheWrite::Reference(_)]
        ));
        let revoke = StateCommand::RevokeReferenceToken {
            digest: d("ref"),
            at: T0 + 1,
        };
        assert_eq!(
            applied(&mut state, revoke.clone()),
            vec![
                CacheWrite::ForgetReference(d("ref")),
                CacheWrite::Deny {
                    denial: Denial::Reference(d("ref")),
                    until: T0 + 300
                }
            ]
        );
        // Revoking again is `Invalid`: nothing new to copy.
        assert!(applied(&mut state, revoke).is_empty());
        // A refill copies every denial the state holds.
        assert_eq!(denials(&state).len(), 2);
    }
}
