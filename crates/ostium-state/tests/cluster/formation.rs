//! A cluster forms, a write at any node is applied on all of them, and reads agree.

use std::collections::BTreeMap;

use ostium_state::node::{MembershipError, ProposeError};
use ostium_state::{StateResponse, TokenDigest};

use crate::support::TestCluster;
use crate::{T0, issue, revoke};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_form_a_cluster_and_apply_every_write() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let status = cluster.node(leader).node().metrics();
    assert_eq!(status.voters, [1, 2, 3].into());
    assert_eq!(status.nodes.len(), 3);

    // A follower refuses a proposal and names the leader and its Raft address; the
    // test cluster then forwards, as the server will.
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    match cluster
        .node(follower)
        .node()
        .propose(revoke("at-follower"))
        .await
    {
        Err(ProposeError::ForwardToLeader(to)) => {
            assert_eq!(to.id, Some(leader));
            assert_eq!(to.raft_addr, Some(cluster.node(leader).addr.to_string()));
        }
        other => panic!("a follower must not accept a proposal, got {other:?}"),
    }
    assert_eq!(
        cluster.propose(follower, issue("fam-1", "rt-1")).await,
        StateResponse::Issued
    );
    assert_eq!(
        cluster.propose(leader, revoke("jti-1")).await,
        StateResponse::Revoked
    );
    cluster.converge().await;

    for node in &cluster.nodes {
        let (has_token, revoked) = node
            .node()
            .read(|state| {
                Ok({
                    (
                        state
                            .refresh_tokens()
                            .get(&TokenDigest::of_handle("rt-1"))
                            .unwrap()
                            .is_some(),
                        state.deny_list().is_revoked("jti-1", T0 + 1).unwrap(),
                    )
                })
            })
            .unwrap();
        assert!(
            has_token && revoked,
            "node {} has not applied both writes",
            node.id
        );
    }

    // A write acknowledged at the leader is seen at once by a linearizable read at
    // every node, followers included (they ask the leader how far to apply first).
    for i in 0..10 {
        let token = format!("jti-at-once-{i}");
        cluster.propose(leader, revoke(&token)).await;
        for node in &cluster.nodes {
            let seen = node
                .node()
                .linearizable_read(|s| Ok(s.deny_list().is_revoked(&token, T0 + 1).unwrap()))
                .await
                .unwrap();
            assert!(seen, "node {} did not see {token} at once", node.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_formed_cluster_or_a_wrong_address_refuses_initialization() {
    let cluster = TestCluster::start(3).await;
    let members: BTreeMap<u64, String> = cluster
        .nodes
        .iter()
        .map(|n| (n.id, n.addr.to_string()))
        .collect();
    for node in &cluster.nodes {
        let again = node.node().initialize(members.clone()).await;
        assert!(
            matches!(again, Err(MembershipError::Initialize(_))),
            "node {}: {again:?}",
            node.id
        );
    }
    let mut wrong = members.clone();
    wrong.insert(2, "127.0.0.1:1".into());
    let refused = cluster.node(2).node().initialize(wrong).await;
    assert!(
        matches!(&refused, Err(MembershipError::NotListed { listed: Some(addr), .. }) if addr == "127.0.0.1:1"),
        "{refused:?}"
    );
}
