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
use ostium_state::{ClusterSecret, HotCache, ReplicatedState, StateNode, StateNodeConfig};
use ostium_tokens::{KeyRing, SigningAlgorithm};

use crate::config::{ClusterSettings, Config, NodeRole};
use crate::signing_keys::open_cluster_keys;

/// Raft node id of a single node.
const SINGLE_NODE_ID: u64 = 1;
/// How long a single node waits at start to become leader before serving anyway.
const LEADER_WAIT: Duration = Duration::from_secs(15);
/// How often the leader drops expired tokens from the replicated state.
const PURGE_INTERVAL: Duration = Duration::from_secs(300);
/// How long a starting node waits for a quorum of its cluster.
const QUORUM_WAIT: Duration = Duration::from_secs(300);
/// Time limit of a call to another node's cluster API.
pub(crate) const CLUSTER_CALL_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// The Raft listener (with `[cluster]`), the purger and the hot cache's keeper.
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
        let mut node_config = StateNodeConfig::new(
            node_id,
            raft_addr,
            data_dir.join("state"),
            cluster_secret.clone(),
        );
        if let Some(cache) = &config.cache {
            // The connection belongs to the Raft runtime, which outlives every caller.
            let _on_raft_runtime = runtime.enter();
            node_config.cache = Some(HotCache::connect(cache).map_err(node_error)?);
        }
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
            Some(ClusterSettings {
                role: NodeRole::Core { raft_listen },
                ..
            }) => {
                let services = (
                    node.raft_service(),
                    ClusterService::new(node.clone(), cluster_secret.clone()),
                );
                let handle = runtime
                    .block_on(listener::bind_and_serve(
                        *raft_listen,
                        services.0,
                        services.1,
                    ))
                    .map_err(|e| {
                        ReplicationError::Node(format!("cannot listen on {raft_listen}: {e}"))
                    })?;
                tracing::info!(addr = %raft_listen, node_id, "serving Raft traffic");
                Some(handle)
            }
            _ => None,
        };
        let cluster =
            ostium_state::network::ClusterClient::new(cluster_secret, CLUSTER_CALL_TIMEOUT)
                .map_err(node_error)?;
        let state = ReplicatedState::new(node, cluster);
        let (purger, cache_keeper) = {
            let _on_raft_runtime = runtime.enter();
            let every = config.cache.as_ref().map(|c| c.watermark_renewal());
            (
                state.spawn_purger(PURGE_INTERVAL),
                every.and_then(|every| state.node().spawn_cache_keeper(every)),
            )
        };
        let replication = Self {
            runtime,
            state,
            secret,
            tasks: listener
                .into_iter()
                .chain([purger])
                .chain(cache_keeper)
                .collect(),
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

    /// The cluster's signing keys (see [`open_cluster_keys`]), once this node has
    /// caught up with its cluster.
    pub fn signing_keys(&self, algorithm: SigningAlgorithm) -> Result<KeyRing, ReplicationError> {
        open_cluster_keys(
            &self.secret,
            algorithm,
            || {
                self.catch_up_at_start()?;
                Ok(self
                    .state
                    .read(|state| state.signing_keys().into_iter().cloned().collect()))
            },
            |command| {
                self.runtime
                    .block_on(self.state.propose(command))
                    .map(|_| ())
                    .map_err(node_error)
            },
        )
    }

    /// Waits (up to `QUORUM_WAIT`) until this node has caught up with the cluster:
    /// a node started before a quorum of its peers waits for them.
    fn catch_up_at_start(&self) -> Result<(), ReplicationError> {
        wait_for_cluster("a quorum of the cluster", || {
            self.runtime.block_on(self.state.catch_up())
        })
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

/// Retries `attempt` (every 200 ms, up to `QUORUM_WAIT`) until it succeeds: a node
/// started before enough of its cluster waits for `whom`, and says so once.
pub(crate) fn wait_for_cluster<T, E: std::fmt::Display>(
    whom: &str,
    mut attempt: impl FnMut() -> Result<T, E>,
) -> Result<T, ReplicationError> {
    let started = Instant::now();
    let mut told = false;
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(e) if started.elapsed() > QUORUM_WAIT => return Err(node_error(e)),
            Err(e) => {
                if !told {
                    tracing::info!(reason = %e, "waiting for {whom} before serving");
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

pub(crate) fn node_error(e: impl std::fmt::Display) -> ReplicationError {
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
