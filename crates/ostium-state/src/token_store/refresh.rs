//! Refresh tokens as the grants store them: the first token of a family, redemption
//! with its outcome, and family revocation (docs/architecture.md §4, invariant 1).

use crate::command::{
    IssueRefreshToken, RedeemRefreshToken, RevokeClient, RevokeRefreshFamily, RevokeSubject,
    StateCommand, StateResponse,
};
use crate::digest::TokenDigest;
use crate::error::StateError;
use crate::record::{Denial, FamilyId, RefreshTokenRecord, TokenExpiration, TokenUsage};

use super::TokenStore;

pub struct RefreshStorage<'a> {
    store: &'a TokenStore,
}

/// The first refresh token of a new family.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub family: FamilyId,
    /// The digest of the handle the client receives.
    pub digest: TokenDigest,
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    pub audiences: Vec<String>,
    pub usage: TokenUsage,
    pub expiration: TokenExpiration,
    /// No token of the family is valid at or after this time.
    pub absolute_expires_at: u64,
    pub sliding_lifetime: Option<u32>,
    /// When it is issued, by the proposer's clock.
    pub at: u64,
    /// When and how the user authenticated, carried on to every access token the
    /// family's tokens are redeemed for.
    pub auth_time: Option<u64>,
    pub amr: Option<String>,
}

/// A client presenting a refresh token.
#[derive(Debug, Clone)]
pub struct Redemption {
    /// The digest of the presented handle.
    pub digest: TokenDigest,
    /// The authenticated client presenting it.
    pub client_id: String,
    /// The digest of the successor handle, derived from the presented one so that a
    /// retry proposes the same successor.
    pub successor: TokenDigest,
    pub grace_period: u32,
    pub at: u64,
}

/// How a redemption ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The token was current and is now spent; the successor is current.
    Rotated { successor: RefreshTokenRecord },
    /// A retry of a rotation within the grace period: the same successor as before.
    AlreadyRotated { successor: RefreshTokenRecord },
    /// A re-usable token was redeemed; it stays current, with its new expiry.
    Reused { token: RefreshTokenRecord },
    /// A rotated token was presented again: every token of its family is revoked.
    ReuseDetected { family: FamilyId },
    /// Unknown, expired, revoked, or another client's token; nothing changed.
    Invalid,
}

impl<'a> RefreshStorage<'a> {
    pub(super) fn new(store: &'a TokenStore) -> Self {
        Self { store }
    }

    /// Records the first token of a family. Issuing the same one twice (a retried
    /// proposal that had been applied) is not an error.
    pub async fn issue(&self, token: NewRefreshToken) -> Result<(), StateError> {
        let command = StateCommand::IssueRefreshToken(IssueRefreshToken {
            family: token.family,
            digest: token.digest,
            client_id: token.client_id,
            subject: token.subject,
            scope: token.scope,
            audiences: token.audiences,
            usage: token.usage,
            expiration: token.expiration,
            absolute_expires_at: token.absolute_expires_at,
            sliding_lifetime: token.sliding_lifetime,
            at: token.at,
            auth_time: token.auth_time,
            amr: token.amr,
        });
        match self.store.propose(command).await? {
            StateResponse::Issued | StateResponse::Duplicate => Ok(()),
            other => Err(StateError::unexpected("issue_refresh_token", other)),
        }
    }

    /// Redeems a token: one compare-and-set across the cluster, so a token is
    /// redeemed at most once however many nodes it is presented at.
    pub async fn redeem(&self, redemption: Redemption) -> Result<Redeemed, StateError> {
        let command = StateCommand::RedeemRefreshToken(RedeemRefreshToken {
            digest: redemption.digest,
            client_id: redemption.client_id,
            successor: redemption.successor,
            grace_period: redemption.grace_period,
            at: redemption.at,
        });
        Ok(match self.store.propose(command).await? {
            StateResponse::Rotated { record } => Redeemed::Rotated { successor: record },
            StateResponse::AlreadyRotated { record } => {
                Redeemed::AlreadyRotated { successor: record }
            }
            StateResponse::Reused { record } => Redeemed::Reused { token: record },
            StateResponse::ReuseDetected { family } => Redeemed::ReuseDetected { family },
            StateResponse::Invalid => Redeemed::Invalid,
            other => return Err(StateError::unexpected("redeem_refresh_token", other)),
        })
    }

    /// Revokes every token of `token`'s family (RFC 7009 §2.1). Returns once every
    /// node, edges included, refuses them.
    pub async fn revoke_family(
        &self,
        token: &RefreshTokenRecord,
        at: u64,
    ) -> Result<(), StateError> {
        let command = StateCommand::RevokeRefreshFamily(RevokeRefreshFamily {
            family: token.family.clone(),
            at,
        });
        match self.store.propose(command).await? {
            // Invalid: the family was purged meanwhile, which leaves nothing to refuse.
            StateResponse::Revoked | StateResponse::Invalid => {}
            other => return Err(StateError::unexpected("revoke_refresh_family", other)),
        }
        self.store
            .publish_denials(vec![(
                Denial::Family(token.family.clone()),
                token.absolute_expires_at,
            )])
            .await;
        Ok(())
    }

    /// Revokes every family of the user `subject`; returns how many there were.
    /// Returns once every node, edges included, refuses them.
    pub async fn revoke_subject(&self, subject: &str, at: u64) -> Result<usize, StateError> {
        let command = StateCommand::RevokeSubject(RevokeSubject {
            subject: subject.to_owned(),
            at,
        });
        self.revoke_all(command, "revoke_subject").await
    }

    /// Revokes every family of the client `client_id`; returns how many there were.
    pub async fn revoke_client(&self, client_id: &str, at: u64) -> Result<usize, StateError> {
        let command = StateCommand::RevokeClient(RevokeClient {
            client_id: client_id.to_owned(),
            at,
        });
        self.revoke_all(command, "revoke_client").await
    }

    async fn revoke_all(
        &self,
        command: StateCommand,
        name: &'static str,
    ) -> Result<usize, StateError> {
        let families = match self.store.propose(command).await? {
            StateResponse::FamiliesRevoked { families } => families,
            other => return Err(StateError::unexpected(name, other)),
        };
        let count = families.len();
        self.store
            .publish_denials(Denial::of_families(families))
            .await;
        Ok(count)
    }

    /// The token with this digest as this node knows it now, possibly stale: only
    /// for early checks that the redemption repeats (a bad scope refused before the
    /// token is spent).
    pub async fn peek(&self, digest: TokenDigest, now: u64) -> Option<RefreshTokenRecord> {
        self.store.peek_refresh(digest, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000;

    fn new_token() -> NewRefreshToken {
        NewRefreshToken {
            family: FamilyId("fam".into()),
            digest: TokenDigest::of_handle("rt0"),
            client_id: "app".into(),
            subject: "alice".into(),
            scope: "openid offline_access".into(),
            audiences: vec![],
            usage: TokenUsage::OneTimeOnly,
            expiration: TokenExpiration::Absolute,
            absolute_expires_at: T0 + 100,
            sliding_lifetime: None,
            at: T0,
            auth_time: Some(T0),
            amr: Some("pwd".into()),
        }
    }

    fn redemption(client_id: &str, at: u64) -> Redemption {
        Redemption {
            digest: TokenDigest::of_handle("rt0"),
            client_id: client_id.into(),
            successor: TokenDigest::of_handle("rt1"),
            grace_period: 5,
            at,
        }
    }

    #[tokio::test]
    async fn redemption_outcomes_are_typed() {
        let store = TokenStore::in_memory();
        store.refresh().issue(new_token()).await.unwrap();
        // A retried issue is not an error.
        store.refresh().issue(new_token()).await.unwrap();
        let refresh = store.refresh();
        assert_eq!(
            refresh.redeem(redemption("mallory", T0 + 1)).await.unwrap(),
            Redeemed::Invalid
        );
        let Redeemed::Rotated { successor } =
            refresh.redeem(redemption("app", T0 + 1)).await.unwrap()
        else {
            panic!("not rotated");
        };
        assert_eq!(successor.digest, TokenDigest::of_handle("rt1"));
        assert_eq!(
            refresh.redeem(redemption("app", T0 + 2)).await.unwrap(),
            Redeemed::AlreadyRotated { successor }
        );
        assert_eq!(
            refresh.redeem(redemption("app", T0 + 60)).await.unwrap(),
            Redeemed::ReuseDetected {
                family: FamilyId("fam".into())
            }
        );
        assert!(
            store
                .deny()
                .is_denied(&Denial::Family(FamilyId("fam".into())), T0 + 61)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn revoking_a_family_denies_it() {
        let store = TokenStore::in_memory();
        store.refresh().issue(new_token()).await.unwrap();
        let token = store
            .refresh()
            .peek(TokenDigest::of_handle("rt0"), T0)
            .await
            .unwrap();
        store.refresh().revoke_family(&token, T0 + 1).await.unwrap();
        assert!(
            store
                .deny()
                .is_denied(&Denial::Family(token.family.clone()), T0 + 2)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .refresh()
                .redeem(redemption("app", T0 + 2))
                .await
                .unwrap(),
            Redeemed::Invalid
        );
        let facts = store.lookup(token.digest, T0 + 2).await.unwrap();
        assert!(facts.refresh.is_some() && !facts.refresh_live);
    }
}
