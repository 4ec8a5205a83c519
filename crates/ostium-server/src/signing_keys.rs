//! The cluster's signing keys as a node serves them (docs/architecture.md, signing
//! keys): sealed in the replicated state, opened with the cluster secret, and kept
//! current without a restart by a keeper task. The keeper loads the keys again when
//! they change (a core's state machine applies a key command; an edge hears a core's
//! announcement through the hot cache, or re-reads them every
//! [`FALLBACK_READ`]), and when a key changes phase by the clock (the next key starts
//! signing, a key retires). On cores it also adds the next key when rotation is due.

use std::sync::Arc;
use std::time::Duration;

use ostium_grants::{Clock, SystemClock};
use ostium_protocol::Causes;
use ostium_state::key_lifecycle;
use ostium_state::token_store::{Addition, NewSigningKey};
use ostium_state::{SigningKeyRecord, StateError, TokenStore};
use ostium_tokens::{
    JwtAccessTokens, KeyRing, KeySealer, KeySet, SealedKey, SigningAlgorithm, SigningKey,
    TokenError,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::KeyRotation;

/// How often a node reads the keys again though nothing told it they changed: an
/// edge that missed an announcement (Redis down, its subscription lost) catches up
/// within this.
pub const FALLBACK_READ: Duration = Duration::from_secs(30);
/// How long the keeper waits before trying again after the keys could not be read.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// A new key of `algorithm`, sealed, added at `now` and signing `delay` later.
pub fn new_key(
    sealer: &KeySealer,
    algorithm: SigningAlgorithm,
    rotation: &KeyRotation,
    now: u64,
    delay: u64,
) -> Result<NewSigningKey, TokenError> {
    let (key, pkcs8) = SigningKey::generate(algorithm)?;
    Ok(NewSigningKey {
        kid: key.kid().to_owned(),
        alg: algorithm.name().to_owned(),
        sealed: sealer.seal(key.kid(), &pkcs8)?,
        at: now,
        signs_from: now + delay,
        retire_after: rotation.retire_after,
    })
}

/// The keys that are published at `now`, the signing key of `algorithm` among them.
pub fn key_set(
    records: &[SigningKeyRecord],
    algorithm: SigningAlgorithm,
    sealer: &KeySealer,
    now: u64,
) -> Result<KeySet, TokenError> {
    let signer = key_lifecycle::signer(records, algorithm.name(), now).map(|k| k.kid.as_str());
    let published: Vec<SealedKey<'_>> = records
        .iter()
        .filter(|r| r.verifies_at(now))
        .map(|r| SealedKey {
            kid: &r.kid,
            alg: &r.alg,
            sealed: &r.sealed,
        })
        .collect();
    KeySet::open(&published, signer, sealer)
}

/// Opens the key ring from `records`, the keys in the state; when no key of
/// `algorithm` signs, adds one that signs at once (unless another node just did) and
/// reads the keys again.
pub(crate) async fn open_cluster_keys(
    store: &TokenStore,
    secret: &[u8],
    algorithm: SigningAlgorithm,
    rotation: &KeyRotation,
    records: Vec<SigningKeyRecord>,
) -> Result<KeyRing, KeysError> {
    let sealer = KeySealer::from_cluster_secret(secret)?;
    let now = SystemClock.now();
    let mut records = records;
    if key_lifecycle::signer(&records, algorithm.name(), now).is_none() {
        let key = new_key(&sealer, algorithm, rotation, now, 0)?;
        let kid = key.kid.clone();
        if store.signing_keys().add(key, Addition::IfNoneSigns).await? {
            tracing::info!(kid, alg = %algorithm, "added a signing key to the cluster");
        }
        records = store
            .signing_keys()
            .list()
            .await
            .map_err(StateError::from)?;
    }
    Ok(KeyRing::from_set(key_set(
        &records, algorithm, &sealer, now,
    )?))
}

/// Keeps `ring` current (see the module's comment) until `stop`.
pub(crate) struct KeyKeeper {
    pub store: TokenStore,
    pub sealer: KeySealer,
    pub algorithm: SigningAlgorithm,
    pub rotation: KeyRotation,
    pub ring: Arc<KeyRing>,
    /// To forget what a withdrawn key verified.
    pub access_tokens: JwtAccessTokens,
    /// Whether this node adds the next key when rotation is due (cores).
    pub rotates: bool,
}

impl KeyKeeper {
    pub fn spawn(self, stop: CancellationToken) -> JoinHandle<()> {
        // On a thread of its own: the state's reads and proposals are futures that
        // are not `Send` for every lifetime (their retries are async closures), so
        // they cannot be a task of their own; the keeper sleeps almost always.
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            runtime.block_on(async move {
                tokio::select! {
                    () = self.run() => {}
                    () = stop.cancelled() => {}
                }
            });
        })
    }

    async fn run(self) {
        let mut watch = self.store.signing_keys().watch();
        // Subscribed before the first read, so that no change after it is missed.
        watch.subscribe().await;
        let mut announced_for = None;
        let mut last_read: Option<Vec<SigningKeyRecord>> = None;
        loop {
            let records = match self.store.signing_keys().list().await {
                Ok(records) => records,
                Err(unavailable) => {
                    tracing::debug!(reason = %Causes(&unavailable), "cannot read the signing keys now");
                    // Keys still change phase by the clock while the cluster cannot
                    // answer (a core without a quorum, an edge without a core).
                    if let Some(records) = &last_read {
                        self.load(records, SystemClock.now());
                    }
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            last_read = Some(records.clone());
            let now = SystemClock.now();
            if self.rotates && self.rotate_if_due(&records, now).await {
                // The new key comes back through the watch.
                continue;
            }
            self.load(&records, now);
            // A core tells the edges once per change it applied.
            let version = records_version(&records);
            if announced_for.as_ref() != Some(&version) {
                if announced_for.is_some() {
                    watch.announce().await;
                }
                announced_for = Some(version);
            }
            let next_rotation = self
                .rotates
                .then(|| self.rotation_due_at(&records))
                .flatten();
            let until_change = [key_lifecycle::next_change(&records, now), next_rotation]
                .into_iter()
                .flatten()
                .min()
                .map(|at| Duration::from_secs(at.saturating_sub(now)))
                .unwrap_or(FALLBACK_READ)
                // A rotation that is due yet failed is tried again, not at once.
                .clamp(RETRY, FALLBACK_READ);
            tokio::select! {
                () = watch.changed() => {}
                () = tokio::time::sleep(until_change) => {}
            }
        }
    }

    /// When the signing key's successor is due, if none waits already.
    fn rotation_due_at(&self, records: &[SigningKeyRecord]) -> Option<u64> {
        let now = SystemClock.now();
        let alg = self.algorithm.name();
        let signing = key_lifecycle::signer(records, alg, now)?;
        let waiting = records.iter().any(|k| k.alg == alg && k.waits_at(now));
        let age = self.rotation.rotation_interval - self.rotation.publish_ahead;
        (!waiting).then(|| signing.signs_since().saturating_add(age))
    }

    /// Adds the next key if rotation is due; whether a key was added.
    async fn rotate_if_due(&self, records: &[SigningKeyRecord], now: u64) -> bool {
        let KeyRotation {
            rotation_interval,
            publish_ahead,
            ..
        } = self.rotation;
        let alg = self.algorithm.name();
        if !key_lifecycle::rotation_due(records, alg, now, rotation_interval, publish_ahead) {
            return false;
        }
        let (delay, addition) = match key_lifecycle::signer(records, alg, now) {
            Some(signing) => (publish_ahead, Addition::Replacing(signing.kid.clone())),
            // Nothing signs (its keys withdrawn without a replacement): at once.
            None => (0, Addition::IfNoneSigns),
        };
        let key = match new_key(&self.sealer, self.algorithm, &self.rotation, now, delay) {
            Ok(key) => key,
            Err(error) => {
                tracing::error!(error = %Causes(&error), "cannot generate the next signing key");
                return false;
            }
        };
        let kid = key.kid.clone();
        let signs_from = key.signs_from;
        match self.store.signing_keys().add(key, addition).await {
            Ok(true) => {
                tracing::info!(
                    kid,
                    signs_from,
                    "added the next signing key: published now, signing from signs_from"
                );
                true
            }
            // Another core was first.
            Ok(false) => false,
            Err(error) => {
                tracing::warn!(error = %Causes(&error), "could not add the next signing key; trying again");
                false
            }
        }
    }

    /// Swaps the ring to the keys published at `now`, and forgets what withdrawn keys
    /// verified.
    fn load(&self, records: &[SigningKeyRecord], now: u64) {
        let set = match key_set(records, self.algorithm, &self.sealer, now) {
            Ok(set) => set,
            Err(error) => {
                tracing::error!(error = %Causes(&error), "cannot open the signing keys; keeping the ones loaded");
                return;
            }
        };
        let (signing, published) = (
            set.signing_kid().map(str::to_owned),
            set.kids().map(str::to_owned).collect::<Vec<_>>(),
        );
        let old = self.ring.replace(set);
        for gone in old.kids().filter(|kid| !published.iter().any(|k| k == kid)) {
            let withdrawn = records
                .iter()
                .any(|r| r.kid == gone && r.withdrawn_at.is_some());
            if withdrawn {
                self.access_tokens.forget_verified_by(gone);
                tracing::warn!(
                    kid = gone,
                    "signing key withdrawn: its tokens no longer verify"
                );
            } else {
                tracing::info!(kid = gone, "signing key retired");
            }
        }
        if old.signing_kid() != signing.as_deref() {
            match &signing {
                Some(kid) => tracing::info!(kid, "signing with a new key"),
                None => {
                    tracing::error!(alg = %self.algorithm, "no signing key of this algorithm; tokens cannot be signed until one is added")
                }
            }
        }
        for new in published
            .iter()
            .filter(|kid| !old.kids().any(|k| k == *kid))
        {
            tracing::info!(kid = new, "signing key published");
        }
    }
}

/// What tells one state of the keys from another, for announcing changes once.
fn records_version(records: &[SigningKeyRecord]) -> Vec<(String, u64, Option<u64>)> {
    records
        .iter()
        .map(|r| (r.kid.clone(), r.signs_from, r.withdrawn_at))
        .collect()
}
