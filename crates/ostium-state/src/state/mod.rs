//! The deterministic state machine: the replicated state itself and `apply`, which
//! every node runs on every committed command in log order (docs/architecture.md §4).
//!
//! `apply` is pure: no I/O, no clock, no randomness, ordered maps only, so that every
//! node that applies the same log holds the same state and serializes the same
//! snapshot. Each invariant that needs a check and a change (a refresh token redeemed
//! at most once, reuse revoking the family) is enforced inside one `apply` call, which
//! is what makes it a compare-and-set across the cluster.
//!
//! The state is split by aggregate, one file each; each owns its commands' `apply`,
//! its reads, the hot-cache writes of each change, and its tests:
//! - [`refresh`]: refresh tokens and their families;
//! - [`reference`]: reference access tokens;
//! - [`deny_list`]: revoked self-contained tokens;
//! - [`signing_keys`]: the cluster's sealed signing keys;
//! - [`codes`]: authorization codes, exchanged at most once;
//! - [`consents`]: what each user allowed each client.
//!
//! What spans aggregates stays here: the dispatch, purging, the reads that answer for
//! any opaque token or any denial, and the snapshot's shape.

pub mod codes;
pub mod consents;
pub mod deny_list;
pub mod reference;
pub mod refresh;
pub mod signing_keys;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cache::CacheWrites;
use crate::command::{StateCommand, StateResponse};
use crate::digest::TokenDigest;
use crate::record::{
    AuthorizationCodeRecord, ConsentRecord, Denial, FamilyId, ReferenceTokenRecord, RefreshFamily,
    RefreshTokenRecord, SigningKeyRecord, TokenFacts,
};

use self::codes::AuthorizationCodes;
use self::consents::Consents;
use self::deny_list::DenyList;
use self::reference::ReferenceTokens;
use self::refresh::RefreshTokens;
use self::signing_keys::SigningKeys;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    refresh: RefreshTokens,
    deny_list: DenyList,
    references: ReferenceTokens,
    signing_keys: SigningKeys,
    codes: AuthorizationCodes,
    consents: Consents,
}

/// A snapshot: every aggregate's maps side by side in one JSON object, the shape the
/// first release wrote. An aggregate added later is `#[serde(default)]`, so older
/// snapshots still load. Written through borrowed maps and read into owned ones,
/// rather than with `#[serde(flatten)]`, which would buffer a whole snapshot in
/// memory while reading it. The authorization codes and consents, added after the
/// signing keys, are also left out while empty, so that a state without them writes
/// the snapshot an earlier release wrote (and `testdata/v1.json` keeps matching).
#[derive(Serialize, Deserialize)]
struct Snapshot<
    Tokens,
    Families,
    Revoked,
    References,
    RevokedReferences,
    Keys,
    Codes,
    ReplayedFamilies,
    ConsentMap,
> {
    refresh_tokens: Tokens,
    families: Families,
    revoked: Revoked,
    reference_tokens: References,
    #[serde(default)]
    revoked_references: RevokedReferences,
    #[serde(default)]
    signing_keys: Keys,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorization_codes: Option<Codes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replayed_families: Option<ReplayedFamilies>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consents: Option<ConsentMap>,
}

/// `Some(map)` unless it is empty: what a snapshot writes of a later aggregate.
fn unless_empty<K, V>(map: &BTreeMap<K, V>) -> Option<&BTreeMap<K, V>> {
    (!map.is_empty()).then_some(map)
}

impl Serialize for State {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Snapshot {
            refresh_tokens: &self.refresh.refresh_tokens,
            families: &self.refresh.families,
            revoked: &self.deny_list.revoked,
            reference_tokens: &self.references.reference_tokens,
            revoked_references: &self.references.revoked_references,
            signing_keys: &self.signing_keys.signing_keys,
            authorization_codes: unless_empty(&self.codes.authorization_codes),
            replayed_families: unless_empty(&self.codes.replayed_families),
            consents: unless_empty(&self.consents.consents),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let snapshot = Snapshot::<
            BTreeMap<TokenDigest, RefreshTokenRecord>,
            BTreeMap<FamilyId, RefreshFamily>,
            BTreeMap<String, u64>,
            BTreeMap<TokenDigest, ReferenceTokenRecord>,
            BTreeMap<TokenDigest, u64>,
            BTreeMap<String, SigningKeyRecord>,
            BTreeMap<TokenDigest, AuthorizationCodeRecord>,
            BTreeMap<FamilyId, u64>,
            BTreeMap<String, BTreeMap<String, ConsentRecord>>,
        >::deserialize(deserializer)?;
        Ok(Self {
            refresh: RefreshTokens {
                refresh_tokens: snapshot.refresh_tokens,
                families: snapshot.families,
            },
            deny_list: DenyList {
                revoked: snapshot.revoked,
            },
            references: ReferenceTokens {
                reference_tokens: snapshot.reference_tokens,
                revoked_references: snapshot.revoked_references,
            },
            signing_keys: SigningKeys {
                signing_keys: snapshot.signing_keys,
            },
            codes: AuthorizationCodes {
                authorization_codes: snapshot.authorization_codes.unwrap_or_default(),
                replayed_families: snapshot.replayed_families.unwrap_or_default(),
            },
            consents: Consents {
                consents: snapshot.consents.unwrap_or_default(),
            },
        })
    }
}

impl State {
    /// Applies one command, noting nothing for a hot cache.
    pub fn apply(&mut self, command: &StateCommand) -> StateResponse {
        self.apply_noting(command, &mut CacheWrites::ignoring())
    }

    /// Applies one command and notes in `cache` what the hot cache must learn of it.
    pub fn apply_noting(
        &mut self,
        command: &StateCommand,
        cache: &mut CacheWrites,
    ) -> StateResponse {
        match command {
            StateCommand::IssueRefreshToken(c) | StateCommand::IssueRefreshTokenV1(c) => {
                self.refresh.issue(c, cache)
            }
            StateCommand::RedeemRefreshToken(c) => self.refresh.redeem(c, cache),
            StateCommand::RevokeRefreshFamily(c) => self.refresh.revoke_family(c, cache),
            StateCommand::RevokeToken(c) => self.deny_list.revoke(c, cache),
            StateCommand::StoreReferenceToken(c) | StateCommand::StoreReferenceTokenV1(c) => {
                self.references.store(c, cache)
            }
            StateCommand::RevokeReferenceToken(c) => self.references.revoke(c, cache),
            StateCommand::AddSigningKeyV1(c) => self.signing_keys.add_v1(c, cache),
            StateCommand::AddSigningKey(c) => self.signing_keys.add(c, cache),
            StateCommand::WithdrawSigningKey(c) => self.signing_keys.withdraw(c, cache),
            // A user or client that is gone keeps nothing that would let a token be
            // issued for it: no unused code, no consent. Neither is in the hot cache.
            StateCommand::RevokeSubject(c) => {
                self.codes.forget_subject(&c.subject);
                self.consents.forget_subject(&c.subject);
                self.refresh.revoke_subject(c, cache)
            }
            StateCommand::RevokeClient(c) => {
                self.codes.forget_client(&c.client_id);
                self.consents.forget_client(&c.client_id);
                self.refresh.revoke_client(c, cache)
            }
            StateCommand::StoreAuthorizationCode(c) => self.codes.store(c),
            // Spans two aggregates in one step: the exchange issues the refresh token,
            // and a replay revokes its family.
            StateCommand::RedeemAuthorizationCode(c) => {
                self.codes.redeem(c, &mut self.refresh, cache)
            }
            StateCommand::RememberConsent(c) => self.consents.remember(c),
            StateCommand::ForgetConsent(c) => self.consents.forget(c),
            // Only what has expired goes, and expired entries are never in the cache.
            StateCommand::Purge(c) => {
                let removed = self.refresh.purge(c.at)
                    + self.deny_list.purge(c.at)
                    + self.references.purge(c.at)
                    + self.codes.purge(c.at)
                    + self.consents.purge(c.at);
                StateResponse::Purged {
                    removed: removed as u64,
                }
            }
        }
    }

    pub fn refresh_tokens(&self) -> &RefreshTokens {
        &self.refresh
    }

    pub fn reference_tokens(&self) -> &ReferenceTokens {
        &self.references
    }

    pub fn deny_list(&self) -> &DenyList {
        &self.deny_list
    }

    pub fn signing_keys(&self) -> &SigningKeys {
        &self.signing_keys
    }

    pub fn authorization_codes(&self) -> &AuthorizationCodes {
        &self.codes
    }

    pub fn consents(&self) -> &Consents {
        &self.consents
    }

    /// What is known of the opaque token with this digest at `now`: it may be a
    /// reference access token or a refresh token.
    pub fn lookup(&self, digest: &TokenDigest, now: u64) -> TokenFacts {
        let refresh = self.refresh.get(digest).cloned();
        let refresh_live = refresh
            .as_ref()
            .is_some_and(|token| self.refresh.is_live(token, now));
        // A reference token issued with a refresh token, or from a code, goes with its
        // family.
        let reference = self.references.active(digest, now).filter(|token| {
            token
                .family
                .as_ref()
                .is_none_or(|family| !self.is_family_denied(family, now))
        });
        TokenFacts {
            reference: reference.cloned(),
            refresh,
            refresh_live,
        }
    }

    /// Every denial in force, with when it lapses: what the hot cache must hold for
    /// an edge to trust it.
    pub fn denials(&self) -> Vec<(Denial, u64)> {
        self.deny_list
            .denials()
            .chain(self.refresh.denials())
            .chain(self.references.denials())
            .chain(self.codes.denials())
            .collect()
    }

    /// Whether `denial` is in force at `now`.
    pub fn is_denied(&self, denial: &Denial, now: u64) -> bool {
        match denial {
            Denial::Token(id) => self.deny_list.is_revoked(id, now),
            Denial::Family(id) => self.is_family_denied(id, now),
            Denial::Spent(digest) => self.refresh.is_spent(digest),
            Denial::Reference(digest) => self.references.is_revoked(digest, now),
        }
    }

    /// Whether `family` is revoked (by its client, reuse, or an operator) or denied
    /// by the replay of the code it was issued from.
    fn is_family_denied(&self, family: &FamilyId, now: u64) -> bool {
        self.refresh.is_family_revoked(family) || self.codes.is_family_denied(family, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{
        IssueRefreshToken, Purge, RedeemRefreshToken, RevokeToken, StoreReferenceToken,
    };
    use crate::record::{FamilyId, TokenExpiration, TokenUsage};

    const T0: u64 = 1_800_000_000;

    fn d(handle: &str) -> TokenDigest {
        TokenDigest::of_handle(handle)
    }

    fn issue() -> StateCommand {
        StateCommand::IssueRefreshToken(IssueRefreshToken {
            family: FamilyId("fam".into()),
            digest: d("rt0"),
            client_id: "app".into(),
            subject: "alice".into(),
            scope: "openid offline_access".into(),
            audiences: vec!["api".into()],
            usage: TokenUsage::OneTimeOnly,
            expiration: TokenExpiration::Sliding,
            absolute_expires_at: T0 + 1000,
            sliding_lifetime: Some(100),
            at: T0,
            auth_time: None,
            amr: None,
        })
    }

    fn redeem(token: &str, successor: &str, at: u64) -> StateCommand {
        StateCommand::RedeemRefreshToken(RedeemRefreshToken {
            digest: d(token),
            client_id: "app".into(),
            successor: d(successor),
            grace_period: 5,
            at,
        })
    }

    fn revoke(token_id: &str, expires_at: u64) -> StateCommand {
        StateCommand::RevokeToken(RevokeToken {
            token_id: token_id.into(),
            expires_at,
            at: T0,
        })
    }

    fn purge(at: u64) -> StateCommand {
        StateCommand::Purge(Purge { at })
    }

    #[test]
    fn purge_drops_exactly_what_expired() {
        let mut state = State::default();
        state.apply(&issue());
        state.apply(&redeem("rt0", "rt1", T0 + 50)); // rt0 expires T0+100, rt1 T0+150
        state.apply(&revoke("jti", T0 + 120));
        state.apply(&StateCommand::StoreReferenceToken(StoreReferenceToken {
            digest: d("ref"),
            client_id: "app".into(),
            subject: None,
            scope: "api".into(),
            audiences: vec![],
            expires_at: T0 + 2000,
            at: T0,
            family: None,
        }));

        assert_eq!(
            state.apply(&purge(T0 + 99)),
            StateResponse::Purged { removed: 0 }
        );
        // rt0 and the deny-list entry go; rt1, the family and the reference token stay.
        assert_eq!(
            state.apply(&purge(T0 + 120)),
            StateResponse::Purged { removed: 2 }
        );
        assert!(state.refresh_tokens().get(&d("rt0")).is_none());
        assert!(state.refresh_tokens().get(&d("rt1")).is_some());
        assert!(!state.deny_list().is_revoked("jti", T0));
        // The family goes at its absolute expiry, with every token it had.
        assert_eq!(
            state.apply(&purge(T0 + 1000)),
            StateResponse::Purged { removed: 2 }
        );
        assert!(
            state
                .refresh_tokens()
                .family(&FamilyId("fam".into()))
                .is_none()
        );
        assert!(state.reference_tokens().active(&d("ref"), T0).is_some());
    }

    #[test]
    fn replaying_the_same_log_gives_the_same_state_and_snapshot() {
        let log = [
            issue(),
            redeem("rt0", "rt1", T0 + 10),
            redeem("rt0", "rt1", T0 + 12),
            revoke("b", T0 + 9),
            revoke("a", T0 + 9),
            redeem("rt0", "rt1", T0 + 40),
            purge(T0 + 120),
        ];
        let run = || {
            let mut state = State::default();
            let responses: Vec<_> = log.iter().map(|c| state.apply(c)).collect();
            (serde_json::to_vec(&state).unwrap(), responses)
        };
        assert_eq!(run(), run());
        let (bytes, _) = run();
        let restored: State = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(serde_json::to_vec(&restored).unwrap(), bytes);
    }

    #[test]
    fn commands_carry_their_version_on_the_wire() {
        let json = serde_json::to_value(purge(1)).unwrap();
        assert_eq!(json, serde_json::json!({"purge/v1": {"at": 1}}));
        let back: StateCommand = serde_json::from_value(json).unwrap();
        assert_eq!(back, purge(1));
    }

    /// A log, its responses and the resulting snapshot, as written by the release
    /// before the state was split into aggregates: nodes upgraded in place must read
    /// their log and snapshots, and answer as before.
    #[test]
    fn logs_and_snapshots_of_the_first_release_still_load() {
        #[derive(Deserialize)]
        struct Recorded {
            log: Vec<StateCommand>,
            responses: Vec<StateResponse>,
            snapshot: serde_json::Value,
        }
        let recorded: Recorded = serde_json::from_str(include_str!("testdata/v1.json")).unwrap();
        let mut state = State::default();
        let responses: Vec<_> = recorded.log.iter().map(|c| state.apply(c)).collect();
        assert_eq!(responses, recorded.responses);
        assert_eq!(serde_json::to_value(&state).unwrap(), recorded.snapshot);
        let restored: State = serde_json::from_value(recorded.snapshot.clone()).unwrap();
        assert_eq!(restored, state);
        // And the commands encode as they were written.
        let json =
            serde_json::from_str::<serde_json::Value>(include_str!("testdata/v1.json")).unwrap();
        assert_eq!(serde_json::to_value(&recorded.log).unwrap(), json["log"]);
    }
}
