//! Catch-up reads (docs/architecture.md §4 invariant 2): once a write is acknowledged,
//! a catch-up read at any node sees it, whether the leader serves it from its lease or
//! a follower asks the leader for a read index; and a leader that no quorum
//! acknowledges any more stops serving reads from its lease.

use std::time::{Duration, Instant};

use ostium_state::network::ClusterClient;
use ostium_state::{ReplicatedState, StateResponse};

use crate::support::{TestCluster, secret};
use crate::{T0, revoke};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_acknowledged_anywhere_is_seen_by_the_next_catch_up_at_every_node() {
    let cluster = TestCluster::start(3).await;
    cluster.leader().await;
    let states: Vec<ReplicatedState> = cluster
        .nodes
        .iter()
        .map(|n| {
            ReplicatedState::new(
                n.node(),
                ClusterClient::new(secret(), Duration::from_secs(5)).unwrap(),
            )
        })
        .collect();
    // Each node in turn takes the write (followers forward it to the leader); every
    // node then reads at once, the leader from its lease, followers by read index.
    for i in 0..30 {
        let token = format!("revoked-{i}");
        let response = states[i % states.len()].propose(revoke(&token)).await;
        assert_eq!(response.unwrap(), StateResponse::Revoked);
        for (state, node) in states.iter().zip(&cluster.nodes) {
            state.catch_up().await.unwrap();
            assert!(
                state
                    .read(|s| Ok(s.deny_list().is_revoked(&token, T0).unwrap()))
                    .unwrap(),
                "node {} answered without write {i}, acknowledged before its catch-up",
                node.id
            );
            let direct = node
                .node()
                .linearizable_read(|s| Ok(s.deny_list().is_revoked(&token, T0).unwrap()))
                .await
                .unwrap();
            assert!(
                direct,
                "node {}: linearizable read missed write {i}",
                node.id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_from_its_quorum_stops_reading_from_its_lease() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    cluster.propose(leader, revoke("before")).await;
    let node = cluster.node(leader).node();
    assert!(
        node.linearizable_read(|s| Ok(s.deny_list().is_revoked("before", T0).unwrap()))
            .await
            .unwrap()
    );

    for follower in cluster.nodes.iter().filter(|n| n.id != leader) {
        follower.stop().await;
    }
    // The test nodes' longest election timeout is 1,200 ms: openraft's own lease, of
    // which reads take at most half. Past it, nothing may be answered from the lease.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let started = Instant::now();
    let read = node.linearizable_read(|_| Ok(())).await;
    assert!(
        read.is_err(),
        "a leader without a quorum for {:?} still served a read",
        Duration::from_millis(1_300)
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the refused read took {:?}",
        started.elapsed()
    );
}
