//! Reference access tokens as the grants store them (RFC 7662): recorded before the
//! handle is handed out, so that introspection anywhere finds it, and revoked.

use crate::command::{RevokeReferenceToken, StateCommand, StateResponse, StoreReferenceToken};
use crate::digest::TokenDigest;
use crate::error::StateError;
use crate::record::{Denial, FamilyId, ReferenceTokenRecord};

use super::TokenStore;

pub struct ReferenceStorage<'a> {
    store: &'a TokenStore,
}

/// A reference access token about to be handed out.
#[derive(Debug, Clone)]
pub struct NewReferenceToken {
    /// The digest of the handle the client receives.
    pub digest: TokenDigest,
    pub client_id: String,
    /// The user the token is about; `None` for a client acting on its own behalf.
    pub subject: Option<String>,
    pub scope: String,
    pub audiences: Vec<String>,
    pub expires_at: u64,
    /// When it is issued, by the proposer's clock.
    pub at: u64,
    /// The refresh-token family issued with it, if any: revoking the family (or its
    /// reuse) revokes this token too.
    pub family: Option<FamilyId>,
}

impl<'a> ReferenceStorage<'a> {
    pub(super) fn new(store: &'a TokenStore) -> Self {
        Self { store }
    }

    /// Records the token; recording the same one twice (a retried proposal that had
    /// been applied) is not an error.
    pub async fn store(&self, token: NewReferenceToken) -> Result<(), StateError> {
        let command = StateCommand::StoreReferenceToken(StoreReferenceToken {
            digest: token.digest,
            client_id: token.client_id,
            subject: token.subject,
            scope: token.scope,
            audiences: token.audiences,
            expires_at: token.expires_at,
            at: token.at,
            family: token.family,
        });
        match self.store.propose(command).await? {
            StateResponse::Issued | StateResponse::Duplicate => Ok(()),
            other => Err(StateError::unexpected("store_reference_token", other)),
        }
    }

    /// Revokes `token`; returns once every node, edges included, refuses it.
    pub async fn revoke(&self, token: &ReferenceTokenRecord, at: u64) -> Result<(), StateError> {
        let command = StateCommand::RevokeReferenceToken(RevokeReferenceToken {
            digest: token.digest,
            at,
        });
        match self.store.propose(command).await? {
            // Invalid: revoked already, or expired and purged; it is refused either way.
            StateResponse::Revoked | StateResponse::Invalid => {}
            other => return Err(StateError::unexpected("revoke_reference_token", other)),
        }
        self.store
            .publish_denials(vec![(Denial::Reference(token.digest), token.expires_at)])
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000;

    #[tokio::test]
    async fn stored_found_and_revoked() {
        let store = TokenStore::in_memory();
        let digest = TokenDigest::of_handle("ref");
        let token = NewReferenceToken {
            digest,
            client_id: "app".into(),
            subject: None,
            scope: "api".into(),
            audiences: vec!["urn:api".into()],
            expires_at: T0 + 60,
            at: T0,
            family: None,
        };
        store.reference().store(token.clone()).await.unwrap();
        store.reference().store(token).await.unwrap();
        let found = store
            .lookup(digest, T0 + 1)
            .await
            .unwrap()
            .reference
            .unwrap();
        assert_eq!(found.audiences, ["urn:api"]);
        store.reference().revoke(&found, T0 + 2).await.unwrap();
        store.reference().revoke(&found, T0 + 3).await.unwrap();
        assert!(
            store
                .lookup(digest, T0 + 4)
                .await
                .unwrap()
                .reference
                .is_none()
        );
        assert!(
            store
                .deny()
                .is_denied(&Denial::Reference(digest), T0 + 4)
                .await
                .unwrap()
        );
    }
}
