//! An edge node (no log, reading through the Redis hot cache) beside three core nodes,
//! all real processes sharing a real `redis-server`: the invariants of
//! docs/architecture.md §4 hold at the edge too, and Redis flushed, stopped or
//! restarted under load never makes any node accept a revoked token or lose an
//! acknowledged rotation (invariants 4 and 5).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ostium_e2e::cluster::{Cluster, ClusterNode, assert_redeemed_once};
use ostium_e2e::fixture::*;
use ostium_e2e::redis::Redis;
use serde_json::json;

const EDGE: u64 = 10;

fn cluster_with_edge(name: &str, redis: &Redis) -> Cluster {
    let mut cluster = Cluster::start_with_cache(name, 3, Some(&redis.url()));
    cluster.start_edge(EDGE);
    cluster.wait_for_cache(EDGE);
    cluster
}

/// Introspects as the fixture's API resource, which sees the access tokens.
fn introspect(node: &ClusterNode, token: &str) -> serde_json::Value {
    let (status, body) = node.introspect((AUDIENCE, RESOURCE_SECRET), token);
    assert_eq!(status, 200, "introspection at node {}: {body}", node.id);
    body
}

fn edge(cluster: &Cluster) -> &ClusterNode {
    cluster.node(EDGE).expect("the edge node")
}

/// How many denials of `kind` (`tok`, `fam`, `spent`, `ref`) Redis holds for the
/// cluster `name`.
fn denials_in_redis(redis: &Redis, name: &str, kind: &str) -> usize {
    let pattern = format!("ostium:{name}:deny:{kind}:*");
    let reply = redis.command(&["KEYS", &pattern]).expect("Redis answers");
    // The first line of an array reply is `*<count>`.
    reply
        .strip_prefix('*')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected KEYS reply {reply:?}"))
}

#[test]
fn an_edge_serves_every_grant_and_refuses_revoked_tokens_at_once() {
    let redis = Redis::start();
    let cluster = cluster_with_edge("edge-serves", &redis);
    let edge = edge(&cluster);
    assert_eq!(edge.readiness()["role"], "edge");

    // Issued at the edge (the refresh token's record forwarded to the leader),
    // rotated at the edge, seen by every core.
    let access = edge.machine_token();
    let first = edge.login(OFFLINE_ID);
    let (status, body) = edge.refresh(OFFLINE_ID, &first);
    assert_eq!(status, 200, "{body}");
    let current = body["refresh_token"].as_str().unwrap().to_owned();
    for node in &cluster.nodes {
        assert_eq!(
            introspect(node, &access)["active"],
            true,
            "node {}",
            node.id
        );
    }

    // Revoked at two cores: refused at the edge at once, no waiting, no retry.
    assert_eq!(
        cluster.nodes[0].revoke((MACHINE_ID, MACHINE_SECRET), &access),
        200
    );
    assert_eq!(introspect(edge, &access), json!({ "active": false }));
    assert_eq!(
        cluster.nodes[1].revoke((OFFLINE_ID, OFFLINE_SECRET), &current),
        200
    );
    assert_eq!(edge.refresh(OFFLINE_ID, &current).0, 400);

    // Revoked at the edge: refused at every core at once.
    let other = cluster.nodes[2].machine_token();
    assert_eq!(introspect(edge, &other)["active"], true);
    assert_eq!(edge.revoke((MACHINE_ID, MACHINE_SECRET), &other), 200);
    for node in &cluster.nodes {
        assert_eq!(
            introspect(node, &other),
            json!({ "active": false }),
            "node {}",
            node.id
        );
    }
    // The edge answered from the cache: the cores wrote the denials through, and the
    // edge counts its hits.
    let metrics = reqwest::blocking::get(format!("{}/metrics", edge.issuer))
        .and_then(|r| r.text())
        .expect("/metrics");
    let hits: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("ostium_cache_hits_total "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no cache hits counter in:\n{metrics}"));
    assert!(hits > 0, "the edge never read through the cache");
    assert!(denials_in_redis(&redis, "edge-serves", "tok") >= 2);
    assert!(denials_in_redis(&redis, "edge-serves", "fam") >= 1);
    assert!(denials_in_redis(&redis, "edge-serves", "spent") >= 1);
}

#[test]
fn a_refresh_token_is_redeemed_once_across_the_cores_and_the_edge() {
    let redis = Redis::start();
    let cluster = cluster_with_edge("edge-once", &redis);
    let token = edge(&cluster).login(STRICT_ID);
    assert_redeemed_once(
        cluster.nodes.iter().chain(cluster.nodes.iter()),
        STRICT_ID,
        &token,
    );
    // Replaying it later, anywhere, is reuse: refused, and its family revoked.
    assert_eq!(edge(&cluster).refresh(STRICT_ID, &token).0, 400);
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn an_edge_with_the_wrong_secret_is_refused_and_never_serves() {
    let redis = Redis::start();
    let mut cluster = Cluster::start_with_cache("edge-outsider", 3, Some(&redis.url()));
    let wrong = "not-the-cluster-secret-at-all";
    cluster.launch_edge(EDGE, wrong);
    // It cannot get the cluster's signing keys, so it never opens its port.
    std::thread::sleep(Duration::from_secs(3));
    let outsider = edge(&cluster);
    assert!(outsider.readiness().is_null(), "the outsider is serving");
    assert!(
        outsider.node.pid().is_some(),
        "the outsider gave up instead of waiting"
    );
    let logs: String = cluster.nodes.iter().map(|n| n.node.log_text()).collect();
    assert!(
        logs.contains("refused a cluster request: wrong or missing cluster authentication"),
        "the refusal is logged"
    );
    assert!(!logs.contains(wrong), "a secret reached a log");
    assert!(
        !logs.contains("cluster-secret-0123456789abcdef"),
        "a secret reached a log"
    );
}

/// Rotates one refresh-token chain at `node` until `stop`, as a well-behaved client
/// does: an answer it did not get (503, or a dropped connection) is retried with the
/// same token. Returns how many rotations were acknowledged; panics if the chain is
/// ever refused, which would mean an acknowledged rotation was lost.
fn rotate_until(node: &ClusterNode, stop: &AtomicBool) -> usize {
    let mut token = node.login(OFFLINE_ID);
    let mut rotations = 0;
    while !stop.load(Ordering::Relaxed) {
        let (status, body) = node.refresh(OFFLINE_ID, &token);
        match status {
            200 => {
                token = body["refresh_token"].as_str().unwrap().to_owned();
                rotations += 1;
            }
            503 => std::thread::sleep(Duration::from_millis(20)),
            _ => panic!("the chain was refused after {rotations} rotations: {status} {body}"),
        }
    }
    rotations
}

#[test]
fn redis_flushed_stopped_and_restarted_under_load_never_fails_open() {
    let mut redis = Redis::start();
    let cluster = cluster_with_edge("edge-redis", &redis);
    let edge = edge(&cluster);
    let revoked = edge.machine_token();
    assert_eq!(edge.revoke((MACHINE_ID, MACHINE_SECRET), &revoked), 200);
    let live = edge.machine_token();
    let inactive = json!({ "active": false });

    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let load: Vec<_> = [edge, &cluster.nodes[1]]
            .into_iter()
            .map(|node| s.spawn(|| rotate_until(node, &stop)))
            .collect();
        // A failed assertion below must stop the load too, or the scope never ends.
        let stopping = StopOnDrop(&stop);

        // FLUSHALL: the denial and the watermark are gone. The edge must not read
        // the empty cache as "nothing is revoked".
        redis.flush_all();
        assert_eq!(introspect(edge, &revoked), inactive);
        assert_eq!(introspect(edge, &live)["active"], true);
        // The leader copies every denial back before vouching for the cache again.
        cluster.wait_for_cache(EDGE);
        assert!(denials_in_redis(&redis, "edge-redis", "tok") >= 1);
        assert_eq!(introspect(edge, &revoked), inactive);

        // Redis stopped: slower, still correct, revocations still work.
        redis.stop();
        assert_eq!(introspect(edge, &revoked), inactive);
        assert_eq!(introspect(edge, &live)["active"], true);
        let started = Instant::now();
        assert_eq!(edge.revoke((MACHINE_ID, MACHINE_SECRET), &live), 200);
        eprintln!(
            "revocation with Redis down answered in {:?}",
            started.elapsed()
        );
        for node in &cluster.nodes {
            assert_eq!(introspect(node, &live), inactive, "node {}", node.id);
        }

        // Redis back, empty: refilled, and the edge reads through it again.
        redis.restart();
        cluster.wait_for_cache(EDGE);
        assert!(denials_in_redis(&redis, "edge-redis", "tok") >= 2);
        assert_eq!(introspect(edge, &live), inactive);
        assert_eq!(introspect(edge, &revoked), inactive);

        drop(stopping);
        for handle in load {
            let rotations = handle.join().expect("no acknowledged rotation was lost");
            assert!(rotations > 0, "the chain made no progress");
        }
    });
}

#[test]
fn an_operator_revokes_every_token_of_a_client_or_a_user_at_every_node_and_the_edge() {
    let redis = Redis::start();
    let cluster = cluster_with_edge("edge-revoke-all", &redis);
    let config = cluster.nodes[0].config_path();
    let revoke = |whom: &[&str]| {
        let mut args = vec!["tokens", "revoke"];
        args.extend_from_slice(whom);
        args.extend_from_slice(&["--config", config.to_str().unwrap()]);
        let (ok, out, err) = ostium_e2e::run_cli(&args, None);
        assert!(ok, "ostium {args:?}: {err}");
        out
    };
    let offline = edge(&cluster).login_tokens(OFFLINE_ID);
    let reuse = cluster.nodes[1].login_tokens(REUSE_ID);
    // The three cores and the edge.
    let nodes = || cluster.nodes.iter();
    assert_eq!(nodes().count(), 4);
    let refreshes = |client: &str, login: &serde_json::Value| {
        let token = login["refresh_token"].as_str().unwrap();
        nodes()
            .map(|node| node.refresh(client, token).0)
            .collect::<Vec<_>>()
    };
    let active = |login: &serde_json::Value| {
        let token = login["access_token"].as_str().unwrap();
        nodes()
            .map(|node| introspect(node, token)["active"] == true)
            .collect::<Vec<_>>()
    };

    // Every token of one client: refused and inactive everywhere, at once.
    let out = revoke(&["--client", OFFLINE_ID]);
    assert!(out.contains("revoked 1 refresh token families"), "{out}");
    assert_eq!(refreshes(OFFLINE_ID, &offline), [400; 4]);
    assert_eq!(active(&offline), [false; 4]);
    // Another client's grant of the same user is untouched (a re-usable token).
    assert_eq!(refreshes(REUSE_ID, &reuse), [200; 4]);
    assert_eq!(active(&reuse), [true; 4]);

    // Every token of the user.
    let out = revoke(&["--subject", SUBJECT]);
    assert!(out.contains("of user"), "{out}");
    assert_eq!(refreshes(REUSE_ID, &reuse), [400; 4]);
    assert_eq!(active(&reuse), [false; 4]);
}
