//! An edge node's link to its cluster (`[cluster] role = "edge"`): no Raft node and no
//! Raft listener, only the hot cache and calls to the cores' cluster API, on a tokio
//! runtime of its own so that the Redis connection and the calls to the cores never
//! belong to one of actix's single-threaded workers.

use std::sync::Arc;
use std::time::Duration;

use ostium_state::network::ClusterClient;
use ostium_state::{CacheConfig, ClusterSecret, EdgeState, HotCache};
use ostium_tokens::{KeyRing, SigningAlgorithm};

use crate::config::ClusterSettings;
use crate::replication::{
    CLUSTER_CALL_TIMEOUT, ReplicationError, node_error, read_secret, wait_for_cluster,
};
use crate::signing_keys::open_cluster_keys;

pub struct EdgeLink {
    runtime: tokio::runtime::Runtime,
    state: Arc<EdgeState>,
    secret: Vec<u8>,
}

impl EdgeLink {
    pub fn start(cluster: &ClusterSettings, cache: &CacheConfig) -> Result<Self, ReplicationError> {
        let secret = read_secret(&cluster.secret_file)?;
        let cluster_secret =
            ClusterSecret::new(&secret).map_err(|e| ReplicationError::SecretRefused {
                path: cluster.secret_file.display().to_string(),
                reason: e.to_string(),
            })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ostium-edge")
            .enable_all()
            .build()
            .map_err(ReplicationError::Runtime)?;
        let cache = {
            let _on_edge_runtime = runtime.enter();
            HotCache::connect(cache).map_err(node_error)?
        };
        let client =
            ClusterClient::new(cluster_secret, CLUSTER_CALL_TIMEOUT).map_err(node_error)?;
        let cores = cluster.peers.values().cloned().collect();
        tracing::info!(node_id = cluster.node_id, cores = ?cluster.peers, "edge node: reading through the hot cache, writing through the cores");
        Ok(Self {
            runtime,
            state: Arc::new(EdgeState::new(cores, client, cache)),
            secret,
        })
    }

    pub fn state(&self) -> &Arc<EdgeState> {
        &self.state
    }

    /// The raw cluster secret, from which other cluster-wide keys are derived.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The cluster's signing keys, from the cores; waits (up to `QUORUM_WAIT`) for
    /// a core that can answer.
    pub fn signing_keys(&self, algorithm: SigningAlgorithm) -> Result<KeyRing, ReplicationError> {
        let fetch = || {
            wait_for_cluster("a core node to answer", || {
                self.runtime.block_on(self.state.signing_keys())
            })
        };
        open_cluster_keys(&self.secret, algorithm, fetch, |command| {
            self.runtime
                .block_on(self.state.propose(command))
                .map(|_| ())
                .map_err(node_error)
        })
    }

    pub fn shutdown(self) {
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}
