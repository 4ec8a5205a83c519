//! Three core nodes as separate processes (docs/architecture.md §4): they form a
//! cluster from their configuration, forward writes to the leader, redeem a refresh
//! token at most once across nodes, make a revocation visible on every node before
//! answering, keep everything through a full restart and a leader killed with `kill
//! -9`, and refuse a node with the wrong cluster secret.

use std::collections::HashSet;
use std::time::Duration;

use ostium_e2e::cluster::{Cluster, assert_redeemed_once};
use ostium_e2e::fixture::*;
use ostium_e2e::{run_cli, wait_until};
use serde_json::{Value, json};

#[test]
fn nodes_form_a_cluster_and_report_it() {
    let cluster = Cluster::start("formation", 3);
    let leader = cluster.wait_for_leader();
    let status = cluster.nodes[1].cluster_status().unwrap();
    assert_eq!(status["leader"], leader);
    assert_eq!(status["voters"], json!([1, 2, 3]));
    assert_eq!(status["writable"], true);
    assert!(status["term"].as_u64().unwrap() >= 1);
    for id in ["1", "2", "3"] {
        let node = &status["nodes"][id];
        assert_eq!(node["reachable"], true, "{status}");
        assert_eq!(node["leader"], leader, "{status}");
        assert!(node["applied_index"].as_u64().is_some(), "{status}");
    }
    let role = |id: u64| status["nodes"][id.to_string()]["role"].clone();
    assert_eq!(role(leader), "leader");
    assert_eq!(role(leader % 3 + 1), "follower");
}

#[test]
fn a_refresh_token_is_redeemed_once_across_nodes() {
    let cluster = Cluster::start("redeem-once", 3);
    // Issued through one node, redeemed through another (forwarded to the leader).
    let token = cluster.nodes[0].login(OFFLINE_ID);
    let (status, body) = cluster.nodes[2].refresh(OFFLINE_ID, &token);
    assert_eq!(status, 200, "{body}");

    // The same token sent to every node at once, without a grace period: one wins.
    let token = cluster.nodes[1].login(STRICT_ID);
    assert_redeemed_once(
        cluster.nodes.iter().chain(cluster.nodes.iter()),
        STRICT_ID,
        &token,
    );

    // With a grace period, concurrent redemptions all get the same successor.
    let token = cluster.nodes[2].login(OFFLINE_ID);
    let successors: HashSet<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cluster
            .nodes
            .iter()
            .map(|node| s.spawn(|| node.refresh(OFFLINE_ID, &token)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|(status, _)| *status == 200)
            .map(|(_, body)| body["refresh_token"].as_str().unwrap().to_owned())
            .collect()
    });
    assert_eq!(successors.len(), 1, "{successors:?}");
}

#[test]
fn a_revocation_holds_on_every_node_once_answered() {
    let cluster = Cluster::start("revoke-everywhere", 3);
    let access = cluster.nodes[0]
        .post(
            "/connect/token",
            (MACHINE_ID, MACHINE_SECRET),
            &[("grant_type", "client_credentials")],
        )
        .json::<Value>()
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh_token = cluster.nodes[0].login(OFFLINE_ID);
    for node in &cluster.nodes {
        let (status, body) = node.introspect((AUDIENCE, RESOURCE_SECRET), &access);
        assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
    }

    let revoked = cluster.nodes[1].post(
        "/connect/revocation",
        (MACHINE_ID, MACHINE_SECRET),
        &[("token", &access)],
    );
    assert_eq!(revoked.status().as_u16(), 200);
    let revoked = cluster.nodes[2].post(
        "/connect/revocation",
        (OFFLINE_ID, OFFLINE_SECRET),
        &[("token", &refresh_token)],
    );
    assert_eq!(revoked.status().as_u16(), 200);
    // At once, at every node: no waiting, no retry.
    for node in &cluster.nodes {
        assert_eq!(
            node.introspect((AUDIENCE, RESOURCE_SECRET), &access),
            (200, json!({ "active": false })),
            "node {}",
            node.id
        );
        assert_eq!(
            node.refresh(OFFLINE_ID, &refresh_token).0,
            400,
            "node {}",
            node.id
        );
    }
}

#[test]
fn a_full_restart_keeps_tokens_and_revocations() {
    let mut cluster = Cluster::start("full-restart", 3);
    let kept = cluster.nodes[0].login(OFFLINE_ID);
    let revoked = cluster.nodes[0].login(OFFLINE_ID);
    let answer = cluster.nodes[0].post(
        "/connect/revocation",
        (OFFLINE_ID, OFFLINE_SECRET),
        &[("token", &revoked)],
    );
    assert_eq!(answer.status().as_u16(), 200);
    for node in &mut cluster.nodes {
        node.node.kill();
    }
    for node in &mut cluster.nodes {
        node.node.relaunch();
    }
    for node in &mut cluster.nodes {
        node.node.wait_ready();
    }
    cluster.wait_for_leader();
    let (status, body) = cluster.nodes[1].refresh(OFFLINE_ID, &kept);
    assert_eq!(status, 200, "{body}");
    assert_eq!(cluster.nodes[2].refresh(OFFLINE_ID, &revoked).0, 400);
}

#[test]
fn killing_the_leader_loses_no_acknowledged_rotation() {
    let mut cluster = Cluster::start("kill-leader", 3);
    let leader = cluster.wait_for_leader();
    let follower = cluster.nodes.iter().find(|n| n.id != leader).unwrap().id;
    // A chain of rotations through a follower, with the leader killed part-way.
    let mut token = cluster.node(follower).unwrap().login(OFFLINE_ID);
    let mut acknowledged = Vec::new();
    for round in 0..6 {
        if round == 3 {
            cluster.node_mut(leader).node.kill();
        }
        let node = cluster.node(follower).unwrap();
        let (status, body) = node.refresh(OFFLINE_ID, &token);
        if status == 200 {
            acknowledged.push(token.clone());
            token = body["refresh_token"].as_str().unwrap().to_owned();
        } else {
            // Only "try again" while a new leader is elected; never a lost or doubled token.
            assert_eq!(body["error"], "temporarily_unavailable", "{body}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    assert!(
        acknowledged.len() >= 4,
        "rotations went on after the leader died: {acknowledged:?}"
    );
    // Every spent token stays spent (reuse is detected after the grace period)...
    std::thread::sleep(Duration::from_millis(2500));
    let survivor = cluster.node(follower).unwrap();
    assert_eq!(survivor.refresh(OFFLINE_ID, &acknowledged[0]).0, 400);
    // ...and that reuse revoked the family, the current token with it.
    assert_eq!(survivor.refresh(OFFLINE_ID, &token).0, 400);
}

#[test]
fn a_node_with_the_wrong_secret_is_refused() {
    let mut cluster = Cluster::launch_with_secrets("wrong-secret", 3, |id| {
        if id == 3 {
            "not-the-cluster-secret-at-all".into()
        } else {
            "cluster-secret-0123456789abcdef".into()
        }
    });
    for id in [1, 2] {
        cluster.node_mut(id).node.wait_ready();
    }
    let leader = cluster.wait_for_leader_among(&[1, 2]);
    assert_ne!(leader, 3, "the outsider cannot lead");
    // Writes succeed through the two that agree.
    let token = cluster.node(1).unwrap().login(OFFLINE_ID);
    assert_eq!(cluster.node(2).unwrap().refresh(OFFLINE_ID, &token).0, 200);
    // The outsider never joins: it does not serve, and the refusals are logged.
    let outsider = cluster.node(3).unwrap();
    assert!(outsider.leader().is_none(), "the outsider is not serving");
    // The leader's next heartbeat to the outsider is the first refused request, and
    // the write above may have been answered before it was sent.
    let logs = || -> String { cluster.nodes.iter().map(|n| n.node.log_text()).collect() };
    wait_until("the refusal is logged", Duration::from_secs(10), || {
        logs().contains("refused a Raft request: wrong or missing cluster authentication")
    });
    let logs = logs();
    for secret in [
        "cluster-secret-0123456789abcdef",
        "not-the-cluster-secret-at-all",
    ] {
        assert!(!logs.contains(secret), "a secret reached a log");
    }
}

#[test]
fn nodes_join_and_leave_through_the_cluster_commands() {
    let mut cluster = Cluster::start("membership", 3);
    let config = cluster.nodes[0].config_path();
    let config = config.to_str().unwrap().to_owned();
    let cli = |args: &[&str]| {
        let mut all = vec!["cluster"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", &config]);
        let (ok, out, err) = run_cli(&all, None);
        assert!(ok, "ostium {all:?}: {err}");
        out
    };
    let token = cluster.nodes[0].login(OFFLINE_ID);

    let newcomer = cluster.launch_newcomer(4);
    let addr = format!("127.0.0.1:{}", newcomer.raft_port);
    cli(&["add-learner", "--id", "4", "--addr", &addr]);
    cli(&["promote", "--id", "4"]);
    let newcomer = cluster.node_mut(4);
    newcomer.node.wait_ready();
    let status: Value = serde_json::from_str(&cli(&["status"])).unwrap();
    assert_eq!(status["voters"], json!([1, 2, 3, 4]));
    // Node 4 is not in node 1's file, but it is a member: it is asked too.
    assert_eq!(status["nodes"]["4"]["reachable"], true, "{status}");

    // The newcomer holds what was written before it joined, and serves writes.
    let (status, body) = cluster.node(4).unwrap().refresh(OFFLINE_ID, &token);
    assert_eq!(status, 200, "{body}");

    // Node 3 leaves; the rest carry on.
    cli(&["remove", "--id", "3"]);
    let status: Value = serde_json::from_str(&cli(&["status"])).unwrap();
    assert_eq!(status["voters"], json!([1, 2, 4]));
    cluster.node_mut(3).node.kill();
    cluster.wait_for_leader();
    let next = body["refresh_token"].as_str().unwrap();
    assert_eq!(cluster.node(2).unwrap().refresh(OFFLINE_ID, next).0, 200);
}
