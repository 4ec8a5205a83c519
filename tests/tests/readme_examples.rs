//! The README's examples of what a node answers, checked against running nodes, so
//! that the README cannot drift from the binary. The examples are read from
//! README.md itself: each is the JSON block after a `<!-- readme-example: NAME -->`
//! line.
//!
//! - `discovery`: the members of `/.well-known/openid-configuration` (and RFC 8414's
//!   document, the same less `subject_types_supported`), and every value but
//!   `scopes_supported` (which depends on the configuration) with the README's
//!   issuer replaced by the node's.
//! - `readyz-core`, `readyz-edge`: the keys of `/readyz` and the JSON type of each.
//! - `cluster-status`: the keys of `ostium cluster status` and of each node's view,
//!   and the JSON type of each, on a three-node cluster asked through node 1's file
//!   while node 3 is down, as in the README.

use std::collections::BTreeSet;

use ostium_e2e::cluster::Cluster;
use ostium_e2e::fixture::SingleNode;
use ostium_e2e::redis::Redis;
use serde_json::Value;

/// The issuer the README's examples use (`serve --dev`).
const README_ISSUER: &str = "http://127.0.0.1:8080";

/// The JSON block after `<!-- readme-example: NAME -->` in README.md.
fn example(name: &str) -> Value {
    let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(readme).expect("README.md");
    let marker = format!("<!-- readme-example: {name} -->\n```json\n");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README.md has no `{name}` example"))
        + marker.len();
    let end = start + readme[start..].find("\n```").expect("the end of the block");
    serde_json::from_str(&readme[start..end])
        .unwrap_or_else(|e| panic!("README.md's `{name}` example is not JSON: {e}"))
}

fn get(url: &str) -> Value {
    reqwest::blocking::get(url)
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Fails unless `actual` has the README example's shape: the same keys at every
/// level, and the same JSON type for every value (arrays by their first element).
fn same_shape(name: &str, path: &str, example: &Value, actual: &Value) {
    assert_eq!(
        kind(example),
        kind(actual),
        "README's `{name}` example, {path}: {example} in the README, {actual} from the node"
    );
    match (example, actual) {
        (Value::Object(e), Value::Object(a)) => {
            assert_eq!(
                keys(example),
                keys(actual),
                "README's `{name}` example, keys of {path}"
            );
            for (key, value) in e {
                same_shape(name, &format!("{path}.{key}"), value, &a[key]);
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(e), Some(a)) = (e.first(), a.first()) {
                same_shape(name, &format!("{path}[0]"), e, a);
            }
        }
        _ => {}
    }
}

#[test]
fn the_readme_shows_discovery_and_readiness_as_a_node_answers_them() {
    let node = SingleNode::start("readme-single");
    let discovery = get(&format!("{}/.well-known/openid-configuration", node.issuer));
    let documented = example("discovery");
    assert_eq!(keys(&documented), keys(&discovery), "discovery members");
    for (member, value) in documented.as_object().unwrap() {
        if member == "scopes_supported" {
            same_shape("discovery", member, value, &discovery[member]);
            continue;
        }
        let expected = value.to_string().replace(README_ISSUER, &node.issuer);
        assert_eq!(
            expected,
            discovery[member].to_string(),
            "discovery {member}"
        );
    }
    let metadata = get(&format!(
        "{}/.well-known/oauth-authorization-server",
        node.issuer
    ));
    // The README names the OpenID Connect members RFC 8414's document leaves out.
    let mut oauth_only = keys(&documented);
    for openid_only in [
        "userinfo_endpoint",
        "end_session_endpoint",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "claims_supported",
        "claims_parameter_supported",
        "request_parameter_supported",
        "request_uri_parameter_supported",
    ] {
        assert!(oauth_only.remove(openid_only), "{openid_only}");
    }
    assert_eq!(oauth_only, keys(&metadata), "RFC 8414 members");

    let ready = get(&format!("{}/readyz", node.issuer));
    let documented = example("readyz-core");
    same_shape("readyz-core", "/readyz", &documented, &ready);
    for key in ["status", "role", "writable"] {
        assert_eq!(documented[key], ready[key], "/readyz {key}");
    }
}

#[test]
fn the_readme_shows_an_edges_readiness_and_cluster_status_as_the_binary_answers() {
    const EDGE: u64 = 10;
    let redis = Redis::start();
    let mut cluster = Cluster::start_with_cache("readme-cluster", 3, Some(&redis.url()));
    cluster.start_edge(EDGE);
    cluster.wait_for_cache(EDGE);
    let edge = cluster.node(EDGE).unwrap();
    let ready = get(&format!("{}/readyz", edge.issuer));
    same_shape("readyz-edge", "/readyz", &example("readyz-edge"), &ready);

    cluster.node_mut(3).node.kill();
    cluster.wait_for_leader_among(&[1, 2]);
    let status = cluster.node(1).unwrap().cluster_status().unwrap();
    same_shape(
        "cluster-status",
        "status",
        &example("cluster-status"),
        &status,
    );
}
