//! The cluster's signing keys as a node reads, adds and withdraws them: sealed
//! records in the order they were added, with their lifecycle times (which key signs
//! when is read with [`crate::key_lifecycle`]), and a [`KeyWatch`] that tells a node
//! when to load them again (docs/architecture.md, signing keys).

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use crate::cache::HotCache;
use crate::command::{AddSigningKey, AddUnless, StateCommand, StateResponse, WithdrawSigningKey};
use crate::error::{StateError, Unavailable};
use crate::record::SigningKeyRecord;

use super::{Backend, TokenStore};

pub struct SigningKeyStorage<'a> {
    store: &'a TokenStore,
}

/// A key to add, its private part already sealed.
#[derive(Debug, Clone)]
pub struct NewSigningKey {
    pub kid: String,
    /// JWS `alg` name.
    pub alg: String,
    /// Nonce, ciphertext and tag (AES-256-GCM) of the PKCS#8 document.
    pub sealed: Vec<u8>,
    pub at: u64,
    /// When it starts signing: `at` plus the propagation delay, or `at`.
    pub signs_from: u64,
    /// How long the keys it replaces keep verifying once it signs.
    pub retire_after: u64,
}

/// Whether a key is added whatever the state holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addition {
    /// An operator's rotation.
    Always,
    /// Only if no key of the algorithm signs (a node starting).
    IfNoneSigns,
    /// Only if the key with this kid, signing now, has not been replaced meanwhile
    /// (a scheduled rotation: cores that decide at once add one key).
    Replacing(String),
}

impl NewSigningKey {
    fn into_command(self, addition: Addition) -> AddSigningKey {
        AddSigningKey {
            kid: self.kid,
            alg: self.alg,
            sealed: self.sealed,
            at: self.at,
            signs_from: Some(self.signs_from),
            retire_after: Some(self.retire_after),
            unless: match addition {
                Addition::Always => None,
                Addition::IfNoneSigns => Some(AddUnless::Signing),
                Addition::Replacing(kid) => Some(AddUnless::Replaced(kid)),
            },
        }
    }
}

/// The command that adds `key`, for operator tools that propose through the cluster
/// API rather than through a [`TokenStore`].
pub fn addition_command(key: NewSigningKey, addition: Addition) -> StateCommand {
    StateCommand::AddSigningKey(key.into_command(addition))
}

/// The command that withdraws `kid`; `replacement` signs at once if `kid` was
/// signing and no key waits to take over.
pub fn withdrawal_command(kid: &str, at: u64, replacement: Option<NewSigningKey>) -> StateCommand {
    StateCommand::WithdrawSigningKey(WithdrawSigningKey {
        kid: kid.to_owned(),
        at,
        replacement: replacement.map(|key| key.into_command(Addition::Always)),
    })
}

/// Whether a key command took effect, from its answer.
pub fn outcome(response: StateResponse) -> Result<bool, StateError> {
    match response {
        StateResponse::Issued | StateResponse::Revoked => Ok(true),
        StateResponse::Duplicate | StateResponse::Invalid => Ok(false),
        other => Err(StateError::unexpected("signing_key", other)),
    }
}

impl<'a> SigningKeyStorage<'a> {
    pub(super) fn new(store: &'a TokenStore) -> Self {
        Self { store }
    }

    /// Every key, in the order they were added, seeing every acknowledged write (an
    /// edge asks a core).
    pub async fn list(&self) -> Result<Vec<SigningKeyRecord>, Unavailable> {
        self.store.signing_key_records().await
    }

    /// Adds a key; `false` if it was not needed (see [`Addition`]) or is there
    /// already.
    pub async fn add(&self, key: NewSigningKey, addition: Addition) -> Result<bool, StateError> {
        let response = self.store.propose(addition_command(key, addition)).await?;
        outcome(response)
    }

    /// Withdraws `kid`; `false` if there is no such key.
    pub async fn withdraw(
        &self,
        kid: &str,
        at: u64,
        replacement: Option<NewSigningKey>,
    ) -> Result<bool, StateError> {
        let response = self
            .store
            .propose(withdrawal_command(kid, at, replacement))
            .await?;
        outcome(response)
    }

    /// What tells this node that the keys changed: on a core, its own state machine
    /// applying a key command; on an edge, a core's announcement through the hot
    /// cache.
    pub fn watch(&self) -> KeyWatch {
        match &*self.store.backend {
            Backend::Core(core) => KeyWatch::Core {
                applied: core.node().keys_changed(),
                cache: core.node().cache().cloned(),
            },
            Backend::Edge(edge) => KeyWatch::Edge {
                cache: edge.cache().clone(),
                messages: None,
            },
            Backend::Memory(_) => KeyWatch::Never,
        }
    }
}

/// Waits for a change of the signing keys (see [`SigningKeyStorage::watch`]).
pub enum KeyWatch {
    Core {
        applied: tokio::sync::watch::Receiver<u64>,
        /// Where this core announces what it applied, for edges.
        cache: Option<HotCache>,
    },
    Edge {
        cache: HotCache,
        messages: Option<BoxStream<'static, ()>>,
    },
    Never,
}

/// How long an edge waits before subscribing again after losing its subscription.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_secs(1);

impl KeyWatch {
    /// Returns when the keys may have changed. Never returns on a node without
    /// Raft, or on a core whose state machine stopped.
    pub async fn changed(&mut self) {
        match self {
            Self::Core { applied, .. } => {
                if applied.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            Self::Edge { cache, messages } => loop {
                if let Some(stream) = messages {
                    if stream.next().await.is_some() {
                        return;
                    }
                    // The subscription is lost: whatever was announced meanwhile is
                    // missed, so report a change and read the keys again.
                    *messages = None;
                    return;
                }
                match cache.key_changes().await {
                    Ok(stream) => *messages = Some(stream.boxed()),
                    Err(error) => {
                        tracing::debug!(%error, "cannot subscribe to signing-key changes yet");
                        tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
                    }
                }
            },
            Self::Never => std::future::pending().await,
        }
    }

    /// A core tells the edges that the keys changed; nothing elsewhere.
    pub async fn announce(&mut self) {
        if let Self::Core {
            cache: Some(cache), ..
        } = self
        {
            cache.announce_key_change().await;
        }
    }

    /// On an edge, subscribes now (before the first read of the keys), so that no
    /// change committed after that read is missed.
    pub async fn subscribe(&mut self) {
        if let Self::Edge { cache, messages } = self
            && messages.is_none()
        {
            match cache.key_changes().await {
                Ok(stream) => *messages = Some(stream.boxed()),
                Err(error) => {
                    tracing::warn!(%error, "cannot subscribe to signing-key changes; reading them again periodically");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_come_back_in_the_order_they_were_added() {
        let store = TokenStore::in_memory();
        for kid in ["b", "a", "b"] {
            let key = NewSigningKey {
                kid: kid.into(),
                alg: "ES256".into(),
                sealed: vec![0; 8],
                at: 1,
                signs_from: 1,
                retire_after: 10,
            };
            store
                .signing_keys()
                .add(key, Addition::Always)
                .await
                .unwrap();
        }
        let kids: Vec<String> = store
            .signing_keys()
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert_eq!(kids, ["b", "a"]);
    }
}
