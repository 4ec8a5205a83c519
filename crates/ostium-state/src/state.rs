//! The deterministic state machine: the replicated state itself and `apply`, which
//! every node runs on every committed command in log order (DESIGN §4).
//!
//! `apply` is pure: no I/O, no clock, no randomness, ordered maps only, so that every
//! node that applies the same log holds the same state and serializes the same
//! snapshot. Each invariant that needs a check and a change (a refresh token redeemed
//! at most once, reuse revoking the family) is enforced inside one `apply` call, which
//! is what makes it a compare-and-set across the cluster.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{StateCommand, StateResponse};
use crate::digest::TokenDigest;
use crate::record::{
    Denial, FamilyId, ReferenceTokenRecord, RefreshFamily, RefreshTokenRecord, Rotation,
    SigningKeyRecord, TokenFacts, TokenUsage, expiry,
};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    refresh_tokens: BTreeMap<TokenDigest, RefreshTokenRecord>,
    families: BTreeMap<FamilyId, RefreshFamily>,
    /// Deny list: token id → when the token would have expired anyway.
    revoked: BTreeMap<String, u64>,
    reference_tokens: BTreeMap<TokenDigest, ReferenceTokenRecord>,
    /// Revoked reference tokens → when they would have expired: kept so that the
    /// revocation can be copied to the hot cache again after Redis lost it.
    #[serde(default)]
    revoked_references: BTreeMap<TokenDigest, u64>,
    #[serde(default)]
    signing_keys: BTreeMap<String, SigningKeyRecord>,
}

impl State {
    pub fn apply(&mut self, command: &StateCommand) -> StateResponse {
        match command {
            StateCommand::IssueRefreshToken {
                family,
                digest,
                client_id,
                subject,
                scope,
                audiences,
                usage,
                expiration,
                absolute_expires_at,
                sliding_lifetime,
                at,
            } => {
                if self.refresh_tokens.contains_key(digest) || self.families.contains_key(family) {
                    return StateResponse::Duplicate;
                }
                let record = RefreshTokenRecord {
                    digest: *digest,
                    family: family.clone(),
                    client_id: client_id.clone(),
                    subject: subject.clone(),
                    scope: scope.clone(),
                    audiences: audiences.clone(),
                    usage: *usage,
                    expiration: *expiration,
                    issued_at: *at,
                    absolute_expires_at: *absolute_expires_at,
                    sliding_lifetime: *sliding_lifetime,
                    expires_at: expiry(*expiration, *absolute_expires_at, *sliding_lifetime, *at),
                    rotation: None,
                };
                self.families.insert(
                    family.clone(),
                    RefreshFamily {
                        client_id: client_id.clone(),
                        current: *digest,
                        absolute_expires_at: *absolute_expires_at,
                        revoked_at: None,
                    },
                );
                self.refresh_tokens.insert(*digest, record);
                StateResponse::Issued
            }

            StateCommand::RedeemRefreshToken {
                digest,
                client_id,
                successor,
                grace_period,
                at,
            } => self.redeem(digest, client_id, successor, *grace_period, *at),

            StateCommand::RevokeRefreshFamily { family, at } => match self.families.get_mut(family)
            {
                Some(found) => {
                    // The first revocation's time is kept: a second one changes nothing.
                    found.revoked_at.get_or_insert(*at);
                    StateResponse::Revoked
                }
                None => StateResponse::Invalid,
            },

            StateCommand::RevokeToken {
                token_id,
                expires_at,
                at,
            } => {
                // An entry that expired already needs no deny-list entry to stay dead.
                if *expires_at > *at {
                    let kept = self.revoked.entry(token_id.clone()).or_insert(*expires_at);
                    *kept = (*kept).max(*expires_at);
                }
                StateResponse::Revoked
            }

            StateCommand::StoreReferenceToken {
                digest,
                client_id,
                subject,
                scope,
                audiences,
                expires_at,
                at,
            } => {
                if self.reference_tokens.contains_key(digest) {
                    return StateResponse::Duplicate;
                }
                self.reference_tokens.insert(
                    *digest,
                    ReferenceTokenRecord {
                        digest: *digest,
                        client_id: client_id.clone(),
                        subject: subject.clone(),
                        scope: scope.clone(),
                        audiences: audiences.clone(),
                        issued_at: *at,
                        expires_at: *expires_at,
                    },
                );
                StateResponse::Issued
            }

            StateCommand::RevokeReferenceToken { digest, at: _ } => {
                match self.reference_tokens.remove(digest) {
                    Some(token) => {
                        self.revoked_references.insert(*digest, token.expires_at);
                        StateResponse::Revoked
                    }
                    None => StateResponse::Invalid,
                }
            }

            StateCommand::Purge { at } => StateResponse::Purged {
                removed: self.purge(*at),
            },

            StateCommand::AddSigningKey {
                kid,
                alg,
                sealed,
                at,
            } => {
                if self.signing_keys.contains_key(kid) {
                    return StateResponse::Duplicate;
                }
                let order = self.signing_keys.len() as u64;
                self.signing_keys.insert(
                    kid.clone(),
                    SigningKeyRecord {
                        kid: kid.clone(),
                        alg: alg.clone(),
                        sealed: sealed.clone(),
                        created_at: *at,
                        order,
                    },
                );
                StateResponse::Issued
            }
        }
    }

    /// RFC 6749 §6 and the rotation rules of DESIGN §4 invariant 1, in one step.
    fn redeem(
        &mut self,
        digest: &TokenDigest,
        client_id: &str,
        successor: &TokenDigest,
        grace_period: u32,
        at: u64,
    ) -> StateResponse {
        let Some(token) = self.refresh_tokens.get(digest) else {
            return StateResponse::Invalid;
        };
        // Checked before anything else: another client's token, even a rotated one,
        // must neither work nor revoke the family of the client it belongs to.
        if token.client_id != client_id {
            return StateResponse::Invalid;
        }
        let Some(family) = self.families.get(&token.family) else {
            return StateResponse::Invalid;
        };
        if family.revoked_at.is_some() {
            return StateResponse::Invalid;
        }

        if let Some(rotation) = &token.rotation {
            // The window is [rotated_at, rotated_at + grace): a grace period of 0 allows
            // no retry at all, not one within the same second.
            let within_grace = at.saturating_sub(rotation.rotated_at) < u64::from(grace_period);
            if within_grace && rotation.successor == *successor {
                return match self.refresh_tokens.get(successor) {
                    Some(record) => StateResponse::AlreadyRotated {
                        record: record.clone(),
                    },
                    None => StateResponse::Invalid,
                };
            }
            let family_id = token.family.clone();
            if let Some(family) = self.families.get_mut(&family_id) {
                family.revoked_at = Some(at);
            }
            return StateResponse::ReuseDetected { family: family_id };
        }

        if at >= token.expires_at || family.current != *digest {
            return StateResponse::Invalid;
        }

        match token.usage {
            TokenUsage::ReUse => {
                let expires_at = token.expiry_if_used_at(at);
                let Some(token) = self.refresh_tokens.get_mut(digest) else {
                    return StateResponse::Invalid;
                };
                token.expires_at = expires_at;
                StateResponse::Reused {
                    record: token.clone(),
                }
            }
            TokenUsage::OneTimeOnly => {
                // A successor that names an existing token would overwrite it.
                if successor == digest || self.refresh_tokens.contains_key(successor) {
                    return StateResponse::Invalid;
                }
                let next = RefreshTokenRecord {
                    digest: *successor,
                    issued_at: at,
                    expires_at: token.expiry_if_used_at(at),
                    rotation: None,
                    ..token.clone()
                };
                let family_id = token.family.clone();
                if let Some(token) = self.refresh_tokens.get_mut(digest) {
                    token.rotation = Some(Rotation {
                        successor: *successor,
                        rotated_at: at,
                    });
                }
                if let Some(family) = self.families.get_mut(&family_id) {
                    family.current = *successor;
                }
                self.refresh_tokens.insert(*successor, next.clone());
                StateResponse::Rotated { record: next }
            }
        }
    }

    /// Drops what expired by `at`; returns how many entries went.
    fn purge(&mut self, at: u64) -> u64 {
        let before = self.len();
        // A rotated token is kept until it expires, so that its reuse is still detected.
        self.refresh_tokens.retain(|_, token| at < token.expires_at);
        // A family outlives its tokens until its absolute expiry so that a revoked family
        // stays revoked for as long as any of its tokens could have been valid.
        self.families
            .retain(|_, family| at < family.absolute_expires_at);
        self.revoked.retain(|_, expires_at| at < *expires_at);
        self.reference_tokens
            .retain(|_, token| at < token.expires_at);
        self.revoked_references
            .retain(|_, expires_at| at < *expires_at);
        (before - self.len()) as u64
    }

    fn len(&self) -> usize {
        self.refresh_tokens.len()
            + self.families.len()
            + self.revoked.len()
            + self.reference_tokens.len()
            + self.revoked_references.len()
    }

    /// Every signing key, in the order they were added.
    pub fn signing_keys(&self) -> Vec<&SigningKeyRecord> {
        let mut keys: Vec<&SigningKeyRecord> = self.signing_keys.values().collect();
        keys.sort_by_key(|k| k.order);
        keys
    }

    /// The record of a refresh token, spent or not; whether it may be redeemed is for
    /// `apply` to decide.
    pub fn refresh_token(&self, digest: &TokenDigest) -> Option<&RefreshTokenRecord> {
        self.refresh_tokens.get(digest)
    }

    pub fn refresh_family(&self, family: &FamilyId) -> Option<&RefreshFamily> {
        self.families.get(family)
    }

    /// Whether `token_id` is on the deny list at `now`.
    pub fn is_revoked(&self, token_id: &str, now: u64) -> bool {
        self.revoked
            .get(token_id)
            .is_some_and(|expires_at| now < *expires_at)
    }

    /// What is known of the opaque token with this digest at `now`.
    pub fn lookup(&self, digest: &TokenDigest, now: u64) -> TokenFacts {
        let refresh = self.refresh_token(digest).cloned();
        let refresh_live = refresh.as_ref().is_some_and(|token| {
            token.rotation.is_none()
                && now < token.expires_at
                && self.families.get(&token.family).is_some_and(|family| {
                    family.revoked_at.is_none() && family.current == token.digest
                })
        });
        TokenFacts {
            reference: self.reference_token(digest, now).cloned(),
            refresh,
            refresh_live,
        }
    }

    /// Every denial in force, with when it lapses: what the hot cache must hold for
    /// an edge to trust it.
    pub fn denials(&self) -> Vec<(Denial, u64)> {
        let tokens = self
            .revoked
            .iter()
            .map(|(id, until)| (Denial::Token(id.clone()), *until));
        let families = self.families.iter().filter_map(|(id, family)| {
            family
                .revoked_at
                .map(|_| (Denial::Family(id.clone()), family.absolute_expires_at))
        });
        let spent = self.refresh_tokens.values().filter_map(|token| {
            token
                .rotation
                .as_ref()
                .map(|_| (Denial::Spent(token.digest), token.expires_at))
        });
        let references = self
            .revoked_references
            .iter()
            .map(|(digest, until)| (Denial::Reference(*digest), *until));
        tokens
            .chain(families)
            .chain(spent)
            .chain(references)
            .collect()
    }

    /// Whether `denial` is in force at `now`.
    pub fn is_denied(&self, denial: &Denial, now: u64) -> bool {
        match denial {
            Denial::Token(id) => self.is_revoked(id, now),
            Denial::Family(id) => self
                .families
                .get(id)
                .is_some_and(|family| family.revoked_at.is_some()),
            Denial::Spent(digest) => self
                .refresh_tokens
                .get(digest)
                .is_some_and(|token| token.rotation.is_some()),
            Denial::Reference(digest) => self
                .revoked_references
                .get(digest)
                .is_some_and(|until| now < *until),
        }
    }

    /// Until when a revoked reference token stays revoked.
    pub fn reference_revoked_until(&self, digest: &TokenDigest) -> Option<u64> {
        self.revoked_references.get(digest).copied()
    }

    /// A reference token that is active at `now` (RFC 7662 §2.2 `active`).
    pub fn reference_token(&self, digest: &TokenDigest, now: u64) -> Option<&ReferenceTokenRecord> {
        self.reference_tokens
            .get(digest)
            .filter(|token| now < token.expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TokenExpiration;

    const T0: u64 = 1_800_000_000;
    const GRACE: u32 = 5;

    fn d(handle: &str) -> TokenDigest {
        TokenDigest::of_handle(handle)
    }

    fn issue(usage: TokenUsage, expiration: TokenExpiration) -> StateCommand {
        StateCommand::IssueRefreshToken {
            family: FamilyId("fam".into()),
            digest: d("rt0"),
            client_id: "app".into(),
            subject: "alice".into(),
            scope: "openid offline_access".into(),
            audiences: vec!["api".into()],
            usage,
            expiration,
            absolute_expires_at: T0 + 1000,
            sliding_lifetime: Some(100),
            at: T0,
        }
    }

    fn redeem(token: &str, client: &str, successor: &str, at: u64) -> StateCommand {
        StateCommand::RedeemRefreshToken {
            digest: d(token),
            client_id: client.into(),
            successor: d(successor),
            grace_period: GRACE,
            at,
        }
    }

    fn state_with(usage: TokenUsage, expiration: TokenExpiration) -> State {
        let mut state = State::default();
        assert_eq!(
            state.apply(&issue(usage, expiration)),
            StateResponse::Issued
        );
        state
    }

    fn kind(response: &StateResponse) -> &'static str {
        match response {
            StateResponse::Issued => "issued",
            StateResponse::Duplicate => "duplicate",
            StateResponse::Rotated { .. } => "rotated",
            StateResponse::AlreadyRotated { .. } => "already_rotated",
            StateResponse::Reused { .. } => "reused",
            StateResponse::ReuseDetected { .. } => "reuse_detected",
            StateResponse::Invalid => "invalid",
            StateResponse::Revoked => "revoked",
            StateResponse::Purged { .. } => "purged",
            StateResponse::Empty => "empty",
        }
    }

    fn family_revoked(state: &State) -> bool {
        state
            .refresh_family(&FamilyId("fam".into()))
            .is_some_and(|f| f.revoked_at.is_some())
    }

    /// Name, usage, expiration, commands, the kind of each response, family revoked.
    type Case = (
        &'static str,
        TokenUsage,
        TokenExpiration,
        Vec<StateCommand>,
        Vec<&'static str>,
        bool,
    );

    /// Each case: a sequence of commands after issuing `rt0` (one-time, sliding 100 s,
    /// absolute T0+1000) and the kind of each response, plus whether the family ends
    /// revoked.
    #[test]
    fn redemption_table() {
        use TokenExpiration::*;
        use TokenUsage::*;
        let cases: Vec<Case> = vec![
            (
                "rotation",
                OneTimeOnly,
                Sliding,
                vec![redeem("rt0", "app", "rt1", T0 + 10)],
                vec!["rotated"],
                false,
            ),
            (
                "rotation chain",
                OneTimeOnly,
                Sliding,
                vec![
                    redeem("rt0", "app", "rt1", T0 + 10),
                    redeem("rt1", "app", "rt2", T0 + 20),
                ],
                vec!["rotated", "rotated"],
                false,
            ),
            (
                "retry within grace gets the same successor",
                OneTimeOnly,
                Sliding,
                vec![
                    redeem("rt0", "app", "rt1", T0 + 10),
                    redeem("rt0", "app", "rt1", T0 + 10 + 4),
                ],
                vec!["rotated", "already_rotated"],
                false,
            ),
            (
                "reuse after grace revokes the family",
                OneTimeOnly,
                Sliding,
                vec![
                    redeem("rt0", "app", "rt1", T0 + 10),
                    redeem("rt0", "app", "rt1", T0 + 10 + 5),
                    redeem("rt1", "app", "rt2", T0 + 17),
                ],
                vec!["rotated", "reuse_detected", "invalid"],
                true,
            ),
            (
                "reuse within grace with another successor revokes the family",
                OneTimeOnly,
                Sliding,
                vec![
                    redeem("rt0", "app", "rt1", T0 + 10),
                    redeem("rt0", "app", "other", T0 + 11),
                ],
                vec!["rotated", "reuse_detected"],
                true,
            ),
            (
                "another client's token is invalid",
                OneTimeOnly,
                Sliding,
                vec![redeem("rt0", "evil", "x", T0 + 10)],
                vec!["invalid"],
                false,
            ),
            (
                "another client replaying a rotated token revokes nothing",
                OneTimeOnly,
                Sliding,
                vec![
                    redeem("rt0", "app", "rt1", T0 + 10),
                    redeem("rt0", "evil", "x", T0 + 100),
                ],
                vec!["rotated", "invalid"],
                false,
            ),
            (
                "unknown token",
                OneTimeOnly,
                Sliding,
                vec![redeem("nope", "app", "x", T0 + 10)],
                vec!["invalid"],
                false,
            ),
            (
                "sliding expiry: unused for longer than the sliding lifetime",
                OneTimeOnly,
                Sliding,
                vec![redeem("rt0", "app", "rt1", T0 + 100)],
                vec!["invalid"],
                false,
            ),
            (
                "sliding expiry: each use slides it",
                OneTimeOnly,
                Sliding,
                vec![
                    redeem("rt0", "app", "rt1", T0 + 99),
                    redeem("rt1", "app", "rt2", T0 + 198),
                ],
                vec!["rotated", "rotated"],
                false,
            ),
            (
                "sliding never passes the absolute expiry",
                OneTimeOnly,
                Sliding,
                vec![
                    redeem("rt0", "app", "rt1", T0 + 90),
                    redeem("rt1", "app", "rt2", T0 + 180),
                    redeem("rt2", "app", "rt3", T0 + 270),
                    redeem("rt3", "app", "rt4", T0 + 360),
                    redeem("rt4", "app", "rt5", T0 + 450),
                    redeem("rt5", "app", "rt6", T0 + 540),
                    redeem("rt6", "app", "rt7", T0 + 630),
                    redeem("rt7", "app", "rt8", T0 + 720),
                    redeem("rt8", "app", "rt9", T0 + 810),
                    redeem("rt9", "app", "rt10", T0 + 900),
                    redeem("rt10", "app", "rt11", T0 + 990),
                    redeem("rt11", "app", "rt12", T0 + 1000),
                ],
                vec!["rotated"; 11].into_iter().chain(["invalid"]).collect(),
                false,
            ),
            (
                "absolute expiry ignores the sliding lifetime",
                OneTimeOnly,
                Absolute,
                vec![
                    redeem("rt0", "app", "rt1", T0 + 999),
                    redeem("rt1", "app", "rt2", T0 + 1000),
                ],
                vec!["rotated", "invalid"],
                false,
            ),
            (
                "re-use keeps the same token",
                ReUse,
                Absolute,
                vec![
                    redeem("rt0", "app", "ignored", T0 + 10),
                    redeem("rt0", "app", "ignored", T0 + 500),
                ],
                vec!["reused", "reused"],
                false,
            ),
            (
                "re-use with sliding expiry slides",
                ReUse,
                Sliding,
                vec![
                    redeem("rt0", "app", "x", T0 + 90),
                    redeem("rt0", "app", "x", T0 + 180),
                    redeem("rt0", "app", "x", T0 + 281),
                ],
                vec!["reused", "reused", "invalid"],
                false,
            ),
            (
                "revoked family",
                OneTimeOnly,
                Sliding,
                vec![
                    StateCommand::RevokeRefreshFamily {
                        family: FamilyId("fam".into()),
                        at: T0 + 1,
                    },
                    redeem("rt0", "app", "rt1", T0 + 10),
                ],
                vec!["revoked", "invalid"],
                true,
            ),
            (
                "a successor that names an existing token is refused",
                OneTimeOnly,
                Sliding,
                vec![redeem("rt0", "app", "rt0", T0 + 10)],
                vec!["invalid"],
                false,
            ),
        ];

        for (name, usage, expiration, commands, expected, revoked) in cases {
            let mut state = state_with(usage, expiration);
            let got: Vec<_> = commands.iter().map(|c| kind(&state.apply(c))).collect();
            assert_eq!(got, expected, "{name}");
            assert_eq!(family_revoked(&state), revoked, "{name}: family revoked");
        }
    }

    #[test]
    fn rotation_moves_the_family_to_the_successor_and_remembers_it() {
        let mut state = state_with(TokenUsage::OneTimeOnly, TokenExpiration::Sliding);
        let StateResponse::Rotated { record } = state.apply(&redeem("rt0", "app", "rt1", T0 + 10))
        else {
            panic!("not rotated")
        };
        assert_eq!(record.digest, d("rt1"));
        assert_eq!(record.family, FamilyId("fam".into()));
        assert_eq!(
            (record.subject.as_str(), record.scope.as_str()),
            ("alice", "openid offline_access")
        );
        assert_eq!(record.expires_at, T0 + 110);
        assert_eq!(record.issued_at, T0 + 10);
        let spent = state.refresh_token(&d("rt0")).unwrap();
        assert_eq!(
            spent.rotation,
            Some(Rotation {
                successor: d("rt1"),
                rotated_at: T0 + 10
            })
        );
        let family = state.refresh_family(&FamilyId("fam".into())).unwrap();
        assert_eq!(family.current, d("rt1"));

        let StateResponse::AlreadyRotated { record: again } =
            state.apply(&redeem("rt0", "app", "rt1", T0 + 12))
        else {
            panic!("not a retry")
        };
        assert_eq!(again, record, "a retry must get the same successor");
    }

    #[test]
    fn another_clients_token_changes_no_state() {
        let mut state = state_with(TokenUsage::OneTimeOnly, TokenExpiration::Sliding);
        state.apply(&redeem("rt0", "app", "rt1", T0 + 10));
        let before = state.clone();
        for command in [
            redeem("rt0", "evil", "x", T0 + 100),
            redeem("rt1", "evil", "x", T0 + 11),
        ] {
            assert_eq!(state.apply(&command), StateResponse::Invalid);
            assert_eq!(state, before);
        }
    }

    #[test]
    fn reuse_detection_makes_the_successor_invalid_too() {
        let mut state = state_with(TokenUsage::OneTimeOnly, TokenExpiration::Sliding);
        state.apply(&redeem("rt0", "app", "rt1", T0 + 10));
        assert_eq!(
            state.apply(&redeem("rt0", "app", "rt1", T0 + 60)),
            StateResponse::ReuseDetected {
                family: FamilyId("fam".into())
            }
        );
        assert_eq!(
            state.apply(&redeem("rt1", "app", "rt2", T0 + 61)),
            StateResponse::Invalid
        );
        // The retry that would have been allowed inside the grace period is not either.
        assert_eq!(
            state.apply(&redeem("rt0", "app", "rt1", T0 + 11)),
            StateResponse::Invalid
        );
    }

    #[test]
    fn issuing_twice_is_a_duplicate_and_changes_nothing() {
        let mut state = state_with(TokenUsage::OneTimeOnly, TokenExpiration::Sliding);
        let before = state.clone();
        assert_eq!(
            state.apply(&issue(TokenUsage::ReUse, TokenExpiration::Absolute)),
            StateResponse::Duplicate
        );
        assert_eq!(state, before);
    }

    #[test]
    fn deny_list_holds_until_expiry() {
        let mut state = State::default();
        let revoke = |expires_at| StateCommand::RevokeToken {
            token_id: "jti-1".into(),
            expires_at,
            at: T0,
        };
        assert_eq!(state.apply(&revoke(T0 + 60)), StateResponse::Revoked);
        assert!(state.is_revoked("jti-1", T0 + 59));
        assert!(!state.is_revoked("jti-1", T0 + 60));
        assert!(!state.is_revoked("jti-2", T0));
        // A second revocation with an earlier expiry cannot shorten the first.
        state.apply(&revoke(T0 + 10));
        assert!(state.is_revoked("jti-1", T0 + 30));
        // An already expired token needs no entry.
        let mut empty = State::default();
        empty.apply(&StateCommand::RevokeToken {
            token_id: "old".into(),
            expires_at: T0,
            at: T0,
        });
        assert_eq!(empty, State::default());
    }

    #[test]
    fn reference_tokens_store_expire_and_revoke() {
        let mut state = State::default();
        let store = StateCommand::StoreReferenceToken {
            digest: d("ref"),
            client_id: "app".into(),
            subject: Some("alice".into()),
            scope: "api".into(),
            audiences: vec!["api".into()],
            expires_at: T0 + 300,
            at: T0,
        };
        assert_eq!(state.apply(&store), StateResponse::Issued);
        assert_eq!(state.apply(&store), StateResponse::Duplicate);
        assert_eq!(
            state
                .reference_token(&d("ref"), T0 + 299)
                .map(|t| t.issued_at),
            Some(T0)
        );
        assert!(state.reference_token(&d("ref"), T0 + 300).is_none());
        let revoke = StateCommand::RevokeReferenceToken {
            digest: d("ref"),
            at: T0 + 1,
        };
        assert_eq!(state.apply(&revoke), StateResponse::Revoked);
        assert!(state.reference_token(&d("ref"), T0 + 2).is_none());
        assert_eq!(state.apply(&revoke), StateResponse::Invalid);
    }

    #[test]
    fn signing_keys_keep_the_order_they_were_added_in() {
        let mut state = State::default();
        let add = |kid: &str| StateCommand::AddSigningKey {
            kid: kid.into(),
            alg: "ES256".into(),
            sealed: vec![1, 2, 3],
            at: T0,
        };
        assert_eq!(state.apply(&add("b")), StateResponse::Issued);
        assert_eq!(state.apply(&add("a")), StateResponse::Issued);
        assert_eq!(state.apply(&add("b")), StateResponse::Duplicate);
        let kids: Vec<&str> = state
            .signing_keys()
            .iter()
            .map(|k| k.kid.as_str())
            .collect();
        assert_eq!(kids, ["b", "a"]);
        // Purging never drops a key.
        state.apply(&StateCommand::Purge { at: u64::MAX });
        assert_eq!(state.signing_keys().len(), 2);
    }

    #[test]
    fn purge_drops_exactly_what_expired() {
        let mut state = state_with(TokenUsage::OneTimeOnly, TokenExpiration::Sliding);
        state.apply(&redeem("rt0", "app", "rt1", T0 + 50)); // rt0 expires T0+100, rt1 T0+150
        state.apply(&StateCommand::RevokeToken {
            token_id: "jti".into(),
            expires_at: T0 + 120,
            at: T0,
        });
        state.apply(&StateCommand::StoreReferenceToken {
            digest: d("ref"),
            client_id: "app".into(),
            subject: None,
            scope: "api".into(),
            audiences: vec![],
            expires_at: T0 + 2000,
            at: T0,
        });

        assert_eq!(
            state.apply(&StateCommand::Purge { at: T0 + 99 }),
            StateResponse::Purged { removed: 0 }
        );
        // rt0 and the deny-list entry go; rt1, the family and the reference token stay.
        assert_eq!(
            state.apply(&StateCommand::Purge { at: T0 + 120 }),
            StateResponse::Purged { removed: 2 }
        );
        assert!(state.refresh_token(&d("rt0")).is_none());
        assert!(state.refresh_token(&d("rt1")).is_some());
        assert!(!state.is_revoked("jti", T0));
        // The family goes at its absolute expiry, with every token it had.
        assert_eq!(
            state.apply(&StateCommand::Purge { at: T0 + 1000 }),
            StateResponse::Purged { removed: 2 }
        );
        assert!(state.refresh_family(&FamilyId("fam".into())).is_none());
        assert!(state.reference_token(&d("ref"), T0).is_some());
    }

    #[test]
    fn replaying_the_same_log_gives_the_same_state_and_snapshot() {
        let log = [
            issue(TokenUsage::OneTimeOnly, TokenExpiration::Sliding),
            redeem("rt0", "app", "rt1", T0 + 10),
            redeem("rt0", "app", "rt1", T0 + 12),
            StateCommand::RevokeToken {
                token_id: "b".into(),
                expires_at: T0 + 9,
                at: T0,
            },
            StateCommand::RevokeToken {
                token_id: "a".into(),
                expires_at: T0 + 9,
                at: T0,
            },
            redeem("rt0", "app", "rt1", T0 + 40),
            StateCommand::Purge { at: T0 + 120 },
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
        let json = serde_json::to_value(StateCommand::Purge { at: 1 }).unwrap();
        assert_eq!(json, serde_json::json!({"purge/v1": {"at": 1}}));
        let back: StateCommand = serde_json::from_value(json).unwrap();
        assert_eq!(back, StateCommand::Purge { at: 1 });
    }
}
