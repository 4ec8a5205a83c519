//! The deny list as the grants use it: deny a self-contained token (a JWT access
//! token, by `jti`) until it would have expired, and ask whether something is denied.

use crate::command::{RevokeToken, StateCommand, StateResponse};
use crate::error::{StateError, Unavailable};
use crate::record::Denial;

use super::TokenStore;

pub struct DenyStorage<'a> {
    store: &'a TokenStore,
}

impl<'a> DenyStorage<'a> {
    pub(super) fn new(store: &'a TokenStore) -> Self {
        Self { store }
    }

    /// Denies the token with id `token_id` until `expires_at`; returns once every
    /// node, edges included, refuses it.
    pub async fn token(&self, token_id: &str, expires_at: u64, at: u64) -> Result<(), StateError> {
        let command = StateCommand::RevokeToken(RevokeToken {
            token_id: token_id.to_owned(),
            expires_at,
            at,
        });
        match self.store.propose(command).await? {
            StateResponse::Revoked => {}
            other => return Err(StateError::unexpected("revoke_token", other)),
        }
        self.store
            .publish_denials(vec![(Denial::Token(token_id.to_owned()), expires_at)])
            .await;
        Ok(())
    }

    /// Whether `denial` is in force at `now`, seeing every write acknowledged before
    /// the call, wherever in the cluster it was made.
    pub async fn is_denied(&self, denial: &Denial, now: u64) -> Result<bool, Unavailable> {
        self.store.is_denied(denial, now).await
    }

    /// Whether any of `denials` is in force at `now` (a JWT by its `jti` or its
    /// refresh-token family, say), with one catch-up for them all.
    pub async fn is_any_denied(&self, denials: &[Denial], now: u64) -> Result<bool, Unavailable> {
        self.store.is_any_denied(denials, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_denied_token_stays_denied_until_it_expires() {
        let store = TokenStore::in_memory();
        let jti = Denial::Token("jti-1".into());
        assert!(!store.deny().is_denied(&jti, 100).await.unwrap());
        store.deny().token("jti-1", 160, 100).await.unwrap();
        assert!(store.deny().is_denied(&jti, 159).await.unwrap());
        assert!(!store.deny().is_denied(&jti, 160).await.unwrap());
    }
}
