//! Refresh-token redemption across the cluster (docs/architecture.md §4 invariant 1):
//! the same token redeemed at two nodes at once rotates exactly once; a rotation
//! acknowledged by a leader that then stops is kept and a retry gets the same result; a
//! refresh storm across a leader stop leaves every chain intact.

use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::FutureExt;
use ostium_state::StateResponse;

use crate::support::TestCluster;
use crate::{T0, issue, redeem};

fn rotations(responses: &[StateResponse]) -> usize {
    responses
        .iter()
        .filter(|r| matches!(r, StateResponse::Rotated { .. }))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_at_two_nodes_rotate_once() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let others: Vec<u64> = [1, 2, 3].into_iter().filter(|id| *id != leader).collect();

    for round in 0..5 {
        let (family, handle) = (format!("fam-{round}"), format!("rt-{round}"));
        cluster.propose(leader, issue(&family, &handle)).await;

        // The same presented token yields the same successor at every node.
        let successor = format!("{handle}-next");
        let (a, b) = tokio::join!(
            cluster.propose(others[0], redeem(&handle, &successor, T0 + 1)),
            cluster.propose(others[1], redeem(&handle, &successor, T0 + 1)),
        );
        assert_eq!(
            rotations(&[a.clone(), b.clone()]),
            1,
            "round {round}: {a:?} / {b:?}"
        );
        // The loser of the race gets the same successor, not a second branch.
        let records: Vec<_> = [a, b]
            .into_iter()
            .map(|r| match r {
                StateResponse::Rotated { record } | StateResponse::AlreadyRotated { record } => {
                    record
                }
                other => panic!("round {round}: unexpected {other:?}"),
            })
            .collect();
        assert_eq!(records[0], records[1]);
    }

    // Two different successors for one token (two clients holding a stolen copy):
    // one rotation, and the other revokes the family.
    cluster.propose(leader, issue("fam-x", "rt-x")).await;
    let (a, b) = tokio::join!(
        cluster.propose(others[0], redeem("rt-x", "rt-x-a", T0 + 1)),
        cluster.propose(leader, redeem("rt-x", "rt-x-b", T0 + 1)),
    );
    assert_eq!(rotations(&[a.clone(), b.clone()]), 1, "{a:?} / {b:?}");
    assert!(
        matches!(a, StateResponse::ReuseDetected { .. })
            || matches!(b, StateResponse::ReuseDetected { .. }),
        "{a:?} / {b:?}"
    );
}

/// The leader acknowledges a rotation and then stops; the client's retry reaches the
/// new leader, which holds the rotation and answers with the same successor.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_acknowledged_rotation_survives_the_leader_and_a_retry_gets_the_same_result() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    cluster.propose(leader, issue("fam", "rt")).await;
    let first = cluster
        .propose(leader, redeem("rt", "rt-next", T0 + 1))
        .await;
    let StateResponse::Rotated { record } = first else {
        panic!("not rotated: {first:?}")
    };

    cluster.node(leader).stop().await;
    let new_leader = cluster.leader().await;
    let retry = cluster
        .propose(new_leader, redeem("rt", "rt-next", T0 + 3))
        .await;
    assert_eq!(retry, StateResponse::AlreadyRotated { record });
    // After the grace period the same presentation is reuse, and revokes the family.
    let late = cluster
        .propose(new_leader, redeem("rt", "rt-next", T0 + 60))
        .await;
    assert!(
        matches!(late, StateResponse::ReuseDetected { .. }),
        "{late:?}"
    );
}

/// A refresh storm while the leader stops: many families rotate in chains, each step
/// retried (with the same successor, as a client retrying with the same handle would
/// cause) until it is acknowledged. Every step must be a rotation or the same rotation
/// again, never a second branch or a revoked family, and every node must end with
/// each chain intact (docs/architecture.md §4 invariants 1 and 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_storm_survives_the_leader_stopping() {
    const FAMILIES: usize = 12;
    const STEPS: usize = 8;
    let cluster = TestCluster::start(3).await;
    let first_leader = cluster.leader().await;
    for f in 0..FAMILIES {
        cluster
            .propose(
                first_leader,
                issue(&format!("storm-{f}"), &format!("storm-{f}-0")),
            )
            .await;
    }

    let done = AtomicUsize::new(0);
    let chain = |f: usize| {
        let (cluster, done) = (&cluster, &done);
        async move {
            for step in 0..STEPS {
                let (token, next) = (
                    format!("storm-{f}-{step}"),
                    format!("storm-{f}-{}", step + 1),
                );
                // Proposed at different nodes in turn; followers forward.
                let at = (f + step) as u64 % 3 + 1;
                let response = cluster.propose(at, redeem(&token, &next, T0 + 1)).await;
                match response {
                    StateResponse::Rotated { record }
                    | StateResponse::AlreadyRotated { record } => {
                        assert_eq!(record.digest, ostium_state::TokenDigest::of_handle(&next));
                    }
                    other => panic!("family {f} step {step}: {other:?}"),
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    let storm = futures_util::future::join_all((0..FAMILIES).map(chain));
    // The leader stops a third of the way through the storm.
    let stop_leader = async {
        while done.load(Ordering::SeqCst) < FAMILIES * STEPS / 3 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        cluster.node(first_leader).stop().await;
        done.load(Ordering::SeqCst)
    };
    let ((), done_at_stop) = tokio::join!(storm.map(|_| ()), stop_leader);
    assert!(
        done_at_stop < FAMILIES * STEPS,
        "the storm was over before the leader stopped"
    );

    assert_ne!(cluster.leader().await, first_leader);
    cluster.converge().await;
    for node in cluster.nodes.iter().filter(|n| n.is_running()) {
        node.node()
            .read(|state| {
                {
                    for f in 0..FAMILIES {
                        let family = state
                            .refresh_tokens()
                            .family(&ostium_state::FamilyId(format!("storm-{f}")))
                            .unwrap()
                            .unwrap();
                        assert_eq!(
                            family.revoked_at, None,
                            "node {}: family {f} revoked",
                            node.id
                        );
                        let last =
                            ostium_state::TokenDigest::of_handle(&format!("storm-{f}-{STEPS}"));
                        let current = state.refresh_tokens().get(&last).unwrap().unwrap();
                        assert_eq!(
                            current.rotation, None,
                            "node {}: family {f}'s last token spent",
                            node.id
                        );
                        for step in 0..STEPS {
                            let token = state
                                .refresh_tokens()
                                .get(&ostium_state::TokenDigest::of_handle(&format!(
                                    "storm-{f}-{step}"
                                )))
                                .unwrap()
                                .unwrap();
                            let next = ostium_state::TokenDigest::of_handle(&format!(
                                "storm-{f}-{}",
                                step + 1
                            ));
                            assert_eq!(token.rotation.as_ref().map(|r| r.successor), Some(next));
                        }
                    }
                }
                Ok(())
            })
            .unwrap();
    }
}
