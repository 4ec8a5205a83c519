//! When the leader stops, the others elect a new one and writes go on; nothing that
//! was acknowledged is lost (docs/architecture.md §4 invariant 4).

use ostium_state::StateResponse;

use crate::support::TestCluster;
use crate::{T0, revoke};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_leader_is_elected_and_writes_continue() {
    let cluster = TestCluster::start(3).await;
    let first_leader = cluster.leader().await;
    for i in 0..5 {
        cluster
            .propose(first_leader, revoke(&format!("before-{i}")))
            .await;
    }

    cluster.node(first_leader).stop().await;
    let second_leader = cluster.leader().await;
    assert_ne!(second_leader, first_leader);

    for i in 0..5 {
        let response = cluster
            .propose(second_leader, revoke(&format!("after-{i}")))
            .await;
        assert_eq!(response, StateResponse::Revoked);
    }
    cluster.converge().await;
    for node in cluster.nodes.iter().filter(|n| n.is_running()) {
        let all = node
            .node()
            .read(|state| {
                Ok({
                    (0..5).all(|i| {
                        state
                            .deny_list()
                            .is_revoked(&format!("before-{i}"), T0)
                            .unwrap()
                            && state
                                .deny_list()
                                .is_revoked(&format!("after-{i}"), T0)
                                .unwrap()
                    })
                })
            })
            .unwrap();
        assert!(all, "node {} lost an acknowledged write", node.id);
    }
}
