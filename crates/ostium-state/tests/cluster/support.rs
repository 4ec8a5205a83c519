//! A test cluster in one process: each node is a real `StateNode` with its own data
//! directory and a real loopback HTTP listener serving its `RaftService`, so every
//! Raft message crosses the network code and the cluster-secret check.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ostium_state::network::{ClusterClient, ClusterSecret, ClusterService, listener};
use ostium_state::node::{ProposeError, StateNode, StateNodeConfig};
use ostium_state::{StateCommand, StateResponse};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const SECRET: &[u8] = b"test cluster secret, 32 bytes ok";
/// Generous: this machine is slow and shared.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// How long a node's `add-learner` waits for the learner to catch up.
pub const LEARNER_PATIENCE: Duration = Duration::from_secs(20);

pub fn secret() -> ClusterSecret {
    ClusterSecret::new(SECRET).unwrap()
}

/// The node, its Raft listener, and what stops the listener.
type Running = (Arc<StateNode>, JoinHandle<()>, CancellationToken);

/// One node: its data directory outlives restarts. Stopped and restarted through a
/// shared reference, so a test can stop a node while other tasks use the cluster.
pub struct TestNode {
    pub id: u64,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    secret: ClusterSecret,
    running: Mutex<Option<Running>>,
}

impl TestNode {
    pub async fn start(id: u64, dir: PathBuf, secret: ClusterSecret) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let node = Self {
            id,
            addr,
            dir,
            secret,
            running: Mutex::new(None),
        };
        node.run(listener).await;
        node
    }

    async fn run(&self, listener: TcpListener) {
        let mut config = StateNodeConfig::new(
            self.id,
            self.addr.to_string(),
            &self.dir,
            self.secret.clone(),
        );
        config.heartbeat_interval = Duration::from_millis(100);
        config.election_timeout = (Duration::from_millis(600), Duration::from_millis(1200));
        // Small, so that tests cross snapshots, log compaction and snapshot install.
        config.snapshot_every = 10;
        config.log_kept_behind_snapshot = 2;
        let state_node = Arc::new(StateNode::start(config).await.unwrap());
        let peers = ClusterClient::new(self.secret.clone(), Duration::from_secs(5)).unwrap();
        let cluster = ClusterService::new(state_node.clone(), self.secret.clone(), peers)
            .with_learner_patience(LEARNER_PATIENCE);
        let stop = CancellationToken::new();
        let server = listener::serve(listener, state_node.raft_service(), cluster, stop.clone());
        *self.running.lock().unwrap() = Some((state_node, server, stop));
    }

    pub fn node(&self) -> Arc<StateNode> {
        self.try_node().expect("node is stopped")
    }

    pub fn try_node(&self) -> Option<Arc<StateNode>> {
        let running = self.running.lock().unwrap();
        running.as_ref().map(|(node, _, _)| node.clone())
    }

    pub fn is_running(&self) -> bool {
        self.running.lock().unwrap().is_some()
    }

    /// Stops Raft and the listener, as a crash would, but keeps the data directory.
    pub async fn stop(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some((node, server, stop)) = running {
            stop.cancel();
            let _ = server.await;
            node.shutdown().await.unwrap();
        }
    }

    /// Starts again from the data directory, on the same address.
    pub async fn restart(&self) {
        let deadline = Instant::now() + PATIENCE;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("rebinding {}: {e}", self.addr);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot rebind {}: {e}", self.addr),
            }
        };
        self.run(listener).await;
    }
}

pub struct TestCluster {
    _dirs: TempDir,
    pub nodes: Vec<TestNode>,
}

impl TestCluster {
    /// Starts `n` nodes (ids 1..=n) and forms a cluster of all of them from node 1.
    pub async fn start(n: u64) -> Self {
        let dirs = TempDir::new().unwrap();
        let mut nodes = Vec::new();
        for id in 1..=n {
            nodes.push(TestNode::start(id, dirs.path().join(format!("node-{id}")), secret()).await);
        }
        let members: BTreeMap<u64, String> =
            nodes.iter().map(|n| (n.id, n.addr.to_string())).collect();
        nodes[0].node().initialize(members).await.unwrap();
        let cluster = Self { _dirs: dirs, nodes };
        cluster.leader().await;
        cluster
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self._dirs.path().join(name)
    }

    pub fn node(&self, id: u64) -> &TestNode {
        self.nodes.iter().find(|n| n.id == id).unwrap()
    }

    /// Waits until the running nodes agree on a leader that is itself running.
    pub async fn leader(&self) -> u64 {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let running: Vec<_> = self.nodes.iter().filter(|n| n.is_running()).collect();
            let leaders: Vec<_> = running.iter().map(|n| n.node().metrics().leader).collect();
            if let Some(Some(leader)) = leaders.first()
                && leaders.iter().all(|l| *l == Some(*leader))
                && running
                    .iter()
                    .any(|n| n.id == *leader && n.node().metrics().leader == Some(n.id))
            {
                return *leader;
            }
            assert!(Instant::now() < deadline, "no agreed leader: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Proposes at node `at`, following `ForwardToLeader` the way a server forwards a
    /// write to the leader, and retrying while an election is under way.
    pub async fn propose(&self, at: u64, command: StateCommand) -> StateResponse {
        let deadline = Instant::now() + PATIENCE;
        let mut target = at;
        loop {
            let proposed = match self.node(target).try_node() {
                Some(node) => Some(node.propose(command.clone()).await),
                None => None,
            };
            match proposed.ok_or(()) {
                Ok(Ok(response)) => return response,
                Ok(Err(ProposeError::ForwardToLeader(leader)))
                | Ok(Err(ProposeError::OutcomeUnknown(leader))) => match leader.id {
                    Some(id) if id != target && self.node(id).is_running() => target = id,
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                },
                // The node is stopped, or stopped under the proposal: ask another one.
                Err(()) | Ok(Err(ProposeError::Stopped(_))) => {
                    if let Some(other) = self.nodes.iter().find(|n| n.is_running()) {
                        target = other.id;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(Err(e)) => panic!("proposal failed: {e}"),
            }
            assert!(
                Instant::now() < deadline,
                "proposal did not go through in time"
            );
        }
    }

    /// Waits until every running node has applied the leader's last log entry.
    pub async fn converge(&self) -> u64 {
        let leader = self.leader().await;
        let index = self
            .node(leader)
            .node()
            .metrics()
            .last_log_index
            .unwrap_or(0);
        for node in self.nodes.iter().filter(|n| n.is_running()) {
            node.node().wait_applied(index, PATIENCE).await.unwrap();
        }
        index
    }
}
