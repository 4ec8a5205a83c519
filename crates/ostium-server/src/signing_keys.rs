//! The cluster's signing keys as a node opens them at start: sealed in the replicated
//! state, opened with the cluster secret. The first node to find no key for the
//! configured algorithm adds one; every node then signs with the first key of that
//! algorithm in the log, so they all agree whichever node added it.

use ostium_state::{SigningKeyRecord, StateCommand};
use ostium_tokens::{KeyRing, KeySealer, SealedKey, SigningAlgorithm, SigningKey};

use crate::replication::{ReplicationError, node_error};

/// Opens the key ring from what `fetch` reads of the replicated state, adding a key
/// for `algorithm` through `propose` when there is none.
pub(crate) fn open_cluster_keys(
    secret: &[u8],
    algorithm: SigningAlgorithm,
    mut fetch: impl FnMut() -> Result<Vec<SigningKeyRecord>, ReplicationError>,
    propose: impl FnOnce(StateCommand) -> Result<(), ReplicationError>,
) -> Result<KeyRing, ReplicationError> {
    let sealer = KeySealer::from_cluster_secret(secret).map_err(node_error)?;
    if let Some(ring) = open(&fetch()?, algorithm, &sealer)? {
        return Ok(ring);
    }
    let (key, pkcs8) = SigningKey::generate(algorithm).map_err(node_error)?;
    propose(StateCommand::AddSigningKey {
        kid: key.kid().to_owned(),
        alg: algorithm.name().to_owned(),
        sealed: sealer.seal(key.kid(), &pkcs8).map_err(node_error)?,
        at: ostium_grants::context::now(),
    })?;
    tracing::info!(kid = key.kid(), alg = %algorithm, "added a signing key to the cluster");
    open(&fetch()?, algorithm, &sealer)?
        .ok_or_else(|| ReplicationError::Node("the new signing key was not applied".into()))
}

fn open(
    records: &[SigningKeyRecord],
    algorithm: SigningAlgorithm,
    sealer: &KeySealer,
) -> Result<Option<KeyRing>, ReplicationError> {
    let sealed: Vec<SealedKey<'_>> = records
        .iter()
        .map(|r| SealedKey {
            kid: &r.kid,
            alg: &r.alg,
            sealed: &r.sealed,
        })
        .collect();
    KeyRing::open(&sealed, algorithm, sealer).map_err(node_error)
}
