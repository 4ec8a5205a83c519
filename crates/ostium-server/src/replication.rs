//! This node's share of the replicated token state: the Raft node with its log and
//! state machine in `<data_dir>/state/`, on a tokio multi-thread runtime of its own
//! (Raft must not run on actix's single-threaded workers).
//!
//! A node started without a `[cluster]` section is a cluster of one: it forms the
//! cluster on first start, and its cluster secret, which also derives the key for
//! refresh-token successors, is generated into `<data_dir>/cluster.secret`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ostium_state::{ClusterSecret, StateNode, StateNodeConfig};

/// Raft node id of a single node.
const SINGLE_NODE_ID: u64 = 1;
/// How long start-up waits for this node to see a leader before serving anyway.
const LEADER_WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("cluster secret {path}: {source}")]
    Secret {
        path: String,
        source: std::io::Error,
    },
    #[error("cluster secret: {0}")]
    SecretTooShort(String),
    #[error("could not start the Raft runtime: {0}")]
    Runtime(std::io::Error),
    #[error("replicated state: {0}")]
    Node(String),
}

/// The running Raft node and the runtime it runs on.
pub struct Replication {
    runtime: tokio::runtime::Runtime,
    node: Arc<StateNode>,
    secret: Vec<u8>,
}

impl Replication {
    /// Starts a cluster of one in `data_dir`, forming it on first start.
    pub fn start_single(data_dir: &Path) -> Result<Self, ReplicationError> {
        let secret = load_or_create_secret(&data_dir.join("cluster.secret"))?;
        let cluster_secret = ClusterSecret::new(&secret)
            .map_err(|e| ReplicationError::SecretTooShort(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ostium-raft")
            .enable_all()
            .build()
            .map_err(ReplicationError::Runtime)?;
        let config = StateNodeConfig::new(
            SINGLE_NODE_ID,
            "local",
            data_dir.join("state"),
            cluster_secret,
        );
        let node = runtime
            .block_on(StateNode::start(config))
            .map_err(|e| ReplicationError::Node(e.to_string()))?;
        let initialized = runtime
            .block_on(node.is_initialized())
            .map_err(|e| ReplicationError::Node(e.to_string()))?;
        if !initialized {
            runtime
                .block_on(node.initialize(BTreeMap::from([(SINGLE_NODE_ID, "local".into())])))
                .map_err(|e| ReplicationError::Node(e.to_string()))?;
            tracing::info!("formed a new single-node cluster");
        }
        let replication = Self {
            runtime,
            node: Arc::new(node),
            secret,
        };
        replication.wait_for_leader();
        Ok(replication)
    }

    pub fn node(&self) -> &Arc<StateNode> {
        &self.node
    }

    /// The raw cluster secret, from which other cluster-wide keys are derived.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    fn wait_for_leader(&self) {
        let started = Instant::now();
        while self.node.metrics().leader.is_none() {
            if started.elapsed() > LEADER_WAIT {
                tracing::warn!("no Raft leader yet; serving, but writes wait for one");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops Raft cleanly when nothing else holds the node any more.
    pub fn shutdown(self) {
        let Self { runtime, node, .. } = self;
        match Arc::try_unwrap(node) {
            Ok(node) => {
                if let Err(e) = runtime.block_on(node.shutdown()) {
                    tracing::warn!(error = %e, "Raft did not stop cleanly");
                }
            }
            Err(_) => {
                tracing::warn!("Raft node still in use at shutdown; stopping it with the runtime")
            }
        }
        runtime.shutdown_timeout(Duration::from_secs(5));
    }
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
