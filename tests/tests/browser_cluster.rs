//! The browser flows across a cluster: a session made at one node is honoured at
//! another core and at an edge, and a code issued at one node is exchanged at
//! another, once, even when two exchanges race at two nodes.

use std::thread;

use ostium_e2e::browser::{Browser, parameter};
use ostium_e2e::cluster::{Cluster, ClusterNode};
use ostium_e2e::fixture::*;
use ostium_e2e::redis::Redis;
use serde_json::Value;

/// An authorization request of the hybrid client at `node`: a code and an ID token
/// in the fragment, no consent page.
fn authorize(node: &ClusterNode) -> String {
    format!(
        "{}/connect/authorize?client_id={HYBRID_ID}&response_type=code%20id_token&\
         scope=openid%20orders.read&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&\
         state=s&nonce=n",
        node.issuer
    )
}

fn exchange(node: &ClusterNode, code: &str) -> (u16, Value) {
    let response = node.post(
        "/connect/token",
        (HYBRID_ID, HYBRID_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:8765/callback"),
        ],
    );
    let status = response.status().as_u16();
    (status, response.json().expect("a JSON answer"))
}

#[test]
fn a_session_and_a_code_made_at_one_node_are_used_at_another_and_at_the_edge() {
    let redis = Redis::start();
    let mut cluster = Cluster::start_with_cache("browser-cluster", 3, Some(&redis.url()));
    cluster.start_edge(4);
    let mut browser = Browser::new();
    let first = cluster.node(1).unwrap();
    let back = browser.sign_in(&first.issuer, &authorize(first), USERNAME, PASSWORD, true);
    let code = parameter(&back, "code").expect("a code from node 1");
    // Redeemed at another node.
    let (status, tokens) = exchange(cluster.node(2).unwrap(), &code);
    assert_eq!(status, 200, "{tokens}");
    let claims = ostium_e2e::verify_id_token(
        tokens["id_token"].as_str().unwrap(),
        &cluster.issuer,
        HYBRID_ID,
    );
    assert_eq!(claims["sub"], SUBJECT);
    // The session is honoured without a new sign-in at another core and at the
    // edge, and their codes are redeemed elsewhere again.
    for (at, redeem_at) in [(3, 1), (4, 3)] {
        let node = cluster.node(at).unwrap();
        let answer = browser.get(&authorize(node));
        let location = answer
            .location
            .unwrap_or_else(|| panic!("node {at}: {}", answer.body));
        let code = parameter(&location, "code")
            .unwrap_or_else(|| panic!("node {at} asked for a sign-in again: {location}"));
        let (status, tokens) = exchange(cluster.node(redeem_at).unwrap(), &code);
        assert_eq!(
            status, 200,
            "code from node {at} at node {redeem_at}: {tokens}"
        );
    }
}

#[test]
fn two_exchanges_of_one_code_racing_at_two_nodes_win_once_and_revoke_the_winner() {
    let cluster = Cluster::start("browser-race", 3);
    let mut browser = Browser::new();
    let first = cluster.node(1).unwrap();
    let back = browser.sign_in(&first.issuer, &authorize(first), USERNAME, PASSWORD, true);
    let code = parameter(&back, "code").expect("a code");
    let answers: Vec<(u16, Value)> = thread::scope(|scope| {
        let racers: Vec<_> = [2, 3]
            .map(|id| {
                let node = cluster.node(id).unwrap();
                let code = code.clone();
                scope.spawn(move || exchange(node, &code))
            })
            .into_iter()
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(won.len(), 1, "exactly one exchange wins: {answers:?}");
    let lost = answers.iter().find(|(status, _)| *status != 200).unwrap();
    assert_eq!(
        (lost.0, lost.1["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The losing exchange was a replay: the winner's access token is revoked, as
    // every node sees it.
    let access_token = won[0]["access_token"].as_str().unwrap();
    for node in &cluster.nodes {
        let (status, introspection) = node.introspect((AUDIENCE, RESOURCE_SECRET), access_token);
        assert_eq!(status, 200);
        assert_eq!(introspection["active"], false, "node {}", node.id);
    }
}
