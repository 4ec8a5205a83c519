//! A cluster of core nodes, each a real `ostium` process with its own data
//! directory, HTTP port and Raft port, all sharing one cluster secret, configured
//! the standard way ([`crate::fixture::config`]) with a `[cluster]` section; with a
//! hot cache, edge nodes may join it. The requests tests send to its nodes are here
//! too, written once.

use std::time::{Duration, Instant};

use reqwest::blocking::Response;
use serde_json::Value;

use crate::fixture::*;
use crate::{Node, TestDir, free_port, post_form, try_post_form};

/// How long a cluster may take to elect a leader all nodes agree on.
const LEADER_TIMEOUT: Duration = Duration::from_secs(30);

pub struct ClusterNode {
    pub id: u64,
    pub node: Node,
    /// Where this node listens (every node shares the cluster's issuer, node 1's URL,
    /// as nodes behind one load balancer do).
    pub issuer: String,
    /// 0 for an edge node, which has no Raft listener.
    pub raft_port: u16,
    pub dir: TestDir,
    pub edge: bool,
}

impl ClusterNode {
    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("ostium.toml")
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/connect/token", self.issuer)
    }

    /// A client-credentials access token for the fixture's machine client.
    pub fn machine_token(&self) -> String {
        let response = self.post(
            "/connect/token",
            (MACHINE_ID, MACHINE_SECRET),
            &[("grant_type", "client_credentials")],
        );
        assert_eq!(response.status().as_u16(), 200, "token at node {}", self.id);
        let body: Value = response.json().expect("a JSON token response");
        body["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    /// Revokes `token` as `client`; the status.
    pub fn revoke(&self, client: (&str, &str), token: &str) -> u16 {
        self.post("/connect/revocation", client, &[("token", token)])
            .status()
            .as_u16()
    }

    /// `/readyz`, as JSON.
    pub fn readiness(&self) -> Value {
        reqwest::blocking::get(format!("{}/readyz", self.issuer))
            .and_then(|r| r.json())
            .unwrap_or(Value::Null)
    }

    /// The fingerprint of the client configuration this node serves, from `/readyz`.
    pub fn configuration(&self) -> Option<String> {
        self.readiness()["configuration"]
            .as_str()
            .map(str::to_owned)
    }

    /// The leader this node knows of, from `/readyz`.
    pub fn leader(&self) -> Option<u64> {
        self.readiness()["raft_leader"].as_u64()
    }

    /// What `ostium cluster status --config` prints for this node's configuration
    /// file, as JSON, or the command's error output if it fails.
    pub fn cluster_status(&self) -> Result<Value, String> {
        cluster_status(&self.config_path())
    }

    /// POSTs `form` to `path` on this node with Basic client credentials.
    pub fn post(&self, path: &str, auth: (&str, &str), form: &[(&str, &str)]) -> Response {
        post_form(&format!("{}{path}", self.issuer), Some(auth), form)
    }

    /// Logs the fixture user in with `client` (one of the fixture's `offline_access`
    /// clients, which share [`OFFLINE_SECRET`]) and returns the refresh token.
    pub fn login(&self, client: &str) -> String {
        self.login_tokens(client)["refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_owned()
    }

    /// As [`ClusterNode::login`], with the whole token response.
    pub fn login_tokens(&self, client: &str) -> Value {
        let response = self.post(
            "/connect/token",
            (client, OFFLINE_SECRET),
            &[
                ("grant_type", "password"),
                ("username", USERNAME),
                ("password", PASSWORD),
                ("scope", "openid orders.read offline_access"),
            ],
        );
        let status = response.status().as_u16();
        let body: Value = response.json().expect("a JSON token response");
        assert_eq!(status, 200, "login at node {}: {body}", self.id);
        body
    }

    /// Redeems `token` for `client`: the status and JSON body of the answer.
    pub fn refresh(&self, client: &str, token: &str) -> (u16, Value) {
        self.try_refresh(client, token, None)
            .unwrap_or_else(|e| panic!("refresh at node {}: {e}", self.id))
    }

    /// As [`ClusterNode::refresh`], within `timeout` if given; a transport error (the
    /// node is down, or did not answer in time) is `Err`, as a client sees it.
    pub fn try_refresh(&self, client: &str, token: &str, timeout: Option<Duration>) -> Answer {
        refresh_at(&self.issuer, client, token, timeout)
    }

    /// POSTs `form` to `path` within `timeout` if given: the status and JSON body, or
    /// the transport error as text.
    pub fn try_post(
        &self,
        path: &str,
        auth: (&str, &str),
        form: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> Answer {
        try_post_json(&format!("{}{path}", self.issuer), auth, form, timeout)
    }

    /// Introspects `token` as `caller` (the `urn:orders` API for access tokens, the
    /// client itself for refresh tokens): the status and JSON body.
    pub fn introspect(&self, caller: (&str, &str), token: &str) -> (u16, Value) {
        let response = self.post("/connect/introspect", caller, &[("token", token)]);
        let status = response.status().as_u16();
        (
            status,
            response.json().expect("a JSON introspection answer"),
        )
    }
}

/// What `ostium cluster status --config FILE` prints, as JSON, or the command's
/// error output if it fails.
pub fn cluster_status(config: &std::path::Path) -> Result<Value, String> {
    let config = config.to_str().expect("a UTF-8 path");
    let (ok, out, err) = crate::run_cli(&["cluster", "status", "--config", config], None);
    if !ok {
        return Err(err);
    }
    Ok(serde_json::from_str(&out).unwrap_or_else(|e| panic!("status is not JSON ({e}): {out}")))
}

/// Presents refresh `token` for `client` at every node of `nodes` at once (one
/// thread each), and fails the test unless exactly one redemption succeeds.
pub fn assert_redeemed_once<'a>(
    nodes: impl Iterator<Item = &'a ClusterNode>,
    client: &str,
    token: &str,
) {
    let nodes: Vec<&ClusterNode> = nodes.collect();
    let outcomes: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| s.spawn(|| node.refresh(client, token).0))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a redemption thread"))
            .collect()
    });
    assert_eq!(
        outcomes.iter().filter(|s| **s == 200).count(),
        1,
        "{outcomes:?}"
    );
}

/// What a client got: the status and JSON body of the answer, or the transport
/// error (the node is down, or did not answer in time) as text.
pub type Answer = Result<(u16, Value), String>;

/// Redeems refresh `token` for `client` at the node serving `issuer`, within
/// `timeout` if given. For callers that cannot borrow the [`Cluster`] (threads that
/// keep running while a node is killed).
pub fn refresh_at(issuer: &str, client: &str, token: &str, timeout: Option<Duration>) -> Answer {
    try_post_json(
        &format!("{issuer}/connect/token"),
        (client, OFFLINE_SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        timeout,
    )
}

fn try_post_json(
    url: &str,
    auth: (&str, &str),
    form: &[(&str, &str)],
    timeout: Option<Duration>,
) -> Answer {
    let response = try_post_form(url, Some(auth), form, timeout).map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.json().map_err(|e| e.to_string())?;
    Ok((status, body))
}

pub struct Cluster {
    pub nodes: Vec<ClusterNode>,
    name: String,
    secrets: TestDir,
    /// Node 1's URL: every node is configured with it as issuer.
    pub issuer: String,
    /// `[cluster.peers]` lines of the nodes started together.
    peers: String,
    /// The `[cache]` section every node gets, if any.
    cache: String,
    /// Environment variables every node is started with.
    env: Vec<(String, String)>,
    /// The body of every node's `[signing]`.
    signing: String,
}

/// The secret every node of a cluster started with [`Cluster::start`] shares: what a
/// benchmark signs its calls to the cluster API with.
pub const CLUSTER_SECRET: &str = "cluster-secret-0123456789abcdef";

impl Cluster {
    /// Starts `size` core nodes (ids 1..=size) that list each other as peers, and
    /// waits until they agree on a leader.
    pub fn start(name: &str, size: u64) -> Self {
        Self::start_with_cache(name, size, None)
    }

    /// As [`Cluster::start`], every node writing through to the Redis at
    /// `redis_url` when given.
    pub fn start_with_cache(name: &str, size: u64, redis_url: Option<&str>) -> Self {
        Self::start_with_env(name, size, redis_url, &[])
    }

    /// As [`Cluster::start_with_cache`], every node started with `env` as well.
    pub fn start_with_env(
        name: &str,
        size: u64,
        redis_url: Option<&str>,
        env: &[(&str, String)],
    ) -> Self {
        Self::start_with_signing(name, size, redis_url, env, "algorithm = \"ES256\"")
    }

    /// As [`Cluster::start_with_env`], with `signing` as the body of every node's
    /// `[signing]` (edges started later included).
    pub fn start_with_signing(
        name: &str,
        size: u64,
        redis_url: Option<&str>,
        env: &[(&str, String)],
        signing: &str,
    ) -> Self {
        let cache = redis_url.map_or(String::new(), |url| {
            format!("[cache]\nredis_url = \"{url}\"\nnamespace = \"{name}\"\n")
        });
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let mut cluster = Self::launch(name, size, |_| CLUSTER_SECRET.into(), cache, env, signing);
        for node in &mut cluster.nodes {
            node.node.wait_ready();
        }
        cluster.wait_for_leader();
        cluster
    }

    /// Launches nodes given each its own secret, without waiting for them: a node
    /// with another secret than a quorum's never becomes ready.
    pub fn launch_with_secrets(name: &str, size: u64, secret: impl Fn(u64) -> String) -> Self {
        Self::launch(
            name,
            size,
            secret,
            String::new(),
            Vec::new(),
            "algorithm = \"ES256\"",
        )
    }

    fn launch(
        name: &str,
        size: u64,
        secret: impl Fn(u64) -> String,
        cache: String,
        env: Vec<(String, String)>,
        signing: &str,
    ) -> Self {
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
            cache,
            env,
            signing: signing.to_owned(),
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
        self.launch_node(id, free_port(), raft, CLUSTER_SECRET, &peers)
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
        let role = if raft == 0 {
            "role = \"edge\"".to_owned()
        } else {
            format!("raft_listen = \"127.0.0.1:{raft}\"")
        };
        // Every node serves the browser clients too: a code or a session made at
        // one node is used at another.
        let cluster = format!(
            "[cluster]\nnode_id = {id}\n{role}\nsecret_file = \"{}\"\n[cluster.peers]\n{peers}{}{}",
            secret_file.display(),
            self.cache,
            browser_clients(),
        );
        let issuer = format!("http://127.0.0.1:{http}");
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let node = Node::launch(
            dir.path(),
            &config_with_signing(&self.issuer, http, dir.path(), &self.signing, &cluster),
            &issuer,
            &env,
        );
        self.nodes.push(ClusterNode {
            id,
            node,
            issuer,
            raft_port: raft,
            dir,
            edge: raft == 0,
        });
        self.nodes.last_mut().expect("just pushed")
    }

    /// Starts an edge node (no log, reading through the hot cache) that lists the
    /// cluster's core nodes, and waits until it is ready. Needs a cluster started
    /// with a cache.
    pub fn start_edge(&mut self, id: u64) -> &mut ClusterNode {
        let edge = self.launch_edge(id, CLUSTER_SECRET);
        edge.node.wait_ready();
        edge
    }

    /// Launches an edge node with `secret` as its cluster secret, without waiting:
    /// an edge the cores refuse never becomes ready.
    pub fn launch_edge(&mut self, id: u64, secret: &str) -> &mut ClusterNode {
        assert!(
            !self.cache.is_empty(),
            "an edge node needs the cluster's hot cache"
        );
        let peers = self.peers.clone();
        self.launch_node(id, free_port(), 0, secret, &peers)
    }

    /// Waits until the leader vouches for the hot cache again (after a flush or a
    /// Redis restart), as the edge `id` sees it.
    pub fn wait_for_cache(&self, edge: u64) {
        let started = Instant::now();
        let edge = self.node(edge).expect("the edge node");
        while edge.readiness()["cache_watermark"].is_null() {
            assert!(
                started.elapsed() < LEADER_TIMEOUT,
                "the hot cache was not vouched for again within {LEADER_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every running node names the same leader, and returns its id.
    pub fn wait_for_leader(&self) -> u64 {
        let running: Vec<u64> = self
            .nodes
            .iter()
            .filter(|n| n.node.pid().is_some() && !n.edge)
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

    /// Cuts node `id` off from the others: its Raft RPCs and cluster calls fail both
    /// ways until [`Cluster::heal`]. Its public port keeps serving. Needs a binary
    /// built with the test-only `fault-injection` feature (scripts/test.sh builds it).
    pub fn isolate(&self, id: u64) {
        self.set_fault(id, true);
    }

    /// Reconnects node `id` after [`Cluster::isolate`].
    pub fn heal(&self, id: u64) {
        self.set_fault(id, false);
    }

    /// Sends the `fault` operation of the cluster API to node `id`, signed with the
    /// cluster secret as every node signs its cluster calls.
    fn set_fault(&self, id: u64, isolated: bool) {
        let node = self.node(id).expect("a node with this id");
        let body = serde_json::json!({ "isolated": isolated }).to_string();
        let response = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{}/cluster/fault", node.raft_port))
            .header(
                "x-ostium-cluster-auth",
                cluster_auth(CLUSTER_SECRET, "fault", body.as_bytes()),
            )
            .header("content-type", "application/json")
            .body(body)
            .send()
            .expect("reach the node's Raft listener");
        let status = response.status().as_u16();
        assert_ne!(
            status,
            404,
            "{} has no fault operation: build it with `cargo build -p ostium --features fault-injection`",
            crate::ostium_bin().display()
        );
        assert_eq!(status, 200, "fault operation at node {id}");
        let reply: Value = response.json().expect("a JSON reply");
        assert_eq!(reply, serde_json::json!({ "done": null }), "node {id}");
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

/// The `x-ostium-cluster-auth` value for a call to `operation` with `body`: the hex
/// HMAC-SHA256 under the cluster secret of the operation name's length (8 bytes, big
/// endian), the name and the body, as the nodes compute it.
fn cluster_auth(secret: &str, operation: &str, body: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(&(operation.len() as u64).to_be_bytes());
    context.update(operation.as_bytes());
    context.update(body);
    hex::encode(context.sign())
}
