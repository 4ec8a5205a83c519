//! Signing-key rotation and withdrawal across three cores and an edge sharing a real
//! Redis (docs/architecture.md, signing keys; docs/operations.md, rotating and
//! withdrawing keys), driven with `ostium keys`: a rotated key's tokens verify
//! until it retires, then fail at every node; a withdrawn key's tokens fail at once
//! at every node and the edge, even those a node remembered as verified. The
//! lifecycle is configured in seconds so that the test runs in seconds.
//!
//! "At once" is checked against a deadline well under the nodes' fallback re-read
//! (30 s): an edge that only re-read the keys periodically would fail it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostium_e2e::cluster::{Cluster, ClusterNode};
use ostium_e2e::fixture::*;
use ostium_e2e::redis::Redis;
use ostium_e2e::{run_cli, wait_until};
use serde_json::Value;

const EDGE: u64 = 10;
/// How long a change may take to reach every node when it is pushed.
const AT_ONCE: Duration = Duration::from_secs(3);
const PUBLISH_AHEAD: u64 = 4;
const RETIRE_AFTER: u64 = 10;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// `ostium keys ARGS --config FILE`: its standard output, or a panic with its errors.
fn keys_cli(node: &ClusterNode, args: &[&str]) -> String {
    let config = node.config_path();
    let config = config.to_str().expect("a UTF-8 path");
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", config]);
    let (ok, out, err) = run_cli(&all, None);
    assert!(ok, "ostium {all:?} failed: {err}");
    out
}

/// What `ostium keys list` says of each key: kid to its row.
fn key_list(node: &ClusterNode) -> Vec<Value> {
    serde_json::from_str(&keys_cli(node, &["list"])).expect("a JSON key list")
}

fn state_of(list: &[Value], kid: &str) -> String {
    list.iter()
        .find(|k| k["kid"] == kid)
        .and_then(|k| k["state"].as_str())
        .unwrap_or_else(|| panic!("{kid} is not listed: {list:?}"))
        .to_owned()
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("a JWS");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url"))
        .expect("a JSON header");
    header["kid"].as_str().expect("a kid").to_owned()
}

fn jwks_kids(node: &ClusterNode) -> Vec<String> {
    let jwks: Value = reqwest::blocking::get(format!("{}/.well-known/jwks", node.issuer))
        .and_then(|r| r.json())
        .expect("the JWKS");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("a kid").to_owned())
        .collect()
}

fn active_at(node: &ClusterNode, token: &str) -> bool {
    let (status, body) = node.introspect((AUDIENCE, RESOURCE_SECRET), token);
    assert_eq!(status, 200, "introspection at node {}: {body}", node.id);
    body["active"] == true
}

#[test]
fn a_rotated_key_verifies_until_it_retires_and_a_withdrawn_one_fails_at_once_everywhere() {
    let redis = Redis::start();
    let signing = format!(
        "algorithm = \"ES256\"\nrotation_interval = 100000\npublish_ahead = {PUBLISH_AHEAD}\nretire_after = {RETIRE_AFTER}"
    );
    let mut cluster = Cluster::start_with_signing("keys", 3, Some(&redis.url()), &[], &signing);
    cluster.start_edge(EDGE);
    cluster.wait_for_cache(EDGE);
    let nodes = || cluster.nodes.iter();
    let first = cluster.node(1).expect("node 1");

    let list = key_list(first);
    assert_eq!(list.len(), 1, "one key at start: {list:?}");
    let old = list[0]["kid"].as_str().expect("a kid").to_owned();
    assert_eq!(state_of(&list, &old), "signing");
    let by_old = first.machine_token();
    assert_eq!(kid_of(&by_old), old);
    for node in nodes() {
        assert!(active_at(node, &by_old), "node {}", node.id);
    }

    // Rotated: the next key is published at once everywhere, and signs later.
    let out = keys_cli(first, &["rotate"]);
    let new = out
        .split_whitespace()
        .nth(2)
        .expect("added key KID: …")
        .trim_end_matches(':')
        .to_owned();
    assert_ne!(new, old);
    wait_until("every node publishes the next key", AT_ONCE, || {
        nodes().all(|node| jwks_kids(node).contains(&new))
    });
    let list = key_list(first);
    assert_eq!(state_of(&list, &new), "next", "{list:?}");
    assert_eq!(state_of(&list, &old), "signing", "{list:?}");
    assert_eq!(kid_of(&cluster.node(EDGE).unwrap().machine_token()), old);

    // Once it signs, the old key only verifies, at every node.
    wait_until(
        "every node signs with the new key",
        Duration::from_secs(PUBLISH_AHEAD + 5),
        || nodes().all(|node| kid_of(&node.machine_token()) == new),
    );
    let by_new = cluster.node(EDGE).unwrap().machine_token();
    let list = key_list(first);
    assert_eq!(state_of(&list, &old), "retiring", "{list:?}");
    assert_eq!(state_of(&list, &new), "signing", "{list:?}");
    let retire_at = list.iter().find(|k| k["kid"] == old).unwrap()["retire_at"]
        .as_u64()
        .expect("a retirement time");
    assert!(
        now() < retire_at,
        "the test was too slow to see the key retiring"
    );
    for node in nodes() {
        assert!(jwks_kids(node).contains(&old), "node {}", node.id);
        assert!(active_at(node, &by_old), "node {}", node.id);
        assert!(active_at(node, &by_new), "node {}", node.id);
    }

    // Retired: gone from the JWKS, and its token fails everywhere (every node
    // remembered it as verified).
    wait_until(
        "every node retires the old key",
        Duration::from_secs(RETIRE_AFTER + 5),
        || nodes().all(|node| !jwks_kids(node).contains(&old)),
    );
    for node in nodes() {
        assert!(!active_at(node, &by_old), "node {}", node.id);
        assert!(active_at(node, &by_new), "node {}", node.id);
    }
    assert_eq!(state_of(&key_list(first), &old), "retired");

    // Withdrawn while signing: its tokens fail at once at every node and the edge,
    // and a new key signs.
    let out = keys_cli(cluster.node(2).unwrap(), &["withdraw", &new]);
    assert!(out.contains(&new), "{out}");
    wait_until(
        "the withdrawn key's token fails at every node",
        AT_ONCE,
        || nodes().all(|node| !active_at(node, &by_new)),
    );
    let list = key_list(first);
    assert_eq!(state_of(&list, &new), "withdrawn", "{list:?}");
    let signing: Vec<&Value> = list.iter().filter(|k| k["state"] == "signing").collect();
    assert_eq!(signing.len(), 1, "{list:?}");
    let replacement = signing[0]["kid"].as_str().unwrap().to_owned();
    for node in nodes() {
        assert!(!jwks_kids(node).contains(&new), "node {}", node.id);
        let token = node.machine_token();
        assert_eq!(kid_of(&token), replacement, "node {}", node.id);
        assert!(active_at(node, &token), "node {}", node.id);
    }

    // An unknown key is refused.
    let config = first.config_path();
    let (ok, _, err) = run_cli(
        &[
            "keys",
            "withdraw",
            "no-such-kid",
            "--config",
            config.to_str().unwrap(),
        ],
        None,
    );
    assert!(!ok && err.contains("no-such-kid"), "{err}");
}

#[test]
fn the_cluster_adds_the_next_key_by_itself_when_rotation_is_due() {
    let signing =
        "algorithm = \"ES256\"\nrotation_interval = 6\npublish_ahead = 3\nretire_after = 30";
    let cluster = Cluster::start_with_signing("keys-scheduled", 3, None, &[], signing);
    let first = cluster.node(1).expect("node 1");
    let old = key_list(first)[0]["kid"].as_str().unwrap().to_owned();
    // Due 3 s after the first key started signing; one key is added, not one per core.
    wait_until("the next key is added", Duration::from_secs(15), || {
        key_list(first).len() >= 2
    });
    let list = key_list(first);
    let next: Vec<&Value> = list.iter().filter(|k| k["kid"] != old).collect();
    assert_eq!(next.len(), 1, "one next key: {list:?}");
    let next = next[0]["kid"].as_str().unwrap().to_owned();
    wait_until("the next key signs", Duration::from_secs(10), || {
        kid_of(&first.machine_token()) == next
    });
    assert_eq!(state_of(&key_list(first), &old), "retiring");
}

#[test]
fn keys_rotate_now_on_a_node_without_cluster() {
    let node = SingleNode::start("keys-single");
    let config = node.dir.path().join("ostium.toml");
    let config = config.to_str().expect("a UTF-8 path");
    let cli = |args: &[&str]| {
        let mut all = vec!["keys"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", config]);
        let (ok, out, err) = run_cli(&all, None);
        assert!(ok, "ostium {all:?} failed: {err}");
        out
    };
    let list: Vec<Value> = serde_json::from_str(&cli(&["list"])).expect("a JSON key list");
    let old = list[0]["kid"].as_str().expect("a kid").to_owned();
    let out = cli(&["rotate", "--now"]);
    assert!(out.contains("signing now"), "{out}");
    let list: Vec<Value> = serde_json::from_str(&cli(&["list"])).expect("a JSON key list");
    assert_eq!(state_of(&list, &old), "retiring", "{list:?}");
    let new = list
        .iter()
        .find(|k| k["kid"] != old.as_str())
        .expect("the new key")["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_until("the node signs with the new key", AT_ONCE, || {
        let response = ostium_e2e::post_form(
            &node.token_endpoint(),
            Some((MACHINE_ID, MACHINE_SECRET)),
            &[("grant_type", "client_credentials")],
        );
        let body: Value = response.json().expect("a token response");
        body["access_token"].as_str().map(kid_of) == Some(new.clone())
    });
}
