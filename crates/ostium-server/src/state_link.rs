//! This node's link to the replicated state, started once at start-up: the
//! [`TokenStore`] the grants use, on a tokio multi-thread runtime of its own (Raft,
//! the Redis connection and the calls to other nodes must not belong to one of
//! actix's single-threaded workers), with the background tasks that go with it.
//!
//! Whether the node is a core or an edge is decided here and nowhere else in the
//! server (`[cluster] role`):
//! - a core runs a Raft node with its log and state machine in `<data_dir>/state/`.
//!   With `[cluster]`, it joins the core nodes listed in `[cluster.peers]`; when none
//!   of them has formed a cluster yet, the one with the lowest id forms it, so nodes
//!   that list the same peers come together by themselves, and a restarted node
//!   rejoins with its data. Without `[cluster]` it is a cluster of one, whose secret
//!   is generated into `<data_dir>/cluster.secret`.
//! - an edge has no Raft node and no Raft listener: only the hot cache and the cores'
//!   cluster API.
//!
//! The cluster secret also derives the key for refresh-token successors and the key
//! that seals signing keys, so every node derives the same.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ostium_protocol::Causes;
use ostium_state::network::{ClusterClient, ClusterSecretError, ClusterService, listener};
use ostium_state::{
    CacheConfig, ClusterSecret, EdgeState, EvictionCheck, HotCache, Patience, ReplicatedState,
    StateNode, StateNodeConfig, TokenStore, Unavailable, UnsafeCache,
};
use ostium_tokens::{KeyRing, SigningAlgorithm};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ClusterSettings, Config, KeyRotation, NodeRole, RaftTiming};
use crate::signing_keys::{KeyKeeper, KeysError, open_cluster_keys};

/// Raft node id of a single node.
const SINGLE_NODE_ID: u64 = 1;
/// How long a single node waits at start to become leader before serving anyway.
const LEADER_WAIT: Duration = Duration::from_secs(15);
/// How often the leader drops expired tokens from the replicated state.
const PURGE_INTERVAL: Duration = Duration::from_secs(300);
/// How long a starting node waits for its cluster (a quorum, or a core that answers).
const CLUSTER_WAIT: Patience = Patience {
    total: Duration::from_secs(300),
    pause: Duration::from_millis(200),
};
/// How long a starting node waits for Redis to answer whether it may evict keys.
const REDIS_WAIT: Duration = Duration::from_secs(2);
/// Time limit of a call to another node's cluster API.
const CLUSTER_CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StateLinkError {
    #[error("cluster secret {path}")]
    Secret {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cluster secret {path}")]
    SecretRefused {
        path: String,
        #[source]
        source: ClusterSecretError,
    },
    #[error("could not start the state runtime")]
    Runtime(#[source] std::io::Error),
    #[error("could not connect to the hot cache")]
    Cache(#[source] ostium_state::CacheError),
    #[error("refusing the hot cache (`serve --dev` would only warn)")]
    UnsafeCache(#[source] UnsafeCache),
    #[error("could not build the cluster client")]
    Client(#[source] reqwest::Error),
    #[error("could not start the Raft node")]
    Node(#[source] ostium_state::node::StateNodeError),
    #[error("could not form the cluster")]
    Form(#[source] ostium_state::node::MembershipError),
    #[error("cannot listen for Raft traffic on {addr}")]
    RaftListen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    LocalAddress {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the cluster did not answer in time")]
    Unavailable(#[source] Unavailable),
    #[error("the signing keys could not be opened or added")]
    Keys(#[from] KeysError),
}

/// The running link: the store, its runtime, and its background tasks.
pub struct StateLink {
    runtime: Runtime,
    store: TokenStore,
    secret: Vec<u8>,
    /// Whom a starting node waits for before it can read the cluster's state.
    waits_for: &'static str,
    stop: CancellationToken,
    /// The Raft listener, the purger, the leader watch and the hot cache's keeper
    /// (cores only), and the signing keys' keeper.
    tasks: Vec<JoinHandle<()>>,
    /// Whether this node adds the next signing key when rotation is due (cores).
    rotates_keys: bool,
}

impl StateLink {
    pub fn start(config: &Config) -> Result<Self, StateLinkError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ostium-state")
            .enable_all()
            .build()
            .map_err(StateLinkError::Runtime)?;
        match (&config.cluster, &config.cache) {
            (
                Some(
                    cluster @ ClusterSettings {
                        role: NodeRole::Edge,
                        ..
                    },
                ),
                Some(cache),
            ) => start_edge(runtime, cluster, cache),
            // The configuration refuses an edge without `[cache]`.
            _ => start_core(runtime, config),
        }
    }

    pub fn store(&self) -> &TokenStore {
        &self.store
    }

    /// The raw cluster secret, from which other cluster-wide keys are derived.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The cluster's signing keys (see [`open_cluster_keys`]), once this node can
    /// read the cluster's state: it waits for a quorum (a core) or for a core that
    /// answers (an edge).
    pub fn signing_keys(
        &self,
        algorithm: SigningAlgorithm,
        rotation: &KeyRotation,
    ) -> Result<KeyRing, StateLinkError> {
        let whom = self.waits_for;
        let mut told = false;
        let wait = CLUSTER_WAIT.retry(async |_| match self.store.signing_keys().list().await {
            Ok(keys) => ControlFlow::Break(Ok(keys)),
            Err(unavailable) => {
                if !told {
                    tracing::info!(reason = %Causes(&unavailable), "waiting for {whom} before serving");
                    told = true;
                }
                ControlFlow::Continue(unavailable.into())
            }
        });
        let keys = self
            .runtime
            .block_on(wait)
            .map_err(StateLinkError::Unavailable)?;
        let ring = open_cluster_keys(&self.store, &self.secret, algorithm, rotation, keys);
        Ok(self.runtime.block_on(ring)?)
    }

    /// Keeps `ring` current from now on (see [`KeyKeeper`]): new, retired and
    /// withdrawn keys are picked up without a restart, and cores add the next key
    /// when rotation is due.
    pub fn keep_signing_keys(
        &mut self,
        ring: Arc<KeyRing>,
        access_tokens: ostium_tokens::JwtAccessTokens,
        algorithm: SigningAlgorithm,
        rotation: KeyRotation,
    ) -> Result<(), StateLinkError> {
        let sealer = ostium_tokens::KeySealer::from_cluster_secret(&self.secret)
            .map_err(|e| StateLinkError::Keys(e.into()))?;
        let keeper = KeyKeeper {
            store: self.store.clone(),
            sealer,
            algorithm,
            rotation,
            ring,
            access_tokens,
            rotates: self.rotates_keys,
        };
        let _on_state_runtime = self.runtime.enter();
        self.tasks.push(keeper.spawn(self.stop.clone()));
        Ok(())
    }

    /// Stops the background tasks, then Raft (closing the state database), then the
    /// runtime.
    pub fn shutdown(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = self.runtime.block_on(task);
        }
        if let Err(e) = self.runtime.block_on(self.store.shutdown()) {
            tracing::warn!(error = %Causes(&e), "Raft did not stop cleanly");
        }
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

fn start_core(runtime: Runtime, config: &Config) -> Result<StateLink, StateLinkError> {
    let data_dir = &config.server.data_dir;
    let (node_id, raft_addr, secret_path, peers) = match &config.cluster {
        Some(cluster) => (
            cluster.node_id,
            cluster.peers[&cluster.node_id].clone(),
            cluster.secret_file.clone(),
            cluster.peers.clone(),
        ),
        None => {
            let local = String::from("local");
            let peers = BTreeMap::from([(SINGLE_NODE_ID, local.clone())]);
            (SINGLE_NODE_ID, local, local_secret_file(data_dir), peers)
        }
    };
    let secret = match config.cluster {
        Some(_) => read_secret(&secret_path)?,
        None => load_or_create_secret(&secret_path)?,
    };
    let cluster_secret =
        ClusterSecret::new(&secret).map_err(|source| StateLinkError::SecretRefused {
            path: secret_path.display().to_string(),
            source,
        })?;
    let mut node_config = StateNodeConfig::new(
        node_id,
        raft_addr,
        data_dir.join("state"),
        cluster_secret.clone(),
    );
    node_config.state_cache_bytes = config.state.cache_bytes;
    let timing = config
        .cluster
        .as_ref()
        .map(|cluster| cluster.timing)
        .unwrap_or_default();
    node_config.heartbeat_interval = timing.heartbeat_interval;
    node_config.election_timeout = timing.election_timeout;
    if let Some(cache) = &config.cache {
        // The connection belongs to the state runtime, which outlives every caller.
        let cache = {
            let _on_state_runtime = runtime.enter();
            HotCache::connect(cache).map_err(StateLinkError::Cache)?
        };
        check_eviction(&runtime, &cache)?;
        node_config.cache = Some(cache);
    }
    let node = runtime
        .block_on(StateNode::start(node_config))
        .map_err(StateLinkError::Node)?;
    let initialized = runtime
        .block_on(node.is_initialized())
        .map_err(StateLinkError::Node)?;
    let lowest = peers.keys().next().copied() == Some(node_id);
    if !initialized && lowest {
        runtime
            .block_on(node.initialize(peers.clone()))
            .map_err(StateLinkError::Form)?;
        tracing::info!(members = ?peers.keys().collect::<Vec<_>>(), "formed a new cluster");
    }
    let node = Arc::new(node);
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    // Peers must reach each other before any of them can wait for a quorum. A node
    // without `[cluster]` has no peers, but serves the same API on a loopback port the
    // system picks, so that `ostium cluster status` works on it too; the port goes
    // into its data directory, where the secret that signs the calls is.
    let listen = match &config.cluster {
        Some(ClusterSettings {
            role: NodeRole::Core { raft_listen },
            ..
        }) => *raft_listen,
        _ => SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    };
    let cluster = cluster_client(&cluster_secret, &timing)?;
    let services = (
        node.raft_service(),
        ClusterService::new(node.clone(), cluster_secret.clone(), cluster.clone()),
    );
    let listening = runtime.block_on(listener::bind_and_serve(
        listen,
        services.0,
        services.1,
        stop.clone(),
    ));
    let (handle, bound) = listening.map_err(|source| StateLinkError::RaftListen {
        addr: listen,
        source,
    })?;
    tasks.push(handle);
    if config.cluster.is_some() {
        tracing::info!(addr = %bound, node_id, "serving Raft traffic");
    } else {
        write_local_address(data_dir, bound)?;
        tracing::debug!(addr = %bound, "serving the cluster API on loopback");
    }
    let state = ReplicatedState::new(node, cluster);
    {
        let _on_state_runtime = runtime.enter();
        tasks.push(state.spawn_purger(PURGE_INTERVAL, stop.clone()));
        tasks.push(ostium_state::leader_watch::spawn(
            state.node().clone(),
            stop.clone(),
        ));
        let every = config.cache.as_ref().map(|c| c.watermark_renewal());
        tasks.extend(every.and_then(|every| state.node().spawn_cache_keeper(every, stop.clone())));
    }
    if config.cluster.is_none() {
        wait_for_leader(&runtime, &state);
    }
    Ok(StateLink {
        runtime,
        store: TokenStore::core(state),
        secret,
        waits_for: "a quorum of the cluster",
        stop,
        tasks,
        rotates_keys: true,
    })
}

fn start_edge(
    runtime: Runtime,
    cluster: &ClusterSettings,
    cache: &CacheConfig,
) -> Result<StateLink, StateLinkError> {
    let secret = read_secret(&cluster.secret_file)?;
    let cluster_secret =
        ClusterSecret::new(&secret).map_err(|source| StateLinkError::SecretRefused {
            path: cluster.secret_file.display().to_string(),
            source,
        })?;
    let client = cluster_client(&cluster_secret, &cluster.timing)?;
    let cache = {
        let _on_state_runtime = runtime.enter();
        HotCache::connect(cache).map_err(StateLinkError::Cache)?
    };
    check_eviction(&runtime, &cache)?;
    let cores = cluster.peers.values().cloned().collect();
    tracing::info!(node_id = cluster.node_id, cores = ?cluster.peers, "edge node: reading through the hot cache, writing through the cores");
    Ok(StateLink {
        runtime,
        store: TokenStore::edge(EdgeState::new(cores, client, cache)),
        secret,
        waits_for: "a core node to answer",
        stop: CancellationToken::new(),
        tasks: Vec::new(),
        rotates_keys: false,
    })
}

/// The client for other nodes' cluster API. A forwarded write gets twice the longest
/// election timeout: by then the leader called has answered, or the cluster has
/// elected another (whom the next attempt asks), or it is stuck.
fn cluster_client(
    secret: &ClusterSecret,
    timing: &RaftTiming,
) -> Result<ClusterClient, StateLinkError> {
    let client =
        ClusterClient::new(secret.clone(), CLUSTER_CALL_TIMEOUT).map_err(StateLinkError::Client)?;
    Ok(client.with_propose_timeout(timing.election_timeout.1 * 2))
}

/// Refuses a Redis that may evict keys (docs/architecture.md §5), or warns about it
/// when the configuration tolerates one (`serve --dev`). A Redis that does not answer
/// yet does not stop the node, since Redis being down never does: the leader checks
/// again before it vouches for the cache.
fn check_eviction(runtime: &Runtime, cache: &HotCache) -> Result<(), StateLinkError> {
    let patience = Patience {
        total: REDIS_WAIT,
        pause: Duration::from_millis(100),
    };
    let checked = runtime.block_on(
        patience.retry(async |_| match cache.check_eviction().await {
            EvictionCheck::Unreachable(e) => {
                ControlFlow::Continue(ostium_state::AttemptError::Cache(e))
            }
            answered => ControlFlow::Break(Ok(answered)),
        }),
    );
    match checked {
        Ok(EvictionCheck::Safe) => Ok(()),
        Ok(EvictionCheck::Unsafe(unsafe_cache)) if cache.tolerates_eviction() => {
            tracing::warn!(reason = %unsafe_cache, "using the hot cache anyway, in development mode");
            Ok(())
        }
        Ok(EvictionCheck::Unsafe(unsafe_cache)) => Err(StateLinkError::UnsafeCache(unsafe_cache)),
        Ok(EvictionCheck::Unreachable(_)) | Err(_) => {
            tracing::warn!(
                "Redis does not answer yet; its maxmemory-policy is checked before the cache is used"
            );
            Ok(())
        }
    }
}

/// A single node elects itself at once; it serves anyway if that takes too long,
/// since grants without state need no leader.
fn wait_for_leader(runtime: &Runtime, state: &ReplicatedState) {
    let patience = Patience {
        total: LEADER_WAIT,
        pause: Duration::from_millis(20),
    };
    let elected = runtime.block_on(
        patience.retry(async |_| match state.node().metrics().leader {
            Some(_) => ControlFlow::Break(Ok(())),
            None => ControlFlow::Continue(ostium_state::AttemptError::NoLeaderYet),
        }),
    );
    if elected.is_err() {
        tracing::warn!("no Raft leader yet; serving, but writes wait for one");
    }
}

/// Where a node without `[cluster]` writes the loopback address of its cluster API
/// (`host:port`), inside its data directory.
pub(crate) fn local_address_file(data_dir: &Path) -> PathBuf {
    data_dir.join("cluster.addr")
}

/// Where a node without `[cluster]` keeps the secret it generated.
pub(crate) fn local_secret_file(data_dir: &Path) -> PathBuf {
    data_dir.join("cluster.secret")
}

/// Replaces the address file in one step, so that a reader never sees half of it.
fn write_local_address(data_dir: &Path, addr: SocketAddr) -> Result<(), StateLinkError> {
    let path = local_address_file(data_dir);
    let error = |source| StateLinkError::LocalAddress {
        path: path.display().to_string(),
        source,
    };
    let partial = path.with_extension("addr.partial");
    std::fs::write(&partial, format!("{addr}\n")).map_err(error)?;
    std::fs::rename(&partial, &path).map_err(error)
}

/// Reads a configured secret; whitespace around it (a trailing newline) is ignored.
pub(crate) fn read_secret(path: &Path) -> Result<Vec<u8>, StateLinkError> {
    let bytes = std::fs::read(path).map_err(|source| StateLinkError::Secret {
        path: path.display().to_string(),
        source,
    })?;
    Ok(bytes.trim_ascii().to_vec())
}

/// Reads the secret, or creates 32 random bytes readable by the owner only.
fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, StateLinkError> {
    let error = |source| StateLinkError::Secret {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(path) {
        Ok(secret) => return Ok(secret),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(error(e)),
        Err(_) => {}
    }
    let secret = ostium_tokens::handle::random_id::<32>()
        .map_err(|e| error(std::io::Error::other(e)))?
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
