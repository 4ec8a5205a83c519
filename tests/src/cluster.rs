//! A cluster of core nodes, each a real `ostium` process with its own data
//! directory, HTTP port and Raft port, all sharing one cluster secret, configured
//! the standard way ([`crate::fixture::config`]) with a `[cluster]` section.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixture::config_with_issuer;
use crate::{Node, TestDir, free_port};

/// How long a cluster may take to elect a leader all nodes agree on.
const LEADER_TIMEOUT: Duration = Duration::from_secs(30);

pub struct ClusterNode {
    pub id: u64,
    pub node: Node,
    /// Where this node listens (every node shares the cluster's issuer, node 1's URL,
    /// as nodes behind one load balancer do).
    pub issuer: String,
    pub raft_port: u16,
    pub dir: TestDir,
}

impl ClusterNode {
    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("ostium.toml")
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/connect/token", self.issuer)
    }

    /// The leader this node knows of, from `/readyz`.
    pub fn leader(&self) -> Option<u64> {
        let ready: Value = reqwest::blocking::get(format!("{}/readyz", self.issuer))
            .ok()?
            .json()
            .ok()?;
        ready["raft_leader"].as_u64()
    }
}

pub struct Cluster {
    pub nodes: Vec<ClusterNode>,
    name: String,
    secrets: TestDir,
    /// Node 1's URL: every node is configured with it as issuer.
    issuer: String,
    /// `[cluster.peers]` lines of the nodes started together.
    peers: String,
}

const SECRET: &str = "cluster-secret-0123456789abcdef";

impl Cluster {
    /// Starts `size` core nodes (ids 1..=size) that list each other as peers, and
    /// waits until they agree on a leader.
    pub fn start(name: &str, size: u64) -> Self {
        let mut cluster = Self::launch_with_secrets(name, size, |_| SECRET.into());
        for node in &mut cluster.nodes {
            node.node.wait_ready();
        }
        cluster.wait_for_leader();
        cluster
    }

    /// Launches nodes given each its own secret, without waiting for them: a node
    /// with another secret than a quorum's never becomes ready.
    pub fn launch_with_secrets(name: &str, size: u64, secret: impl Fn(u64) -> String) -> Self {
        let ports: Vec<(u64, u16, u16)> = (1..=size)
            .map(|id| (id, free_port(), free_port()))
            .collect();
        let mut cluster = Self {
            nodes: Vec::new(),
            name: name.to_owned(),
            secrets: TestDir::new(&format!("{name}-secrets")),
            issuer: format!("http://127.0.0.1:{}", ports[0].1),
            peers: ports
                .iter()
                .map(|(id, _, raft)| format!("{id} = \"127.0.0.1:{raft}\"\n"))
                .collect(),
        };
        for (id, http, raft) in ports {
            let peers = cluster.peers.clone();
            cluster.launch_node(id, http, raft, &secret(id), &peers);
        }
        cluster
    }

    /// Launches a node that is not yet a member: it lists the cluster's peers and
    /// itself, and waits for the leader to add it (`ostium cluster add-learner`).
    pub fn launch_newcomer(&mut self, id: u64) -> &mut ClusterNode {
        let raft = free_port();
        let peers = format!("{}{id} = \"127.0.0.1:{raft}\"\n", self.peers);
        self.launch_node(id, free_port(), raft, SECRET, &peers)
    }

    fn launch_node(
        &mut self,
        id: u64,
        http: u16,
        raft: u16,
        secret: &str,
        peers: &str,
    ) -> &mut ClusterNode {
        let dir = TestDir::new(&format!("{}-node{id}", self.name));
        let secret_file = self.secrets.path().join(format!("secret-{id}"));
        std::fs::write(&secret_file, format!("{secret}\n")).expect("write secret");
        let cluster = format!(
            "[cluster]\nnode_id = {id}\nraft_listen = \"127.0.0.1:{raft}\"\nsecret_file = \"{}\"\n[cluster.peers]\n{peers}",
            secret_file.display()
        );
        let issuer = format!("http://127.0.0.1:{http}");
        let node = Node::launch(
            dir.path(),
            &config_with_issuer(&self.issuer, http, dir.path(), "ES256", &cluster),
            &issuer,
            &[],
        );
        self.nodes.push(ClusterNode {
            id,
            node,
            issuer,
            raft_port: raft,
            dir,
        });
        self.nodes.last_mut().expect("just pushed")
    }

    /// Waits until every running node names the same leader, and returns its id.
    pub fn wait_for_leader(&self) -> u64 {
        let running: Vec<u64> = self
            .nodes
            .iter()
            .filter(|n| n.node.pid().is_some())
            .map(|n| n.id)
            .collect();
        self.wait_for_leader_among(&running)
    }

    /// Waits until the nodes `ids` name the same leader, one of them.
    pub fn wait_for_leader_among(&self, ids: &[u64]) -> u64 {
        let started = Instant::now();
        loop {
            let leaders: Vec<Option<u64>> = ids
                .iter()
                .filter_map(|id| self.node(*id))
                .map(ClusterNode::leader)
                .collect();
            if let Some(Some(first)) = leaders.first()
                && leaders.iter().all(|l| *l == Some(*first))
                && ids.contains(first)
            {
                return *first;
            }
            assert!(
                started.elapsed() < LEADER_TIMEOUT,
                "no common leader after {LEADER_TIMEOUT:?}: {leaders:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn node(&self, id: u64) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn node_mut(&mut self, id: u64) -> &mut ClusterNode {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("a node with this id")
    }
}
