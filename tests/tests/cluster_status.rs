//! What an operator sees of a cluster in trouble (docs/operations.md): `ostium
//! cluster status` when the node its file describes is down, a survivor's `/readyz`
//! and status once a majority is gone (no dead leader named, not writable, yet still
//! issuing stateless tokens) and again once the majority is back, and status on a
//! node that is a cluster of one.

use std::time::Duration;

use ostium_e2e::cluster::Cluster;
use ostium_e2e::fixture::*;
use ostium_e2e::wait_until;
use serde_json::json;

/// Longer than any election or a leader's silence takes to notice; the tests wait
/// for states, this only bounds how long a broken node can keep them waiting.
const SETTLE: Duration = Duration::from_secs(30);

#[test]
fn status_asks_the_other_peers_when_the_node_of_the_file_is_down() {
    let mut cluster = Cluster::start("status-first-down", 3);
    cluster.node_mut(1).node.kill();
    let leader = cluster.wait_for_leader_among(&[2, 3]);

    let status = cluster.node(1).unwrap().cluster_status().unwrap();
    assert_eq!(status["leader"], leader, "{status:#}");
    assert_eq!(status["writable"], true, "{status:#}");
    assert_eq!(status["voters"], json!([1, 2, 3]));
    let down = &status["nodes"]["1"];
    assert_eq!(down["reachable"], false, "{status:#}");
    assert!(down["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(down["role"], json!(null));
    for id in ["2", "3"] {
        let node = &status["nodes"][id];
        assert_eq!(node["reachable"], true, "{status:#}");
        assert_eq!(node["leader"], leader, "{status:#}");
        assert!(node["term"].as_u64().is_some(), "{status:#}");
        assert!(node["applied_index"].as_u64().is_some(), "{status:#}");
        assert!(node["lag"].as_u64().is_some(), "{status:#}");
    }
}

#[test]
fn a_survivor_names_no_dead_leader_and_is_writable_again_once_the_others_return() {
    let mut cluster = Cluster::start("survivor", 3);
    let leader = cluster.wait_for_leader();
    // The survivor is a follower, so that the leader is among the dead.
    let survivor = cluster.nodes.iter().find(|n| n.id != leader).unwrap().id;
    let others: Vec<u64> = [1, 2, 3].into_iter().filter(|id| *id != survivor).collect();
    for id in &others {
        cluster.node_mut(*id).node.kill();
    }

    let node = cluster.node(survivor).unwrap();
    wait_until("the survivor stops naming a leader", SETTLE, || {
        let ready = node.readiness();
        ready["raft_leader"].is_null() && ready["writable"] == false
    });
    let ready = node.readiness();
    assert_eq!(ready["status"], "ready", "it stays ready: {ready}");
    let status = node.cluster_status().unwrap();
    assert_eq!(status["leader"], json!(null), "{status:#}");
    assert_eq!(status["writable"], false, "{status:#}");
    assert_eq!(
        status["nodes"][survivor.to_string()]["leader"],
        json!(null),
        "{status:#}"
    );
    for id in &others {
        assert_eq!(status["nodes"][id.to_string()]["reachable"], false);
    }
    // Stateless grants keep working; a write waits for a quorum, then says so.
    assert!(!node.machine_token().is_empty());
    let login = node.try_post(
        "/connect/token",
        (OFFLINE_ID, OFFLINE_SECRET),
        &[
            ("grant_type", "password"),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("scope", "openid offline_access"),
        ],
        Some(Duration::from_secs(20)),
    );
    assert!(
        matches!(&login, Ok((503, body)) if body["error"] == "temporarily_unavailable"),
        "{login:?}"
    );

    for id in &others {
        cluster.node_mut(*id).node.relaunch();
    }
    wait_until("the survivor can write again", SETTLE, || {
        cluster.node(survivor).unwrap().readiness()["writable"] == true
    });
    let elected = cluster.wait_for_leader();
    let node = cluster.node(survivor).unwrap();
    assert_eq!(node.leader(), Some(elected));
    assert!(!node.login(OFFLINE_ID).is_empty());
}

#[test]
fn status_on_a_single_node_shows_a_cluster_of_one() {
    let single = SingleNode::start("status-single");
    let ready = reqwest::blocking::get(format!("{}/readyz", single.issuer))
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    assert_eq!(ready["writable"], true, "{ready}");
    assert_eq!(ready["raft_leader"], 1, "{ready}");

    let status = ostium_e2e::cluster::cluster_status(&single.dir.path().join("ostium.toml"))
        .expect("status of a single node");
    assert_eq!(status["leader"], 1, "{status:#}");
    assert_eq!(status["writable"], true, "{status:#}");
    assert_eq!(status["voters"], json!([1]));
    let node = &status["nodes"]["1"];
    assert_eq!(node["reachable"], true, "{status:#}");
    assert_eq!(node["role"], "leader", "{status:#}");
    assert_eq!(node["lag"], 0, "{status:#}");
}
