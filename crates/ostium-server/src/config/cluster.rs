//! `[cluster]` and `[cache]`: this node's place among the core nodes, and the
//! Redis hot cache they share.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ostium_state::CacheConfig;
use ostium_state::node;
use serde::Deserialize;
use url::Url;

use super::secret_files;

/// `[cluster]`: this node's place in a cluster of core nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    pub node_id: u64,
    pub role: NodeRole,
    /// A file holding the secret every node of the cluster shares (at least 16
    /// bytes; surrounding whitespace is ignored).
    pub secret_file: PathBuf,
    /// Raft address of every core node, by id (a core node among them).
    pub peers: BTreeMap<u64, String>,
    pub timing: RaftTiming,
}

/// How soon the cluster notices a silent leader: `[cluster] heartbeat_interval`,
/// `election_timeout_min` and `election_timeout_max`, in milliseconds. A follower
/// stands for election after hearing nothing for the longest election timeout plus a
/// random one between the two (openraft's leader lease, then the timeout itself), so
/// the defaults, chosen for a LAN, have the survivors of a killed leader commit again
/// about a second later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTiming {
    pub heartbeat_interval: Duration,
    pub election_timeout: (Duration, Duration),
}

impl Default for RaftTiming {
    fn default() -> Self {
        Self {
            heartbeat_interval: node::HEARTBEAT_INTERVAL,
            election_timeout: node::ELECTION_TIMEOUT,
        }
    }
}

/// A follower must hear several heartbeats within the shortest election timeout, so
/// that one late or lost heartbeat does not start an election.
const HEARTBEATS_PER_ELECTION_TIMEOUT: u64 = 3;
/// The longest election timeout accepted: a minute without a leader is an outage,
/// not a timing choice.
const MAX_ELECTION_TIMEOUT_MS: u64 = 60_000;

/// `[cluster] role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRole {
    /// A Raft member (voter or learner), listening for Raft traffic and the cluster
    /// API at `raft_listen`.
    Core { raft_listen: SocketAddr },
    /// No log and no vote: reads through the hot cache, asks and writes through the
    /// cores.
    Edge,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterSection {
    node_id: u64,
    #[serde(default = "core_role")]
    role: String,
    raft_listen: Option<String>,
    secret_file: PathBuf,
    /// Raft address of every core node, by node id (TOML keys are strings).
    peers: BTreeMap<String, String>,
    /// Milliseconds.
    heartbeat_interval: Option<u64>,
    /// Milliseconds.
    election_timeout_min: Option<u64>,
    /// Milliseconds.
    election_timeout_max: Option<u64>,
}

fn core_role() -> String {
    "core".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CacheSection {
    redis_url: Option<String>,
    /// The URL from a file instead, since it may carry a password (`secret_files.rs`).
    redis_url_file: Option<PathBuf>,
    /// Names the key namespace `ostium:{namespace}:` in Redis.
    #[serde(default = "default_namespace")]
    namespace: String,
}

fn default_namespace() -> String {
    "default".into()
}

/// Checks both sections; `listen` is `[server] listen`, which Raft must not share.
pub(super) fn check(
    cluster: Option<ClusterSection>,
    cache: Option<CacheSection>,
    listen: SocketAddr,
) -> Result<(Option<ClusterSettings>, Option<CacheConfig>), String> {
    let cluster = cluster.map(|c| check_cluster(c, listen)).transpose()?;
    let cache = cache.map(check_cache).transpose()?;
    if cluster.as_ref().is_some_and(|c| c.role == NodeRole::Edge) && cache.is_none() {
        return Err(
            "[cluster] role: an `edge` node reads through the hot cache; \
             configure [cache] redis_url"
                .into(),
        );
    }
    Ok((cluster, cache))
}

fn check_cluster(c: ClusterSection, listen: SocketAddr) -> Result<ClusterSettings, String> {
    if c.node_id == 0 {
        return Err("[cluster] node_id: must be at least 1".into());
    }
    let role = match (c.role.as_str(), c.raft_listen) {
        ("core", Some(raft_listen)) => {
            let raft_listen: SocketAddr = raft_listen.parse().map_err(|_| {
                format!(
                    "[cluster] raft_listen: `{raft_listen}` is not an address and port such as 0.0.0.0:9080"
                )
            })?;
            if raft_listen.port() == listen.port() && raft_listen.ip() == listen.ip() {
                return Err(
                    "[cluster] raft_listen: must differ from [server] listen; Raft traffic never \
                     shares the public port"
                        .into(),
                );
            }
            NodeRole::Core { raft_listen }
        }
        ("core", None) => {
            return Err(
                "[cluster] raft_listen: a `core` node needs the address it listens \
                        on for Raft traffic, such as 0.0.0.0:9080"
                    .into(),
            );
        }
        ("edge", None) => NodeRole::Edge,
        ("edge", Some(_)) => {
            return Err(
                "[cluster] raft_listen: an `edge` node holds no log and takes no \
                        Raft traffic; remove raft_listen"
                    .into(),
            );
        }
        (other, _) => {
            return Err(format!(
                "[cluster] role: `{other}` is not a role; use `core` or `edge`"
            ));
        }
    };
    let mut peers = BTreeMap::new();
    for (id, addr) in c.peers {
        let id: u64 =
            id.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
                format!("[cluster.peers]: `{id}` is not a node id (a number from 1)")
            })?;
        if addr
            .rsplit_once(':')
            .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            return Err(format!(
                "[cluster.peers] {id}: `{addr}` is not a host:port address"
            ));
        }
        peers.insert(id, addr);
    }
    match role {
        NodeRole::Core { .. } if !peers.contains_key(&c.node_id) => {
            return Err(format!(
                "[cluster.peers]: must list this node ({}) with the address other nodes reach it at",
                c.node_id
            ));
        }
        NodeRole::Edge if peers.contains_key(&c.node_id) => {
            return Err(format!(
                "[cluster.peers]: lists the core nodes; this edge node's id ({}) must not be among them",
                c.node_id
            ));
        }
        NodeRole::Edge if peers.is_empty() => {
            return Err("[cluster.peers]: an edge node needs the core nodes to ask".into());
        }
        _ => {}
    }
    if c.secret_file.as_os_str().is_empty() {
        return Err("[cluster] secret_file: must name the file holding the cluster secret".into());
    }
    let defaults = RaftTiming::default();
    let timing = check_timing(
        c.heartbeat_interval
            .unwrap_or_else(|| millis(defaults.heartbeat_interval)),
        c.election_timeout_min
            .unwrap_or_else(|| millis(defaults.election_timeout.0)),
        c.election_timeout_max
            .unwrap_or_else(|| millis(defaults.election_timeout.1)),
    )?;
    Ok(ClusterSettings {
        node_id: c.node_id,
        role,
        secret_file: c.secret_file,
        peers,
        timing,
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Checks the Raft timeouts (milliseconds) against each other, naming the field to
/// change.
fn check_timing(heartbeat: u64, min: u64, max: u64) -> Result<RaftTiming, String> {
    if heartbeat == 0 {
        return Err("[cluster] heartbeat_interval: must be at least 1 (milliseconds)".into());
    }
    if heartbeat.saturating_mul(HEARTBEATS_PER_ELECTION_TIMEOUT) > min {
        return Err(format!(
            "[cluster] heartbeat_interval: {heartbeat} ms must be at most a third of \
             election_timeout_min ({min} ms), so that one late heartbeat does not start an \
             election"
        ));
    }
    if max <= min {
        return Err(format!(
            "[cluster] election_timeout_max: {max} ms must be greater than \
             election_timeout_min ({min} ms); followers draw their timeout between the two, \
             so that they do not all stand for election at once"
        ));
    }
    if max > MAX_ELECTION_TIMEOUT_MS {
        return Err(format!(
            "[cluster] election_timeout_max: {max} ms is more than {MAX_ELECTION_TIMEOUT_MS} ms"
        ));
    }
    Ok(RaftTiming {
        heartbeat_interval: Duration::from_millis(heartbeat),
        election_timeout: (Duration::from_millis(min), Duration::from_millis(max)),
    })
}

fn check_cache(c: CacheSection) -> Result<CacheConfig, String> {
    let redis_url = match (c.redis_url, c.redis_url_file) {
        (Some(url), None) => url,
        (None, Some(path)) => {
            secret_files::read_value(&path).map_err(|e| format!("[cache] redis_url_file: {e}"))?
        }
        _ => {
            return Err(
                "[cache]: give either redis_url or redis_url_file (a file holding the URL)".into(),
            );
        }
    };
    // The Redis client needs a host, which `redis:host` would not give it.
    let redis = Url::parse(&redis_url)
        .is_ok_and(|url| matches!(url.scheme(), "redis" | "rediss") && url.has_host());
    if !redis {
        // Not the URL itself: it may carry a password.
        return Err("[cache] redis_url: must be a redis:// or rediss:// URL".into());
    }
    let namespace_ok = !c.namespace.is_empty()
        && c.namespace.len() <= 64
        && c.namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !namespace_ok {
        return Err(format!(
            "[cache] namespace: `{}` must be 1 to 64 of A-Z a-z 0-9 - _ .",
            c.namespace
        ));
    }
    Ok(CacheConfig::new(redis_url, c.namespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{BASE, parse};

    #[test]
    fn cluster_section_is_checked() {
        let cluster = |body: &str| parse(&format!("{BASE}\n[cluster]\n{body}"));
        let good = "node_id = 2\nraft_listen = \"0.0.0.0:9080\"\nsecret_file = \"/etc/ostium/secret\"\n\
                    [cluster.peers]\n1 = \"10.0.0.1:9080\"\n2 = \"10.0.0.2:9080\"\n3 = \"10.0.0.3:9080\"";
        let settings = cluster(good).unwrap().cluster.unwrap();
        assert_eq!(settings.node_id, 2);
        assert_eq!(settings.peers.len(), 3);
        assert_eq!(settings.peers[&1], "10.0.0.1:9080");
        for (from, to, expected) in [
            ("node_id = 2", "node_id = 4", "must list this node (4)"),
            (
                "node_id = 2",
                "node_id = 2\nrole = \"edge\"",
                "remove raft_listen",
            ),
            (
                "node_id = 2",
                "node_id = 2\nrole = \"witness\"",
                "`witness` is not a role",
            ),
            (
                "0.0.0.0:9080\"\nsecret",
                "0.0.0.0:8080\"\nsecret",
                "must differ from [server] listen",
            ),
            (
                "1 = \"10.0.0.1:9080\"",
                "one = \"10.0.0.1:9080\"",
                "`one` is not a node id",
            ),
            (
                "1 = \"10.0.0.1:9080\"",
                "1 = \"10.0.0.1\"",
                "not a host:port",
            ),
        ] {
            let err = cluster(&good.replace(from, to)).unwrap_err().to_string();
            assert!(err.contains(expected), "{to}: {err}");
        }
    }

    #[test]
    fn raft_timeouts_default_to_a_lan_and_are_checked_against_each_other() {
        let cluster = |extra: &str| {
            parse(&format!(
                "{BASE}\n[cluster]\nnode_id = 1\nraft_listen = \"0.0.0.0:9080\"\n\
                 secret_file = \"/etc/ostium/secret\"\n{extra}\n[cluster.peers]\n1 = \"10.0.0.1:9080\"\n"
            ))
        };
        let timing = cluster("").unwrap().cluster.unwrap().timing;
        assert_eq!(timing, RaftTiming::default());
        assert_eq!(timing.heartbeat_interval, Duration::from_millis(50));
        assert_eq!(
            timing.election_timeout,
            (Duration::from_millis(300), Duration::from_millis(600))
        );
        let set = cluster(
            "heartbeat_interval = 100\nelection_timeout_min = 1000\nelection_timeout_max = 1500",
        )
        .unwrap()
        .cluster
        .unwrap()
        .timing;
        assert_eq!(set.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(
            set.election_timeout,
            (Duration::from_millis(1000), Duration::from_millis(1500))
        );
        for (extra, expected) in [
            (
                "heartbeat_interval = 0",
                "[cluster] heartbeat_interval: must be at least 1",
            ),
            (
                "heartbeat_interval = 101",
                "[cluster] heartbeat_interval: 101 ms must be at most a third of \
                 election_timeout_min (300 ms)",
            ),
            (
                "election_timeout_min = 600",
                "[cluster] election_timeout_max: 600 ms must be greater than \
                 election_timeout_min (600 ms)",
            ),
            (
                "election_timeout_min = 700\nelection_timeout_max = 650",
                "[cluster] election_timeout_max: 650 ms must be greater than",
            ),
            (
                "election_timeout_max = 60001",
                "[cluster] election_timeout_max: 60001 ms is more than 60000 ms",
            ),
            ("election_timeout = 300", "unknown field `election_timeout`"),
        ] {
            let err = cluster(extra).unwrap_err().to_string();
            assert!(err.contains(expected), "{extra}: {err}");
        }
        // Exactly a third, and one millisecond between the two, are accepted.
        cluster("heartbeat_interval = 100").unwrap();
        cluster("election_timeout_min = 599").unwrap();
    }

    #[test]
    fn edge_nodes_list_the_cores_and_need_the_hot_cache() {
        let edge = "[cluster]\nnode_id = 10\nrole = \"edge\"\nsecret_file = \"/etc/ostium/secret\"\n\
                    [cluster.peers]\n1 = \"10.0.0.1:9080\"\n2 = \"10.0.0.2:9080\"\n";
        let cache = "[cache]\nredis_url = \"redis://10.0.0.9:6379/\"\nnamespace = \"prod\"\n";
        let config = parse(&format!("{BASE}\n{edge}{cache}")).unwrap();
        assert_eq!(config.cluster.unwrap().role, NodeRole::Edge);
        assert_eq!(config.cache.unwrap().cluster, "prod");
        for (text, expected) in [
            (format!("{BASE}\n{edge}"), "configure [cache] redis_url"),
            (
                format!(
                    "{BASE}\n{}{cache}",
                    edge.replace("node_id = 10", "node_id = 2")
                ),
                "must not be among them",
            ),
            (
                format!("{BASE}\n{edge}{}", cache.replace("redis://", "http://")),
                "must be a redis:// or rediss:// URL",
            ),
            (
                format!("{BASE}\n{edge}{}", cache.replace("prod", "a:b")),
                "[cache] namespace",
            ),
        ] {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn redis_url_is_checked_and_never_echoed() {
        let cache = |url: &str| parse(&format!("{BASE}\n[cache]\nredis_url = \"{url}\"\n"));
        for url in [
            "redis://10.0.0.9:6379/",
            "redis://cache",
            "rediss://:hunter2@cache.internal:6380/2",
            // A URL's scheme is not case-sensitive, and the Redis client reads a URL too.
            "REDIS://cache",
        ] {
            cache(url).unwrap();
        }
        for url in [
            "https://:hunter2@cache.internal",
            "redis:hunter2@cache.internal",
            "hunter2@cache.internal:6379",
            "",
            // Read as a URL: no host (the Redis client would refuse it at start), or
            // a port that is not one.
            "redis://",
            "redis://:hunter2@cache.internal:99999",
        ] {
            let err = cache(url).unwrap_err().to_string();
            assert!(
                err.ends_with("[cache] redis_url: must be a redis:// or rediss:// URL"),
                "{url}: {err}"
            );
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
