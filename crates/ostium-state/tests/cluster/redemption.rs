//! The same refresh token redeemed at two nodes at once: exactly one redemption
//! rotates it (DESIGN §4 invariant 1).

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
