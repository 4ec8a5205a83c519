//! Authorization codes (RFC 6749 §4.1): stored when the authorization endpoint
//! answers, exchanged at most once (invariant 3 of docs/architecture.md §4), and a
//! replay revokes what the exchange issued (RFC 6749 §4.1.2, §10.5).
//!
//! Every token minted from a code carries the family the exchange chose (the `fam`
//! claim of a JWT, the family of a reference or refresh token), so a replay has one
//! thing to deny: that family, with the same denial a family revocation makes. A
//! redeemed code is kept for as long as those tokens live, so that a replay at any
//! time before they expire still switches them off.
//!
//! Codes are never put in the hot cache: a code is read once or twice in its short
//! life, always with a read that must see every acknowledged write. Only the denial
//! of a replay is written through, like any other.

use super::expiry::{Due, Expiry, Kind};
use super::refresh::RefreshTokens;
use super::tables::{self, Result, Table, Writable};
use crate::cache::{CacheWrite, CacheWrites};
use crate::command::{
    IssueRefreshToken, RedeemAuthorizationCode, StateResponse, StoreAuthorizationCode,
};
use crate::digest::TokenDigest;
use crate::record::{AuthorizationCodeRecord, CodeExchange, Denial, FamilyId};

pub struct AuthorizationCodes<T> {
    authorization_codes: Table<T, TokenDigest, AuthorizationCodeRecord>,
    /// Families denied because their code was replayed → until when. Apart from the
    /// refresh aggregate's families, because an exchange without a refresh token
    /// leaves no refresh family to mark.
    replayed_families: Table<T, FamilyId, u64>,
}

impl<T> AuthorizationCodes<T> {
    pub(super) fn new(authorization_codes: T, replayed_families: T) -> Self {
        Self {
            authorization_codes: Table::new(authorization_codes, tables::AUTHORIZATION_CODES),
            replayed_families: Table::new(replayed_families, tables::REPLAYED_FAMILIES),
        }
    }
}

impl AuthorizationCodes<Writable<'_>> {
    pub(super) fn store(
        &mut self,
        c: &StoreAuthorizationCode,
        expiry_index: &mut Expiry<Writable<'_>>,
    ) -> Result<StateResponse> {
        if self.authorization_codes.contains(&c.digest)? {
            return Ok(StateResponse::Duplicate);
        }
        let record = AuthorizationCodeRecord {
            client_id: c.client_id.clone(),
            subject: c.subject.clone(),
            redirect_uri: c.redirect_uri.clone(),
            scope: c.scope.clone(),
            audiences: c.audiences.clone(),
            nonce: c.nonce.clone(),
            code_challenge: c.code_challenge.clone(),
            code_challenge_method: c.code_challenge_method.clone(),
            session_id: c.session_id.clone(),
            auth_time: c.auth_time,
            amr: c.amr.clone(),
            issued_at: c.at,
            expires_at: c.expires_at,
            redeemed: None,
        };
        expiry_index.add(record.kept_until(), Kind::AuthorizationCode, &c.digest)?;
        self.authorization_codes.insert(&c.digest, &record)?;
        Ok(StateResponse::Issued)
    }

    /// RFC 6749 §4.1.3 and invariant 3, in one step: the first exchange wins, the
    /// same exchange retried gets the same answer, any other presentation is a
    /// replay and revokes what the first issued.
    pub(super) fn redeem(
        &mut self,
        c: &RedeemAuthorizationCode,
        refresh: &mut RefreshTokens<Writable<'_>>,
        expiry_index: &mut Expiry<Writable<'_>>,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        let Some(mut code) = self.authorization_codes.get(&c.digest)? else {
            return Ok(StateResponse::Invalid);
        };
        if let Some(exchange) = &code.redeemed {
            // The proposer retries an exchange whose outcome it did not learn with
            // the same family; a replay comes from another token request, which
            // chose another one.
            if exchange.family == c.family && code.client_id == c.client_id {
                return Ok(StateResponse::CodeRedeemed { record: code });
            }
            // Any client, and past the code's own expiry: whoever presents it again,
            // the code leaked, and what it issued must not be trusted.
            let (family, until) = (exchange.family.clone(), exchange.tokens_expire_at);
            return self.deny(family, until, c.at, refresh, expiry_index, cache);
        }
        // Checked before anything changes: another client's code must neither work
        // nor be spent.
        if code.client_id != c.client_id || c.at >= code.expires_at {
            return Ok(StateResponse::Invalid);
        }
        let mut tokens_expire_at = c.tokens_expire_at;
        if let Some(token) = &c.refresh {
            let issue = IssueRefreshToken {
                family: c.family.clone(),
                at: c.at,
                ..token.clone()
            };
            // The refresh aggregate checks before it changes anything: a token or a
            // family that exists already (a proposer's bug) leaves the code unspent.
            match refresh.issue(&issue, expiry_index, cache)? {
                StateResponse::Issued => {}
                refused => return Ok(refused),
            }
            tokens_expire_at = tokens_expire_at.max(issue.absolute_expires_at);
        }
        code.redeemed = Some(CodeExchange {
            family: c.family.clone(),
            tokens_expire_at,
            redeemed_at: c.at,
        });
        expiry_index.add(code.kept_until(), Kind::AuthorizationCode, &c.digest)?;
        self.authorization_codes.insert(&c.digest, &code)?;
        Ok(StateResponse::CodeRedeemed { record: code })
    }

    /// Denies `family` until `until` (or its refresh tokens' absolute expiry, if
    /// later): the denial a family revocation makes, plus one of the code's own for
    /// access tokens minted without a refresh token.
    fn deny(
        &mut self,
        family: FamilyId,
        until: u64,
        at: u64,
        refresh: &mut RefreshTokens<Writable<'_>>,
        expiry_index: &mut Expiry<Writable<'_>>,
        cache: &mut CacheWrites,
    ) -> Result<StateResponse> {
        let until = match refresh.revoke(&family, at, cache)? {
            Some(()) => refresh
                .family(&family)?
                .map_or(until, |revoked| until.max(revoked.absolute_expires_at)),
            None => until,
        };
        // Tokens that expired already need no denial to stay dead.
        if at < until {
            let kept = self.replayed_families.get(&family)?;
            if kept.is_none_or(|kept| kept < until) {
                self.replayed_families.insert(&family, &until)?;
                expiry_index.add(until, Kind::ReplayedFamily, &family)?;
            }
            cache.note(|| CacheWrite::Deny {
                denial: Denial::Family(family.clone()),
                until,
            });
        }
        Ok(StateResponse::CodeReplayed { family, until })
    }

    /// Drops the codes of `subject` that were not exchanged: the user is gone, and
    /// nothing may be issued for them. Exchanged ones stay, so a replay still
    /// revokes.
    pub(super) fn forget_subject(&mut self, subject: &str) -> Result<()> {
        self.forget_unexchanged(|code| code.subject == subject)
    }

    /// Drops the codes of `client_id` that were not exchanged.
    pub(super) fn forget_client(&mut self, client_id: &str) -> Result<()> {
        self.forget_unexchanged(|code| code.client_id == client_id)
    }

    /// Walks every code: codes live for minutes, so there are few at any time.
    fn forget_unexchanged(
        &mut self,
        mut whose: impl FnMut(&AuthorizationCodeRecord) -> bool,
    ) -> Result<()> {
        let mut keys = Vec::new();
        self.authorization_codes.scan(|key, code| {
            if code.redeemed.is_none() && whose(&code) {
                keys.push(key.to_vec());
            }
            Ok(true)
        })?;
        for key in keys {
            if let Some(digest) = tables::digest_key(&key) {
                self.authorization_codes.remove(&digest)?;
            }
        }
        Ok(())
    }

    /// Drops the code or denial `due` names if it has expired by `at`; whether it went.
    pub(super) fn purge(&mut self, due: &Due, at: u64) -> Result<bool> {
        match due.kind {
            Kind::AuthorizationCode => {
                let Some(digest) = tables::digest_key(&due.key) else {
                    return Ok(false);
                };
                match self.authorization_codes.get(&digest)? {
                    Some(code) if at >= code.kept_until() => {
                        self.authorization_codes.remove(&digest)
                    }
                    _ => Ok(false),
                }
            }
            Kind::ReplayedFamily => {
                let family = tables::family_key(&due.key);
                match self.replayed_families.get(&family)? {
                    Some(until) if at >= until => self.replayed_families.remove(&family),
                    _ => Ok(false),
                }
            }
            _ => Ok(false),
        }
    }
}

impl<T: redb::ReadableTable<&'static [u8], &'static [u8]>> AuthorizationCodes<T> {
    /// The code with this digest if it can still be exchanged at `now`, or was
    /// exchanged and has not expired yet (`redeemed` says so).
    pub fn get(&self, digest: &TokenDigest, now: u64) -> Result<Option<AuthorizationCodeRecord>> {
        Ok(self
            .authorization_codes
            .get(digest)?
            .filter(|code| now < code.expires_at))
    }

    /// Whether `family` is denied at `now` because its code was replayed.
    pub fn is_family_denied(&self, family: &FamilyId, now: u64) -> Result<bool> {
        Ok(self
            .replayed_families
            .get(family)?
            .is_some_and(|until| now < until))
    }

    pub(super) fn denials(&self, visit: &mut impl FnMut(Denial, u64) -> Result<()>) -> Result<()> {
        self.replayed_families.scan(|family, until| {
            visit(Denial::Family(tables::family_key(family)), until)?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Purge, RevokeClient, RevokeSubject, StateCommand, StoreReferenceToken};
    use crate::record::{TokenExpiration, TokenUsage};
    use crate::state::TestState;

    const T0: u64 = 1_800_000_000;
    /// The code lives 60 s; what it issues, an hour; its refresh token, a day.
    const CODE_TTL: u64 = 60;
    const TOKENS_TTL: u64 = 3600;
    const REFRESH_TTL: u64 = 86_400;

    fn d(handle: &str) -> TokenDigest {
        TokenDigest::of_handle(handle)
    }

    fn fam(id: &str) -> FamilyId {
        FamilyId(id.into())
    }

    fn store(handle: &str) -> StateCommand {
        StateCommand::StoreAuthorizationCode(StoreAuthorizationCode {
            digest: d(handle),
            client_id: "app".into(),
            subject: "alice".into(),
            redirect_uri: "https://app.example/cb".into(),
            scope: "openid offline_access".into(),
            audiences: vec!["api".into()],
            nonce: Some("n-0S6".into()),
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            code_challenge_method: Some("S256".into()),
            session_id: "sid".into(),
            auth_time: T0 - 5,
            amr: "pwd".into(),
            expires_at: T0 + CODE_TTL,
            at: T0,
        })
    }

    fn refresh_token(handle: &str) -> IssueRefreshToken {
        IssueRefreshToken {
            // Replaced by the redemption's family and time.
            family: fam("ignored"),
            digest: d(handle),
            client_id: "app".into(),
            subject: "alice".into(),
            scope: "openid offline_access".into(),
            audiences: vec!["api".into()],
            usage: TokenUsage::OneTimeOnly,
            expiration: TokenExpiration::Absolute,
            absolute_expires_at: T0 + REFRESH_TTL,
            sliding_lifetime: None,
            at: 0,
            auth_time: Some(T0 - 5),
            amr: Some("pwd".into()),
        }
    }

    fn redeem(
        handle: &str,
        client: &str,
        family: &str,
        refresh: Option<&str>,
        at: u64,
    ) -> StateCommand {
        StateCommand::RedeemAuthorizationCode(RedeemAuthorizationCode {
            digest: d(handle),
            client_id: client.into(),
            family: fam(family),
            tokens_expire_at: at + TOKENS_TTL,
            refresh: refresh.map(refresh_token),
            at,
        })
    }

    fn stored() -> TestState {
        let mut state = TestState::default();
        assert_eq!(state.apply(&store("code")), StateResponse::Issued);
        state
    }

    fn family_denied(state: &TestState, family: &str, now: u64) -> bool {
        state.read(|s| s.is_denied(&Denial::Family(fam(family)), now))
    }

    #[test]
    fn a_code_is_exchanged_once() {
        let mut state = stored();
        assert_eq!(state.apply(&store("code")), StateResponse::Duplicate);
        let StateResponse::CodeRedeemed { record } =
            state.apply(&redeem("code", "app", "fam-1", None, T0 + 1))
        else {
            panic!("not redeemed");
        };
        assert_eq!(record.subject, "alice");
        assert_eq!(record.redirect_uri, "https://app.example/cb");
        assert_eq!(record.issued_at, T0);
        assert_eq!(
            record.redeemed,
            Some(CodeExchange {
                family: fam("fam-1"),
                tokens_expire_at: T0 + 1 + TOKENS_TTL,
                redeemed_at: T0 + 1,
            })
        );
        // Still readable until it expires, marked as exchanged.
        assert_eq!(
            state.read(|s| s.authorization_codes().get(&d("code"), T0 + 2)),
            Some(record.clone())
        );
        assert!(!family_denied(&state, "fam-1", T0 + 2));
    }

    #[test]
    fn a_replay_revokes_the_family_and_the_refresh_token_issued_with_it() {
        let mut state = stored();
        let first = state.apply(&redeem("code", "app", "fam-1", Some("rt"), T0 + 1));
        assert!(
            matches!(first, StateResponse::CodeRedeemed { .. }),
            "{first:?}"
        );
        let token = state.read(|s| s.refresh_tokens().get(&d("rt"))).unwrap();
        assert_eq!(
            (token.family.clone(), token.issued_at),
            (fam("fam-1"), T0 + 1)
        );
        assert!(state.read(|s| s.refresh_tokens().is_live(&token, T0 + 2)));

        // Another token request with the same code: a replay, whoever sends it.
        assert_eq!(
            state.apply(&redeem("code", "app", "fam-2", None, T0 + 10)),
            StateResponse::CodeReplayed {
                family: fam("fam-1"),
                until: T0 + REFRESH_TTL
            }
        );
        assert!(family_denied(&state, "fam-1", T0 + 11));
        assert!(!state.read(|s| s.refresh_tokens().is_live(&token, T0 + 11)));
        assert!(!state.lookup(&d("rt"), T0 + 11).refresh_live);
        // The replay issued nothing.
        assert!(
            state
                .read(|s| s.refresh_tokens().family(&fam("fam-2")))
                .is_none()
        );
        // A replay by another client, after the code expired, revokes all the same.
        assert!(matches!(
            state.apply(&redeem("code", "evil", "fam-3", None, T0 + CODE_TTL + 100)),
            StateResponse::CodeReplayed { .. }
        ));
        // The denial outlives the code's own expiry, until the refresh token's.
        assert!(family_denied(&state, "fam-1", T0 + REFRESH_TTL - 1));
    }

    #[test]
    fn a_replay_without_a_refresh_token_denies_the_access_tokens_family() {
        let mut state = stored();
        state.apply(&redeem("code", "app", "fam-1", None, T0 + 1));
        let mut cache = CacheWrites::collecting();
        let replayed =
            state.apply_noting(&redeem("code", "app", "fam-2", None, T0 + 2), &mut cache);
        let until = T0 + 1 + TOKENS_TTL;
        assert_eq!(
            replayed,
            StateResponse::CodeReplayed {
                family: fam("fam-1"),
                until
            }
        );
        // Written through like a family revocation, so edges refuse at once.
        assert_eq!(
            cache.take(),
            vec![CacheWrite::Deny {
                denial: Denial::Family(fam("fam-1")),
                until
            }]
        );
        assert!(family_denied(&state, "fam-1", until - 1));
        assert!(!family_denied(&state, "fam-1", until));
        assert!(
            state
                .denials()
                .contains(&(Denial::Family(fam("fam-1")), until))
        );
    }

    #[test]
    fn a_replay_switches_off_a_reference_token_minted_from_the_code() {
        let mut state = stored();
        state.apply(&redeem("code", "app", "fam-1", None, T0 + 1));
        state.apply(&StateCommand::StoreReferenceToken(StoreReferenceToken {
            digest: d("ref"),
            client_id: "app".into(),
            subject: Some("alice".into()),
            scope: "openid".into(),
            audiences: vec!["api".into()],
            expires_at: T0 + 1 + TOKENS_TTL,
            at: T0 + 1,
            family: Some(fam("fam-1")),
        }));
        assert!(state.lookup(&d("ref"), T0 + 2).reference.is_some());
        state.apply(&redeem("code", "app", "fam-2", None, T0 + 3));
        assert!(state.lookup(&d("ref"), T0 + 4).reference.is_none());
    }

    #[test]
    fn a_retry_of_the_same_exchange_gets_the_same_answer() {
        let mut state = stored();
        let exchange = redeem("code", "app", "fam-1", Some("rt"), T0 + 1);
        let first = state.apply(&exchange);
        let after_first = state.dump();
        assert_eq!(state.apply(&exchange), first);
        // Later too: the proposer retries through an election with the same command.
        let late = redeem("code", "app", "fam-1", Some("rt"), T0 + 30);
        assert_eq!(state.apply(&late), first);
        assert_eq!(state.dump(), after_first, "a retry changes nothing");
    }

    #[test]
    fn another_clients_code_is_invalid_and_changes_nothing() {
        let mut state = stored();
        let before = state.dump();
        let mut cache = CacheWrites::collecting();
        let command = redeem("code", "evil", "fam-x", Some("rt"), T0 + 1);
        assert_eq!(
            state.apply_noting(&command, &mut cache),
            StateResponse::Invalid
        );
        assert_eq!(state.dump(), before);
        assert!(cache.take().is_empty());
        // The rightful client can still exchange it.
        assert!(matches!(
            state.apply(&redeem("code", "app", "fam-1", None, T0 + 2)),
            StateResponse::CodeRedeemed { .. }
        ));
    }

    #[test]
    fn an_expired_or_unknown_code_is_invalid() {
        let mut state = stored();
        let before = state.dump();
        for command in [
            redeem("code", "app", "fam-1", Some("rt"), T0 + CODE_TTL),
            redeem("nope", "app", "fam-1", None, T0 + 1),
        ] {
            assert_eq!(state.apply(&command), StateResponse::Invalid);
            assert_eq!(state.dump(), before);
        }
        assert!(
            state
                .read(|s| s.authorization_codes().get(&d("code"), T0 + CODE_TTL))
                .is_none()
        );
        assert!(
            state
                .read(|s| s.authorization_codes().get(&d("code"), T0 + CODE_TTL - 1))
                .is_some()
        );
    }

    #[test]
    fn a_refresh_token_that_exists_already_leaves_the_code_unspent() {
        let mut state = stored();
        state.apply(&store("other"));
        state.apply(&redeem("other", "app", "fam-0", Some("rt"), T0 + 1));
        let before = state.dump();
        assert_eq!(
            state.apply(&redeem("code", "app", "fam-1", Some("rt"), T0 + 2)),
            StateResponse::Duplicate
        );
        assert_eq!(state.dump(), before);
    }

    #[test]
    fn purge_keeps_a_redeemed_code_while_its_tokens_live() {
        let mut state = stored();
        state.apply(&store("unused"));
        state.apply(&redeem("code", "app", "fam-1", None, T0 + 1));
        let purge = |state: &mut TestState, at| match state
            .apply(&StateCommand::Purge(Purge { at, limit: None }))
        {
            StateResponse::Purged { removed } => removed,
            other => panic!("{other:?}"),
        };
        assert_eq!(purge(&mut state, T0 + CODE_TTL - 1), 0);
        // The unused code goes at its expiry; the redeemed one stays.
        assert_eq!(purge(&mut state, T0 + CODE_TTL), 1);
        assert_eq!(
            state.apply(&redeem("code", "app", "fam-2", None, T0 + CODE_TTL + 1)),
            StateResponse::CodeReplayed {
                family: fam("fam-1"),
                until: T0 + 1 + TOKENS_TTL
            }
        );
        // The code and its replay's denial go when the tokens have expired.
        assert_eq!(purge(&mut state, T0 + TOKENS_TTL), 0);
        assert_eq!(purge(&mut state, T0 + 1 + TOKENS_TTL), 2);
        assert!(state.holds_nothing());
        // Once purged, presenting it is merely invalid.
        assert_eq!(
            state.apply(&redeem("code", "app", "fam-2", None, T0 + TOKENS_TTL + 2)),
            StateResponse::Invalid
        );
    }

    #[test]
    fn revoking_a_subject_or_client_drops_their_unused_codes() {
        let mut state = stored();
        state.apply(&store("redeemed"));
        state.apply(&redeem("redeemed", "app", "fam-1", None, T0 + 1));
        state.apply(&StateCommand::RevokeSubject(RevokeSubject {
            subject: "bob".into(),
            at: T0 + 2,
        }));
        assert!(
            state
                .read(|s| s.authorization_codes().get(&d("code"), T0 + 2))
                .is_some()
        );
        state.apply(&StateCommand::RevokeSubject(RevokeSubject {
            subject: "alice".into(),
            at: T0 + 2,
        }));
        assert!(
            state
                .read(|s| s.authorization_codes().get(&d("code"), T0 + 2))
                .is_none()
        );
        // The exchanged code stays, so that a replay still revokes.
        assert!(
            state
                .read(|s| s.authorization_codes().get(&d("redeemed"), T0 + 2))
                .is_some()
        );

        let mut state = stored();
        state.apply(&StateCommand::RevokeClient(RevokeClient {
            client_id: "app".into(),
            at: T0 + 2,
        }));
        assert_eq!(
            state.apply(&redeem("code", "app", "fam-1", None, T0 + 3)),
            StateResponse::Invalid
        );
    }

    #[test]
    fn codes_and_replays_survive_a_snapshot() {
        let mut state = stored();
        state.apply(&store("other"));
        state.apply(&redeem("code", "app", "fam-1", Some("rt"), T0 + 1));
        state.apply(&redeem("code", "app", "fam-2", None, T0 + 2));
        let restored = state.through_snapshot();
        assert_eq!(restored.dump(), state.dump());
        assert!(family_denied(&restored, "fam-1", T0 + 3));
        assert!(
            restored
                .read(|s| s.authorization_codes().get(&d("other"), T0 + 3))
                .is_some()
        );
    }
}
