//! This node's share of the replicated token state: the Raft node with its log and
//! state machine in `<data_dir>/state/`, on a tokio multi-thread runtime of its own
//! (Raft must not run on actix's single-threaded workers).
//!
//! With `[cluster]`, the node joins the core nodes listed in `[cluster.peers]`; when
//! none of them has formed a cluster yet, the one with the lowest id forms it, so
//! nodes that list the same peers come together by themselves, and a restarted node
//! rejoins with its data. Without `[cluster]` the node is a cluster of one, whose
//! secret is generated into `<data_dir>/cluster.secret`. The cluster secret also
//! derives the key for refresh-token successors, so every node derives the same.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ostium_state::network::{ClusterService, listener};
use ostium_state::{ClusterSecret, ReplicatedState, StateCommand, StateNode, StateNodeConfig};
use ostium_tokens::{KeyRing, KeySealer, SealedKey, SigningAlgorithm, SigningKey};

use crate::config::{ClusterSettings, Config};

/// Raft node id of a single node.
const SINGLE_NODE_ID: u64 = 1;
/// How long a single node waits at start to become leader before serving anyway.
const LEADER_WAIT: Duration = Duration::from_secs(15);
/// How often the leader drops expired tokens from the replicated state.
const PURGE_INTERVAL: Duration = Duration::from_secs(300);
/// How long a starting node waits for a quorum of its cluster.
const QUORUM_WAIT: Duration = Duration::from_secs(300);
/// Time limit of a call to another node's cluster API.
const CLUSTER_CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("cluster secret {path}: {source}")]
    Secret {
        path: String,
        source: std::io::Error,
    },
    #[error("cluster secret {path}: {reason}")]
    SecretRefused { path: String, reason: String },
    #[error("could not start the Raft runtime: {0}")]
    Runtime(std::io::Error),
    #[error("replicated state: {0}")]
    Node(String),
}

/// The running Raft node, the runtime it runs on, and its listener.
pub struct Replication {
    runtime: tokio::runtime::Runtime,
    state: ReplicatedState,
    secret: Vec<u8>,
    /// The Raft listener (with `[cluster]`) and the purger.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Replication {
    pub fn start(config: &Config) -> Result<Self, ReplicationError> {
        let data_dir = &config.server.data_dir;
        let (node_id, raft_addr, secret_path, peers) = match &config.cluster {
            Some(ClusterSettings {
                node_id,
                secret_file,
                peers,
                ..
            }) => (
                *node_id,
                peers[node_id].clone(),
                secret_file.clone(),
                peers.clone(),
            ),
            None => {
                let local = String::from("local");
                let peers = BTreeMap::from([(SINGLE_NODE_ID, local.clone())]);
                (
                    SINGLE_NODE_ID,
                    local,
                    data_dir.join("cluster.secret"),
                    peers,
                )
            }
        };
        let secret = if config.cluster.is_some() {
            read_secret(&secret_path)?
        } else {
            load_or_create_secret(&secret_path)?
        };
        let cluster_secret =
            ClusterSecret::new(&secret).map_err(|e| ReplicationError::SecretRefused {
                path: secret_path.display().to_string(),
                reason: e.to_string(),
            })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ostium-raft")
            .enable_all()
            .build()
            .map_err(ReplicationError::Runtime)?;
        let node_config = StateNodeConfig::new(
            node_id,
            raft_addr,
            data_dir.join("state"),
            cluster_secret.clone(),
        );
        let node = runtime
            .block_on(StateNode::start(node_config))
            .map_err(node_error)?;
        let initialized = runtime
            .block_on(node.is_initialized())
            .map_err(node_error)?;
        let lowest = peers.keys().next().copied() == Some(node_id);
        if !initialized && lowest {
            runtime
                .block_on(node.initialize(peers.clone()))
                .map_err(node_error)?;
            tracing::info!(members = ?peers.keys().collect::<Vec<_>>(), "formed a new cluster");
        }
        let node = Arc::new(node);
        // Peers must reach each other before any of them can wait for a quorum.
        let listener = match &config.cluster {
            Some(cluster) => {
                let services = (
                    node.raft_service(),
                    ClusterService::new(node.clone(), cluster_secret.clone()),
                );
                let handle = runtime
                    .block_on(listener::bind_and_serve(
                        cluster.raft_listen,
                        services.0,
                        services.1,
                    ))
                    .map_err(|e| {
                        ReplicationError::Node(format!(
                            "cannot listen on {}: {e}",
                            cluster.raft_listen
                        ))
                    })?;
                tracing::info!(addr = %cluster.raft_listen, node_id, "serving Raft traffic");
                Some(handle)
            }
            None => None,
        };
        let cluster =
            ostium_state::network::ClusterClient::new(cluster_secret, CLUSTER_CALL_TIMEOUT)
                .map_err(node_error)?;
        let state = ReplicatedState::new(node, cluster);
        let purger = {
            let _on_raft_runtime = runtime.enter();
            state.spawn_purger(PURGE_INTERVAL)
        };
        let replication = Self {
            runtime,
            state,
            secret,
            tasks: listener.into_iter().chain([purger]).collect(),
        };
        if config.cluster.is_none() {
            replication.wait_for_leader();
        }
        Ok(replication)
    }

    pub fn state(&self) -> &ReplicatedState {
        &self.state
    }

    /// The raw cluster secret, from which other cluster-wide keys are derived.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    fn wait_for_leader(&self) {
        let started = Instant::now();
        while self.state.node().metrics().leader.is_none() {
            if started.elapsed() > LEADER_WAIT {
                tracing::warn!("no Raft leader yet; serving, but writes wait for one");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The cluster's signing keys, opened with the cluster secret. A cluster without a
    /// key for `algorithm` gets one from the first node that starts; every node then
    /// signs with the first key of the algorithm in the log, so they all agree.
    pub fn signing_keys(&self, algorithm: SigningAlgorithm) -> Result<KeyRing, ReplicationError> {
        let sealer = KeySealer::from_cluster_secret(&self.secret).map_err(node_error)?;
        self.catch_up_at_start()?;
        if let Some(ring) = self.open_keys(algorithm, &sealer)? {
            return Ok(ring);
        }
        let (key, pkcs8) = SigningKey::generate(algorithm).map_err(node_error)?;
        let command = StateCommand::AddSigningKey {
            kid: key.kid().to_owned(),
            alg: algorithm.name().to_owned(),
            sealed: sealer.seal(key.kid(), &pkcs8).map_err(node_error)?,
            at: ostium_grants::context::now(),
        };
        self.runtime
            .block_on(self.state.propose(command))
            .map_err(node_error)?;
        tracing::info!(kid = key.kid(), alg = %algorithm, "added a signing key to the cluster");
        self.catch_up_at_start()?;
        self.open_keys(algorithm, &sealer)?
            .ok_or_else(|| ReplicationError::Node("the new signing key was not applied".into()))
    }

    fn open_keys(
        &self,
        algorithm: SigningAlgorithm,
        sealer: &KeySealer,
    ) -> Result<Option<KeyRing>, ReplicationError> {
        self.state.read(|state| {
            let records = state.signing_keys();
            let sealed: Vec<SealedKey<'_>> = records
                .iter()
                .map(|r| SealedKey {
                    kid: &r.kid,
                    alg: &r.alg,
                    sealed: &r.sealed,
                })
                .collect();
            KeyRing::open(&sealed, algorithm, sealer).map_err(node_error)
        })
    }

    /// Waits (up to `QUORUM_WAIT`) until this node has caught up with the cluster:
    /// a node started before a quorum of its peers waits for them.
    fn catch_up_at_start(&self) -> Result<(), ReplicationError> {
        let started = Instant::now();
        let mut told = false;
        loop {
            match self.runtime.block_on(self.state.catch_up()) {
                Ok(()) => return Ok(()),
                Err(e) if started.elapsed() > QUORUM_WAIT => return Err(node_error(e)),
                Err(_) => {
                    if !told {
                        tracing::info!("waiting for a quorum of the cluster before serving");
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }

    /// Stops Raft and closes the state database.
    pub fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Err(e) = self.runtime.block_on(self.state.node().shutdown()) {
            tracing::warn!(error = %e, "Raft did not stop cleanly");
        }
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

fn node_error(e: impl std::fmt::Display) -> ReplicationError {
    ReplicationError::Node(e.to_string())
}

/// Reads a configured secret; whitespace around it (a trailing newline) is ignored.
pub(crate) fn read_secret(path: &Path) -> Result<Vec<u8>, ReplicationError> {
    let bytes = std::fs::read(path).map_err(|source| ReplicationError::Secret {
        path: path.display().to_string(),
        source,
    })?;
    Ok(bytes.trim_ascii().to_vec())
}

/// Reads the secret, or creates 32 random bytes readable by the owner only.
fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, ReplicationError> {
    let error = |source| ReplicationError::Secret {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(path) {
        Ok(secret) => return Ok(secret),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(error(e)),
        Err(_) => {}
    }
    let secret = ostium_tokens::handle::random_id::<32>()
        .map_err(|e| error(std::io::Error::other(e.to_string())))?
        .into_bytes();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(error)?;
    file.write_all(&secret)
        .and_then(|()| file.sync_all())
        .map_err(error)?;
    Ok(secret)
}
