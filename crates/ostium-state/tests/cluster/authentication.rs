//! Raft traffic without the cluster secret is refused (docs/architecture.md §4
//! "Network").

use std::time::Duration;

use openraft::raft::{VoteRequest, VoteResponse};
use ostium_state::network::{CLUSTER_AUTH_HEADER, ClusterSecret};
use ostium_state::node::MembershipError;
use ostium_state::typ::{RaftError, TypeConfig};

use crate::support::{TestCluster, TestNode};
use crate::{T0, revoke};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_with_the_wrong_secret_is_refused() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    cluster.propose(leader, revoke("jti-1")).await;

    // Node 4 knows the wrong secret: the leader's appends to it are refused, and so
    // are its own requests to the cluster, so it never receives the log.
    let wrong = ClusterSecret::new(b"not the secret of this cluster!!").unwrap();
    let intruder = TestNode::start(4, cluster.dir("node-4"), wrong).await;
    let added = cluster
        .node(leader)
        .node()
        .add_learner(4, intruder.addr.to_string(), Duration::from_secs(2))
        .await;
    assert!(
        matches!(added, Err(MembershipError::LearnerBehind { id: 4, .. })),
        "{added:?}"
    );
    let status = intruder.node().metrics();
    assert_eq!(
        status.last_log_index, None,
        "the intruder received log entries"
    );
    assert!(
        !intruder
            .node()
            .read(|s| Ok(s.deny_list().is_revoked("jti-1", T0).unwrap()))
            .unwrap()
    );

    // The cluster keeps working.
    cluster.propose(leader, revoke("jti-2")).await;
    cluster.converge().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unauthenticated_and_forged_requests_get_401() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let before = cluster.node(leader).node().metrics();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{}/raft/vote", cluster.node(leader).addr);
    // A vote request for a much higher term: were it accepted, the leader would step down.
    let request = VoteRequest::<TypeConfig>::new(openraft::Vote::new(before.term + 1000, 9), None);
    let body = &serde_json::to_vec(&request).unwrap()[..];
    let forged = ClusterSecret::new(b"guessed secret, guessed secret!!")
        .unwrap()
        .sign("vote", body);
    let genuine_for_another_rpc = crate::support::secret().sign("append", body);

    for tag in [
        None,
        Some(forged),
        Some(genuine_for_another_rpc),
        Some("00".repeat(32)),
    ] {
        let mut request = http.post(&url).body(body.to_vec());
        if let Some(tag) = tag {
            request = request.header(CLUSTER_AUTH_HEADER, tag);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    let after = cluster.node(leader).node().metrics();
    assert_eq!((after.term, after.leader), (before.term, before.leader));

    // The same body with the right tag is served, so the refusals above were the
    // authentication check, not a malformed body.
    let tag = crate::support::secret().sign("vote", body);
    let response = http
        .post(&url)
        .header(CLUSTER_AUTH_HEADER, tag)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply: Result<VoteResponse<TypeConfig>, RaftError> =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert!(reply.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_rpcs_and_malformed_bodies_are_refused() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let addr = cluster.node(leader).addr;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let secret = crate::support::secret();
    let cases = [
        ("install", &b"{}"[..], 404),
        ("append", &b"not json"[..], 400),
        ("snapshot", &b"\0\0"[..], 400),
    ];
    for (rpc, body, expected) in cases {
        let response = http
            .post(format!("http://{addr}/raft/{rpc}"))
            .header(CLUSTER_AUTH_HEADER, secret.sign(rpc, body))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{rpc}");
    }
}
