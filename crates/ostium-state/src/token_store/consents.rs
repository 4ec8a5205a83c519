//! Consents as the authorization endpoint keeps them: what a user allowed a client,
//! so that it asks again only for scopes not allowed yet.

use crate::command::{ForgetConsent, RememberConsent, StateCommand, StateResponse};
use crate::error::{StateError, Unavailable};

use super::TokenStore;

pub struct ConsentStorage<'a> {
    store: &'a TokenStore,
}

/// What a user just allowed a client.
#[derive(Debug, Clone)]
pub struct NewConsent {
    pub subject: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// `None`: until withdrawn.
    pub expires_at: Option<u64>,
    /// When it was given, by the proposer's clock.
    pub at: u64,
}

impl<'a> ConsentStorage<'a> {
    pub(super) fn new(store: &'a TokenStore) -> Self {
        Self { store }
    }

    /// Remembers `consent`, replacing what the user allowed the client before.
    pub async fn remember(&self, consent: NewConsent) -> Result<(), StateError> {
        let command = StateCommand::RememberConsent(RememberConsent {
            subject: consent.subject,
            client_id: consent.client_id,
            scopes: consent.scopes,
            expires_at: consent.expires_at,
            at: consent.at,
        });
        match self.store.propose(command).await? {
            StateResponse::Issued => Ok(()),
            other => Err(StateError::unexpected("remember_consent", other)),
        }
    }

    /// The scopes `subject` allowed `client_id`, if that is still in force at `now`,
    /// seeing every write acknowledged before the call (a consent withdrawn at
    /// another node included).
    pub async fn granted(
        &self,
        subject: &str,
        client_id: &str,
        now: u64,
    ) -> Result<Option<Vec<String>>, Unavailable> {
        self.store.consent(subject, client_id, now).await
    }

    /// Forgets what `subject` allowed `client_id` (nothing to forget is not an
    /// error).
    pub async fn forget(&self, subject: &str, client_id: &str, at: u64) -> Result<(), StateError> {
        let command = StateCommand::ForgetConsent(ForgetConsent {
            subject: subject.to_owned(),
            client_id: client_id.to_owned(),
            at,
        });
        match self.store.propose(command).await? {
            StateResponse::Revoked => Ok(()),
            other => Err(StateError::unexpected("forget_consent", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000;

    #[tokio::test]
    async fn remembered_replaced_expired_and_forgotten() {
        let store = TokenStore::in_memory();
        let consents = store.consents();
        assert_eq!(consents.granted("alice", "app", T0).await.unwrap(), None);
        let consent = |scopes: &[&str], expires_at| NewConsent {
            subject: "alice".into(),
            client_id: "app".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            expires_at,
            at: T0,
        };
        consents.remember(consent(&["openid"], None)).await.unwrap();
        consents
            .remember(consent(&["openid", "email"], Some(T0 + 10)))
            .await
            .unwrap();
        assert_eq!(
            consents.granted("alice", "app", T0 + 9).await.unwrap(),
            Some(vec!["openid".to_owned(), "email".to_owned()])
        );
        assert_eq!(
            consents.granted("alice", "app", T0 + 10).await.unwrap(),
            None
        );
        consents.remember(consent(&["openid"], None)).await.unwrap();
        consents.forget("alice", "app", T0 + 1).await.unwrap();
        consents.forget("alice", "app", T0 + 1).await.unwrap();
        assert_eq!(
            consents.granted("alice", "app", T0 + 2).await.unwrap(),
            None
        );
    }
}
