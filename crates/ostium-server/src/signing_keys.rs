//! The cluster's signing keys as a node opens them at start: sealed in the replicated
//! state, opened with the cluster secret. The first node to find no key for the
//! configured algorithm adds one; every node then signs with the first key of that
//! algorithm in the log, so they all agree whichever node added it.

use ostium_grants::{Clock, SystemClock};
use ostium_state::token_store::NewSigningKey;
use ostium_state::{SigningKeyRecord, StateError, TokenStore};
use ostium_tokens::{KeyRing, KeySealer, SealedKey, SigningAlgorithm, SigningKey, TokenError};

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the new signing key was not applied")]
    NotApplied,
}

/// Opens the key ring from `records`, the keys in the state; when none is of
/// `algorithm`, adds one and reads the keys again.
pub(crate) async fn open_cluster_keys(
    store: &TokenStore,
    secret: &[u8],
    algorithm: SigningAlgorithm,
    records: Vec<SigningKeyRecord>,
) -> Result<KeyRing, KeysError> {
    let sealer = KeySealer::from_cluster_secret(secret)?;
    if let Some(ring) = open(&records, algorithm, &sealer)? {
        return Ok(ring);
    }
    let (key, pkcs8) = SigningKey::generate(algorithm)?;
    let new_key = NewSigningKey {
        kid: key.kid().to_owned(),
        alg: algorithm.name().to_owned(),
        sealed: sealer.seal(key.kid(), &pkcs8)?,
        at: SystemClock.now(),
    };
    store.signing_keys().add(new_key).await?;
    tracing::info!(kid = key.kid(), alg = %algorithm, "added a signing key to the cluster");
    let records = store
        .signing_keys()
        .list()
        .await
        .map_err(StateError::from)?;
    open(&records, algorithm, &sealer)?.ok_or(KeysError::NotApplied)
}

fn open(
    records: &[SigningKeyRecord],
    algorithm: SigningAlgorithm,
    sealer: &KeySealer,
) -> Result<Option<KeyRing>, TokenError> {
    let sealed: Vec<SealedKey<'_>> = records
        .iter()
        .map(|r| SealedKey {
            kid: &r.kid,
            alg: &r.alg,
            sealed: &r.sealed,
        })
        .collect();
    KeyRing::open(&sealed, algorithm, sealer)
}
