//! Authorization codes as the grants store them (RFC 6749 §4.1): recorded before the
//! handle goes to the client, read by the token endpoint, and exchanged at most once
//! (docs/architecture.md §4, invariant 3).

use crate::command::{
    IssueRefreshToken, RedeemAuthorizationCode, StateCommand, StateResponse, StoreAuthorizationCode,
};
use crate::digest::TokenDigest;
use crate::error::{StateError, Unavailable};
use crate::record::{AuthorizationCodeRecord, Denial, FamilyId};

use super::{NewRefreshToken, TokenStore};

pub struct CodeStorage<'a> {
    store: &'a TokenStore,
}

/// An authorization code about to be sent to the client.
#[derive(Debug, Clone)]
pub struct NewAuthorizationCode {
    /// The digest of the handle the client receives.
    pub digest: TokenDigest,
    pub client_id: String,
    pub subject: String,
    pub redirect_uri: String,
    pub scope: String,
    pub audiences: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub session_id: String,
    pub auth_time: u64,
    pub amr: String,
    pub expires_at: u64,
    /// When it is issued, by the proposer's clock.
    pub at: u64,
}

/// A client exchanging an authorization code.
#[derive(Debug, Clone)]
pub struct CodeRedemption {
    /// The digest of the presented code.
    pub digest: TokenDigest,
    /// The authenticated client presenting it.
    pub client_id: String,
    /// The family every token minted from the code carries (`fam`). New for each
    /// token request and kept across its retries: an exchange presenting the same
    /// family again is taken for a retry of the same one, never as a replay, so it
    /// must never be derived from the code.
    pub family: FamilyId,
    /// When the last access or ID token minted from the code expires; a replay
    /// denies the family until then (or the refresh token's absolute expiry).
    pub tokens_expire_at: u64,
    /// The refresh token to issue with the exchange, if any; its `family` and `at`
    /// are the redemption's.
    pub refresh: Option<NewRefreshToken>,
    pub at: u64,
}

/// How an exchange ended.
// Returned once per token request and never kept, so the record is not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedeemed {
    /// The code is now spent by this exchange (or was, by an earlier attempt of
    /// it); the refresh token, if any, is issued.
    Redeemed(AuthorizationCodeRecord),
    /// The code had been exchanged already: everything minted from it is revoked,
    /// on every node, edges included, by the time this is returned.
    Replayed,
    /// Unknown, expired, or another client's code; nothing changed.
    Invalid,
}

impl<'a> CodeStorage<'a> {
    pub(super) fn new(store: &'a TokenStore) -> Self {
        Self { store }
    }

    /// Records the code; recording the same one twice (a retried proposal that had
    /// been applied) is not an error.
    pub async fn store(&self, code: NewAuthorizationCode) -> Result<(), StateError> {
        let command = StateCommand::StoreAuthorizationCode(StoreAuthorizationCode {
            digest: code.digest,
            client_id: code.client_id,
            subject: code.subject,
            redirect_uri: code.redirect_uri,
            scope: code.scope,
            audiences: code.audiences,
            nonce: code.nonce,
            code_challenge: code.code_challenge,
            code_challenge_method: code.code_challenge_method,
            session_id: code.session_id,
            auth_time: code.auth_time,
            amr: code.amr,
            expires_at: code.expires_at,
            at: code.at,
        });
        match self.store.propose(command).await? {
            StateResponse::Issued | StateResponse::Duplicate => Ok(()),
            other => Err(StateError::unexpected("store_authorization_code", other)),
        }
    }

    /// The code with this digest, seeing every write acknowledged before the call
    /// (an exchange at another node included); `None` when unknown or expired. A
    /// code exchanged already is returned with `redeemed` set.
    pub async fn lookup(
        &self,
        digest: TokenDigest,
        now: u64,
    ) -> Result<Option<AuthorizationCodeRecord>, Unavailable> {
        self.store.authorization_code(digest, now).await
    }

    /// Exchanges the code: one compare-and-set across the cluster, so a code is
    /// exchanged at most once however many nodes it is presented at.
    pub async fn redeem(&self, redemption: CodeRedemption) -> Result<CodeRedeemed, StateError> {
        let refresh = redemption.refresh.map(|token| IssueRefreshToken {
            family: redemption.family.clone(),
            digest: token.digest,
            client_id: token.client_id,
            subject: token.subject,
            scope: token.scope,
            audiences: token.audiences,
            usage: token.usage,
            expiration: token.expiration,
            absolute_expires_at: token.absolute_expires_at,
            sliding_lifetime: token.sliding_lifetime,
            at: redemption.at,
            auth_time: token.auth_time,
            amr: token.amr,
        });
        let command = StateCommand::RedeemAuthorizationCode(RedeemAuthorizationCode {
            digest: redemption.digest,
            client_id: redemption.client_id,
            family: redemption.family,
            tokens_expire_at: redemption.tokens_expire_at,
            refresh,
            at: redemption.at,
        });
        Ok(match self.store.propose(command).await? {
            StateResponse::CodeRedeemed { record } => CodeRedeemed::Redeemed(record),
            StateResponse::CodeReplayed { family, until } => {
                // Like a family revocation: answered once edges refuse the family.
                self.store
                    .publish_denials(vec![(Denial::Family(family), until)])
                    .await;
                CodeRedeemed::Replayed
            }
            StateResponse::Invalid => CodeRedeemed::Invalid,
            other => return Err(StateError::unexpected("redeem_authorization_code", other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{TokenExpiration, TokenUsage};

    const T0: u64 = 1_800_000_000;

    fn code() -> NewAuthorizationCode {
        NewAuthorizationCode {
            digest: TokenDigest::of_handle("code"),
            client_id: "app".into(),
            subject: "alice".into(),
            redirect_uri: "https://app.example/cb".into(),
            scope: "openid offline_access".into(),
            audiences: vec!["api".into()],
            nonce: None,
            code_challenge: None,
            code_challenge_method: None,
            session_id: "sid".into(),
            auth_time: T0,
            amr: "pwd".into(),
            expires_at: T0 + 60,
            at: T0,
        }
    }

    fn redemption(family: &str, at: u64) -> CodeRedemption {
        CodeRedemption {
            digest: TokenDigest::of_handle("code"),
            client_id: "app".into(),
            family: FamilyId(family.into()),
            tokens_expire_at: at + 300,
            refresh: Some(NewRefreshToken {
                family: FamilyId("replaced".into()),
                digest: TokenDigest::of_handle(&format!("rt-{family}")),
                client_id: "app".into(),
                subject: "alice".into(),
                scope: "openid offline_access".into(),
                audiences: vec![],
                usage: TokenUsage::OneTimeOnly,
                expiration: TokenExpiration::Absolute,
                absolute_expires_at: at + 3600,
                sliding_lifetime: None,
                at: 0,
                auth_time: Some(T0),
                amr: Some("pwd".into()),
            }),
            at,
        }
    }

    #[tokio::test]
    async fn a_code_is_exchanged_once_and_a_replay_revokes_its_tokens() {
        let store = TokenStore::in_memory();
        let codes = store.codes();
        codes.store(code()).await.unwrap();
        codes.store(code()).await.unwrap();
        let digest = TokenDigest::of_handle("code");
        let found = codes.lookup(digest, T0 + 1).await.unwrap().unwrap();
        assert_eq!(
            (found.subject.as_str(), found.redeemed.as_ref()),
            ("alice", None)
        );

        let CodeRedeemed::Redeemed(record) =
            codes.redeem(redemption("fam-1", T0 + 1)).await.unwrap()
        else {
            panic!("not redeemed");
        };
        assert_eq!(
            record.redeemed.as_ref().map(|r| &r.family.0[..]),
            Some("fam-1")
        );
        // The refresh token was issued in the same step, in the code's family.
        let refresh = store
            .lookup(TokenDigest::of_handle("rt-fam-1"), T0 + 2)
            .await
            .unwrap();
        assert!(refresh.refresh_live);
        assert_eq!(refresh.refresh.unwrap().family, FamilyId("fam-1".into()));
        // A retry of the same exchange.
        assert_eq!(
            codes.redeem(redemption("fam-1", T0 + 1)).await.unwrap(),
            CodeRedeemed::Redeemed(record)
        );

        assert_eq!(
            codes.redeem(redemption("fam-2", T0 + 5)).await.unwrap(),
            CodeRedeemed::Replayed
        );
        let family = Denial::Family(FamilyId("fam-1".into()));
        assert!(store.deny().is_denied(&family, T0 + 6).await.unwrap());
        let refresh = store
            .lookup(TokenDigest::of_handle("rt-fam-1"), T0 + 6)
            .await
            .unwrap();
        assert!(!refresh.refresh_live);

        let mut other = redemption("fam-3", T0 + 1);
        other.digest = TokenDigest::of_handle("unknown");
        assert_eq!(codes.redeem(other).await.unwrap(), CodeRedeemed::Invalid);
        assert_eq!(codes.lookup(digest, T0 + 60).await.unwrap(), None);
    }
}
