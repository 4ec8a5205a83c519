//! Refresh tokens and their families (RFC 6749 §1.5, §6): the first token of a family,
//! redemption (the compare-and-set behind invariant 1 of docs/architecture.md §4),
//! family revocation, the reads the grants and the hot cache need, and what the hot
//! cache must learn of each change.
//!
//! A family is the first token issued by a grant and every token rotated from it.
//! A rotated token is kept until it expires, remembering its successor, so that a
//! retry within the grace period gets the same successor and a later reuse is
//! recognised and revokes the whole family.
//!
//! What a grant decided (client, subject, scope, audiences, lifetimes) is stored once,
//! in the family; a token's own record holds only its family, its times and its
//! successor, so that a family rotated a thousand times costs a thousand small
//! records, not a thousand copies of its strings. The families are also indexed by
//! subject and by client, so that revoking a user's or a client's tokens reads only
//! theirs.

use serde::{Deserialize, Serialize};

use super::clock::Clock;
use super::expiry::{Due, Expiry, Kind};
use super::tables::{self, Result, Table, Writable, composite};
use crate::cache::{CacheWrite, CacheWrites};
use crate::command::{
    IssueRefreshToken, RedeemRefreshToken, RevokeClient, RevokeRefreshFamily, RevokeSubject,
    StateResponse,
};
use crate::digest::TokenDigest;
use crate::record::{
    Denial, FamilyId, RefreshFamily, RefreshTokenRecord, Rotation, TokenUsage, expiry,
};

/// A refresh token as stored: what is its own. The rest is its family's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredToken {
    pub family: FamilyId,
    pub issued_at: u64,
    pub expires_at: u64,
    pub rotation: Option<Rotation>,
}

pub struct RefreshTokens<T> {
    tokens: Table<T, TokenDigest, StoredToken>,
    families: Table<T, FamilyId, RefreshFamily>,
    /// composite(subject, family) → (): a user's families.
    by_subject: Table<T, [u8], ()>,
    /// composite(client, family) → (): a client's families.
    by_client: Table<T, [u8], ()>,
}

impl<T> RefreshTokens<T> {
    pub(super) fn new(tokens: T, families: T, by_subject: T, by_client: T) -> Self {
        Self {
            tokens: Table::new(tokens, tables::REFRESH_TOKENS),
            families: Table::new(families, tables::FAMILIES),
            by_subject: Table::new(by_subject, tables::FAMILIES_BY_SUBJECT),
            by_client: Table::new(by_client, tables::FAMILIES_BY_CLIENT),
        }
    }
}

/// The whole record of a token: its own part and its family's.
fn assemble(digest: TokenDigest, token: StoredToken, family: &RefreshFamily) -> RefreshTokenRecord {
    RefreshTokenRecord {
        digest,
        family: token.family,
        client_id: family.client_id.clone(),
        subject: family.subject.clone(),
        scope: family.scope.clone(),
        audiences: family.audiences.clone(),
        usage: family.usage,
        expiration: family.expiration,
        issued_at: token.issued_at,
        absolute_expires_at: family.absolute_expires_at,
        sliding_lifetime: family.sliding_lifetime,
        expires_at: token.expires_at,
        rotation: token.rotation,
        auth_time: family.auth_time,
        amr: family.amr.clone(),
    }
}

/// The family's index keys, by subject and by client.
fn index_keys(id: &FamilyId, family: &RefreshFamily) -> (Vec<u8>, Vec<u8>) {
    let id = id.0.as_bytes();
    (
        composite(&[family.subject.as_bytes(), id]),
        composite(&[family.client_id.as_bytes(), id]),
    )
}

impl<T: redb::ReadableTable<&'static [u8], &'static [u8]>> RefreshTokens<T> {
    /// The record of a refresh token, spent or not; whether it may be redeemed is for
    /// `apply` to decide.
    pub fn get(&self, digest: &TokenDigest) -> Result<Option<RefreshTokenRecord>> {
        Ok(self.with_family(digest)?.map(|(record, _)| record))
    }

    /// The token's record with its family.
    fn with_family(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<(RefreshTokenRecord, RefreshFamily)>> {
        let Some(token) = self.tokens.get(digest)? else {
            return Ok(None);
        };
        let Some(family) = self.families.get(&token.family)? else {
            return Ok(None);
        };
        Ok(Some((assemble(*digest, token, &family), family)))
    }

    pub fn family(&self, family: &FamilyId) -> Result<Option<RefreshFamily>> {
        self.families.get(family)
    }

    /// Whether `token` can be redeemed at `now`: not spent, its family not revoked,
    /// not expired.
    pub fn is_live(&self, token: &RefreshTokenRecord, now: u64) -> Result<bool> {
        Ok(token.rotation.is_none()
            && now < token.expires_at
            && self
                .families
                .get(&token.family)?
                .is_some_and(|family| family.revoked_at.is_none()))
    }

    pub(super) fn is_family_revoked(&self, family: &FamilyId) -> Result<bool> {
        Ok(self
            .families
            .get(family)?
            .is_some_and(|family| family.revoked_at.is_some()))
    }

    pub(super) fn is_spent(&self, digest: &TokenDigest) -> Result<bool> {
        Ok(self
            .tokens
            .get(digest)?
            .is_some_and(|token| token.rotation.is_some()))
    }

    /// Revoked families and spent tokens, with when each denial lapses.
    pub(super) fn denials(&self, visit: &mut impl FnMut(Denial, u64) -> Result<()>) -> Result<()> {
        self.families.scan(|id, family| {
            if family.revoked_at.is_some() {
                visit(
                    Denial::Family(tables::family_key(id)),
                    family.absolute_expires_at,
                )?;
            }
            Ok(true)
        })?;
        self.tokens.scan(|digest, token| {
            if token.rotation.is_some()
                && let Some(digest) = tables::digest_key(digest)
            {
                visit(Denial::Spent(digest), token.expires_at)?;
            }
            Ok(true)
        })
    }

    /// The families of `subject` (or of `client`, from the other index).
    fn indexed(table: &Table<T, [u8], ()>, owner: &str) -> Result<Vec<FamilyId>> {
        let prefix = composite(&[owner.as_bytes()]);
        let mut families = Vec::new();
        table.scan_prefix(&prefix, |key, ()| {
            if let [_, family] = tables::parts(key)[..] {
                families.push(tables::family_key(family));
            }
            Ok(true)
        })?;
        Ok(families)
    }
}

impl RefreshTokens<Writable<'_>> {
    pub(super) fn issue(
        &mut self,
        c: &IssueRefreshToken,
        expiry_index: &mut Expiry<Writable<'_>>,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        if self.tokens.contains(&c.digest)? || self.families.contains(&c.family)? {
            return Ok(StateResponse::Duplicate);
        }
        let family = RefreshFamily {
            client_id: c.client_id.clone(),
            subject: c.subject.clone(),
            scope: c.scope.clone(),
            audiences: c.audiences.clone(),
            usage: c.usage,
            expiration: c.expiration,
            absolute_expires_at: c.absolute_expires_at,
            sliding_lifetime: c.sliding_lifetime,
            auth_time: c.auth_time,
            amr: c.amr.clone(),
            revoked_at: None,
        };
        let token = StoredToken {
            family: c.family.clone(),
            issued_at: c.at,
            expires_at: expiry(
                c.expiration,
                c.absolute_expires_at,
                c.sliding_lifetime,
                c.at,
            ),
            rotation: None,
        };
        let (by_subject, by_client) = index_keys(&c.family, &family);
        self.by_subject.insert(&by_subject, &())?;
        self.by_client.insert(&by_client, &())?;
        expiry_index.add(family.absolute_expires_at, Kind::RefreshFamily, &c.family)?;
        expiry_index.add(token.expires_at, Kind::RefreshToken, &c.digest)?;
        self.families.insert(&c.family, &family)?;
        self.tokens.insert(&c.digest, &token)?;
        cache.note(|| CacheWrite::Refresh(assemble(c.digest, token.clone(), &family)));
        Ok(StateResponse::Issued)
    }

    /// RFC 6749 §6 and the rotation rules of invariant 1, in one step.
    pub(super) fn redeem(
        &mut self,
        c: &RedeemRefreshToken,
        clock: &Clock,
        expiry_index: &mut Expiry<Writable<'_>>,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        let Some((token, family)) = self.with_family(&c.digest)? else {
            return Ok(StateResponse::Invalid);
        };
        // Checked before anything else: another client's token, even a rotated one,
        // must neither work nor revoke the family of the client it belongs to.
        if token.client_id != c.client_id || family.revoked_at.is_some() {
            return Ok(StateResponse::Invalid);
        }

        if let Some(rotation) = &token.rotation {
            // The window is [rotated_at, rotated_at + grace): a grace period of 0 allows
            // no retry at all, not one within the same second. A change of leader
            // that began within it moves its end to `grace` after the cluster
            // answered again: the client could not retry before.
            let within_grace =
                c.at < clock.retry_until(rotation.rotated_at, u64::from(c.grace_period));
            if within_grace && rotation.successor == c.successor {
                return Ok(match self.get(&c.successor)? {
                    Some(record) => StateResponse::AlreadyRotated { record },
                    None => StateResponse::Invalid,
                });
            }
            let family = token.family.clone();
            return Ok(match self.revoke(&family, c.at, cache)? {
                Some(()) => StateResponse::ReuseDetected { family },
                None => StateResponse::Invalid,
            });
        }

        if c.at >= token.expires_at {
            return Ok(StateResponse::Invalid);
        }

        match token.usage {
            TokenUsage::ReUse => {
                let expires_at = token.expiry_if_used_at(c.at);
                let record = RefreshTokenRecord {
                    expires_at,
                    ..token
                };
                self.tokens.insert(&c.digest, &stored(&record))?;
                expiry_index.add(expires_at, Kind::RefreshToken, &c.digest)?;
                cache.note(|| CacheWrite::Refresh(record.clone()));
                Ok(StateResponse::Reused { record })
            }
            TokenUsage::OneTimeOnly => self.rotate(c, token, expiry_index, cache),
        }
    }

    /// Spends the current token `c.digest` and makes `c.successor` current. The
    /// family's record is not written: with located handles both tokens' records
    /// sit on one page (docs/architecture.md §4 "Records on disk").
    fn rotate(
        &mut self,
        c: &RedeemRefreshToken,
        spent: RefreshTokenRecord,
        expiry_index: &mut Expiry<Writable<'_>>,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        // A successor that names an existing token would overwrite it.
        if c.successor == c.digest || self.tokens.contains(&c.successor)? {
            return Ok(StateResponse::Invalid);
        }
        let next = RefreshTokenRecord {
            digest: c.successor,
            issued_at: c.at,
            expires_at: spent.expiry_if_used_at(c.at),
            rotation: None,
            ..spent.clone()
        };
        let spent = RefreshTokenRecord {
            rotation: Some(Rotation {
                successor: c.successor,
                rotated_at: c.at,
            }),
            ..spent
        };
        self.tokens.insert(&c.digest, &stored(&spent))?;
        self.tokens.insert(&c.successor, &stored(&next))?;
        // A successor that expires with the token it replaces (with absolute expiry,
        // every one) needs no expiry entry of its own: the purge that drops the spent
        // token drops it too. Its entry would sort by the family's expiry, a write to
        // a page at a random place.
        if next.expires_at != spent.expires_at {
            expiry_index.add(next.expires_at, Kind::RefreshToken, &c.successor)?;
        }
        cache.note(|| CacheWrite::Refresh(next.clone()));
        cache.note(|| CacheWrite::Deny {
            denial: Denial::Spent(c.digest),
            until: spent.expires_at,
        });
        cache.note(|| CacheWrite::Refresh(spent.clone()));
        Ok(StateResponse::Rotated { record: next })
    }

    pub(super) fn revoke_family(
        &mut self,
        c: &RevokeRefreshFamily,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        Ok(match self.revoke(&c.family, c.at, cache)? {
            Some(()) => StateResponse::Revoked,
            None => StateResponse::Invalid,
        })
    }

    /// Revokes every family of a user.
    pub(super) fn revoke_subject(
        &mut self,
        c: &RevokeSubject,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        let families = Self::indexed(&self.by_subject, &c.subject)?;
        self.revoke_all(families, c.at, cache)
    }

    /// Revokes every family of a client.
    pub(super) fn revoke_client(
        &mut self,
        c: &RevokeClient,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        let families = Self::indexed(&self.by_client, &c.client_id)?;
        self.revoke_all(families, c.at, cache)
    }

    fn revoke_all(
        &mut self,
        families: Vec<FamilyId>,
        at: u64,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        let mut revoked = Vec::new();
        for id in families {
            if self.revoke(&id, at, cache)?.is_some()
                && let Some(family) = self.families.get(&id)?
            {
                revoked.push((id, family.absolute_expires_at));
            }
        }
        Ok(StateResponse::FamiliesRevoked { families: revoked })
    }

    /// Revokes `family` (keeping the time of its first revocation); `None` if unknown.
    pub(super) fn revoke(
        &mut self,
        id: &FamilyId,
        at: u64,
        cache: &mut CacheWrites,
    ) -> Result<Option<()>> {
        let Some(mut family) = self.families.get(id)? else {
            return Ok(None);
        };
        if family.revoked_at.is_none() {
            family.revoked_at = Some(at);
            self.families.insert(id, &family)?;
        }
        cache.note(|| CacheWrite::Deny {
            denial: Denial::Family(id.clone()),
            until: family.absolute_expires_at,
        });
        Ok(Some(()))
    }

    /// Drops the token or family `due` names if it has expired by `at`, and returns
    /// how many records went, at most `budget`.
    /// A rotated token is kept until it expires, so that its reuse is still detected;
    /// a family outlives its tokens until its absolute expiry, so that a revoked
    /// family stays revoked for as long as any of its tokens could have been valid.
    ///
    /// A token goes with the successors that expire when it does, which have no
    /// entry of their own (see `rotate`). If `budget` runs out along that chain,
    /// the rest of it gets an entry, due at once, for the next purge.
    pub(super) fn purge(
        &mut self,
        due: &Due,
        at: u64,
        budget: u64,
        expiry_index: &mut Expiry<Writable<'_>>,
    ) -> Result<u64> {
        match due.kind {
            Kind::RefreshToken => {
                let Some(mut digest) = tables::digest_key(&due.key) else {
                    return Ok(0);
                };
                let mut removed = 0;
                let mut chain_expiry = None;
                while let Some(token) = self.tokens.get(&digest)? {
                    let expired = at >= token.expires_at;
                    if !expired || chain_expiry.is_some_and(|t| t != token.expires_at) {
                        break;
                    }
                    if removed == budget {
                        expiry_index.add(token.expires_at, Kind::RefreshToken, &digest)?;
                        break;
                    }
                    self.tokens.remove(&digest)?;
                    removed += 1;
                    chain_expiry = Some(token.expires_at);
                    match token.rotation {
                        Some(rotation) => digest = rotation.successor,
                        None => break,
                    }
                }
                Ok(removed)
            }
            Kind::RefreshFamily => {
                let id = tables::family_key(&due.key);
                match self.families.get(&id)? {
                    Some(family) if at >= family.absolute_expires_at => {
                        let (by_subject, by_client) = index_keys(&id, &family);
                        self.by_subject.remove(&by_subject)?;
                        self.by_client.remove(&by_client)?;
                        Ok(u64::from(self.families.remove(&id)?))
                    }
                    _ => Ok(0),
                }
            }
            _ => Ok(0),
        }
    }
}

/// A token's own part of its record.
fn stored(record: &RefreshTokenRecord) -> StoredToken {
    StoredToken {
        family: record.family.clone(),
        issued_at: record.issued_at,
        expires_at: record.expires_at,
        rotation: record.rotation.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::StateCommand;
    use crate::record::TokenExpiration;
    use crate::state::TestState;

    const T0: u64 = 1_800_000_000;
    const GRACE: u32 = 5;

    fn d(handle: &str) -> TokenDigest {
        TokenDigest::of_handle(handle)
    }

    fn issue(usage: TokenUsage, expiration: TokenExpiration) -> StateCommand {
        StateCommand::IssueRefreshToken(IssueRefreshToken {
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
            auth_time: None,
            amr: None,
        })
    }

    fn redeem(token: &str, client: &str, successor: &str, at: u64) -> StateCommand {
        StateCommand::RedeemRefreshToken(RedeemRefreshToken {
            digest: d(token),
            client_id: client.into(),
            successor: d(successor),
            grace_period: GRACE,
            at,
        })
    }

    fn purge(at: u64, limit: Option<u64>) -> StateCommand {
        StateCommand::Purge(crate::command::Purge { at, limit })
    }

    fn state_with(usage: TokenUsage, expiration: TokenExpiration) -> TestState {
        let mut state = TestState::default();
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
            StateResponse::FamiliesRevoked { .. } => "families_revoked",
            StateResponse::CodeRedeemed { .. } => "code_redeemed",
            StateResponse::CodeReplayed { .. } => "code_replayed",
            StateResponse::Empty => "empty",
        }
    }

    fn family_revoked(state: &TestState) -> bool {
        state
            .read(|s| s.refresh_tokens().family(&FamilyId("fam".into())))
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
                    StateCommand::RevokeRefreshFamily(RevokeRefreshFamily {
                        family: FamilyId("fam".into()),
                        at: T0 + 1,
                    }),
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
        let families = |state: &TestState| -> Vec<_> {
            let number = tables::number(tables::FAMILIES);
            state.dump().into_iter().filter(|r| r.0 == number).collect()
        };
        let family_before = families(&state);
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
        let spent = state.read(|s| s.refresh_tokens().get(&d("rt0"))).unwrap();
        assert_eq!(
            spent.rotation,
            Some(Rotation {
                successor: d("rt1"),
                rotated_at: T0 + 10
            })
        );
        // The successor is the family's current token; the family's record is not
        // written.
        let live = |handle: &str| {
            state.read(|s| {
                let token = s.refresh_tokens().get(&d(handle))?.expect("a token");
                s.refresh_tokens().is_live(&token, T0 + 11)
            })
        };
        assert!(live("rt1"));
        assert!(!live("rt0"));
        assert_eq!(families(&state), family_before);

        let StateResponse::AlreadyRotated { record: again } =
            state.apply(&redeem("rt0", "app", "rt1", T0 + 12))
        else {
            panic!("not a retry")
        };
        assert_eq!(again, record, "a retry must get the same successor");
    }

    /// With absolute expiry a rotation adds no expiry entry: the purge that reaches
    /// the first token follows the chain of successors, in batches no larger than
    /// the purge's limit.
    #[test]
    fn successors_that_expire_with_their_token_are_purged_through_it() {
        let mut state = state_with(TokenUsage::OneTimeOnly, TokenExpiration::Absolute);
        let expiry_entries = |state: &TestState| {
            let number = tables::number(tables::EXPIRY);
            state.dump().iter().filter(|r| r.0 == number).count()
        };
        let issued = expiry_entries(&state);
        for (spent, next) in [("rt0", "rt1"), ("rt1", "rt2"), ("rt2", "rt3")] {
            assert_eq!(
                kind(&state.apply(&redeem(spent, "app", next, T0 + 10))),
                "rotated"
            );
        }
        assert_eq!(expiry_entries(&state), issued, "a rotation adds no entry");

        let purge_two = |state: &mut TestState, at| state.apply(&purge(at, Some(2)));
        assert_eq!(
            purge_two(&mut state, T0 + 999),
            StateResponse::Purged { removed: 0 }
        );
        let left = |state: &TestState| {
            ["rt0", "rt1", "rt2", "rt3"]
                .into_iter()
                .filter(|h| state.read(|s| s.refresh_tokens().get(&d(h))).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            purge_two(&mut state, T0 + 1000),
            StateResponse::Purged { removed: 2 }
        );
        assert_eq!(left(&state), ["rt2", "rt3"]);
        assert_eq!(
            purge_two(&mut state, T0 + 1000),
            StateResponse::Purged { removed: 2 }
        );
        assert_eq!(left(&state), Vec::<&str>::new());
        // Then the family, and nothing is left behind.
        assert_eq!(
            purge_two(&mut state, T0 + 1000),
            StateResponse::Purged { removed: 1 }
        );
        assert!(state.holds_nothing());
    }

    /// A successor whose expiry differs (sliding) has an entry of its own and is not
    /// taken with the token before it.
    #[test]
    fn a_successor_that_expires_later_outlives_its_token() {
        let mut state = state_with(TokenUsage::OneTimeOnly, TokenExpiration::Sliding);
        state.apply(&redeem("rt0", "app", "rt1", T0 + 50)); // rt0 expires T0+100, rt1 T0+150
        assert_eq!(
            state.apply(&purge(T0 + 100, None)),
            StateResponse::Purged { removed: 1 }
        );
        assert!(state.read(|s| s.refresh_tokens().get(&d("rt0"))).is_none());
        assert!(state.read(|s| s.refresh_tokens().get(&d("rt1"))).is_some());
    }

    #[test]
    fn another_clients_token_changes_no_state() {
        let mut state = state_with(TokenUsage::OneTimeOnly, TokenExpiration::Sliding);
        state.apply(&redeem("rt0", "app", "rt1", T0 + 10));
        let before = state.dump();
        for command in [
            redeem("rt0", "evil", "x", T0 + 100),
            redeem("rt1", "evil", "x", T0 + 11),
        ] {
            assert_eq!(state.apply(&command), StateResponse::Invalid);
            assert_eq!(state.dump(), before);
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
        let before = state.dump();
        assert_eq!(
            state.apply(&issue(TokenUsage::ReUse, TokenExpiration::Absolute)),
            StateResponse::Duplicate
        );
        assert_eq!(state.dump(), before);
    }

    fn applied(state: &mut TestState, command: StateCommand) -> Vec<CacheWrite> {
        let mut cache = CacheWrites::collecting();
        state.apply_noting(&command, &mut cache);
        cache.take()
    }

    #[test]
    fn issue_and_rotation_write_through_the_records_and_deny_the_spent_token() {
        let mut state = TestState::default();
        let issued = applied(
            &mut state,
            issue(TokenUsage::OneTimeOnly, TokenExpiration::Absolute),
        );
        assert!(matches!(&issued[..], [CacheWrite::Refresh(r)] if r.digest == d("rt0")));
        let writes = applied(&mut state, redeem("rt0", "app", "rt1", T0 + 1));
        assert!(matches!(&writes[0], CacheWrite::Refresh(r) if r.digest == d("rt1")));
        assert!(writes.contains(&CacheWrite::Deny {
            denial: Denial::Spent(d("rt0")),
            until: T0 + 1000
        }));
        assert!(writes.iter().any(
            |w| matches!(w, CacheWrite::Refresh(r) if r.digest == d("rt0") && r.rotation.is_some())
        ));
    }

    #[test]
    fn reuse_and_revocation_deny_the_family_until_its_absolute_expiry() {
        let mut state = state_with(TokenUsage::OneTimeOnly, TokenExpiration::Sliding);
        applied(&mut state, redeem("rt0", "app", "rt1", T0 + 1));
        let family_denied = vec![CacheWrite::Deny {
            denial: Denial::Family(FamilyId("fam".into())),
            until: T0 + 1000,
        }];
        assert_eq!(
            applied(&mut state, redeem("rt0", "app", "rt1", T0 + 10)),
            family_denied
        );
        let revoke = StateCommand::RevokeRefreshFamily(RevokeRefreshFamily {
            family: FamilyId("fam".into()),
            at: T0 + 11,
        });
        assert_eq!(applied(&mut state, revoke), family_denied);
        // Refused commands change nothing and write nothing.
        assert!(applied(&mut state, redeem("rt1", "app", "rt2", T0 + 12)).is_empty());
        assert!(applied(&mut state, redeem("nope", "app", "x", T0 + 12)).is_empty());
    }

    #[test]
    fn a_re_usable_token_writes_its_new_expiry() {
        let mut state = state_with(TokenUsage::ReUse, TokenExpiration::Sliding);
        let writes = applied(&mut state, redeem("rt0", "app", "ignored", T0 + 50));
        assert!(matches!(&writes[..], [CacheWrite::Refresh(r)] if r.expires_at == T0 + 150));
    }

    #[test]
    fn a_retry_after_a_change_of_leader_gets_its_grace_from_the_new_leader() {
        let grace = u64::from(GRACE);
        let mut state = state_with(TokenUsage::OneTimeOnly, TokenExpiration::Sliding);
        state.apply(&redeem("rt0", "app", "rt1", T0 + 10));
        // The leader dies with the answer unsent; the next one answers 20 s later.
        state.new_term();
        for at in [T0 + 30, T0 + 30 + grace - 1] {
            assert_eq!(
                kind(&state.apply(&redeem("rt0", "app", "rt1", at))),
                "already_rotated",
                "a retry at {at}"
            );
        }
        assert_eq!(
            kind(&state.apply(&redeem("rt0", "app", "rt1", T0 + 30 + grace))),
            "reuse_detected"
        );
    }

    #[test]
    fn without_a_change_of_leader_a_late_retry_is_reuse() {
        let mut state = state_with(TokenUsage::OneTimeOnly, TokenExpiration::Sliding);
        state.apply(&redeem("rt0", "app", "rt1", T0 + 10));
        state.apply(&StateCommand::RevokeToken(crate::command::RevokeToken {
            token_id: "other".into(),
            expires_at: T0 + 100,
            at: T0 + 29,
        }));
        assert_eq!(
            kind(&state.apply(&redeem("rt0", "app", "rt1", T0 + 30))),
            "reuse_detected"
        );
    }
}
