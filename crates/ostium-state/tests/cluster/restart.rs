//! A node restarted from its data directory catches up with no loss: from its own
//! snapshot and log, then from the leader; and a node that joins after the log was
//! compacted catches up by installing the leader's snapshot.

use std::time::{Duration, Instant};

use ostium_state::network::ClusterClient;
use ostium_state::network::cluster::{AddLearner, ClusterReply};
use ostium_state::node::MembershipError;

use crate::support::{PATIENCE, TestCluster, TestNode, secret};
use crate::{T0, issue, redeem, revoke};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_follower_catches_up_without_loss() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();

    // Enough writes for a snapshot on every node before the stop.
    for i in 0..15 {
        cluster
            .propose(leader, revoke(&format!("before-{i}")))
            .await;
    }
    cluster.converge().await;
    assert!(
        cluster
            .node(follower)
            .node()
            .metrics()
            .snapshot_index
            .is_some()
    );

    cluster.node(follower).stop().await;
    // (The leader keeps the log the stopped follower still needs: openraft does not
    // purge entries a replication stream has in flight. Catch-up by snapshot install
    // is exercised by `a_new_learner_catches_up_by_snapshot`.)
    for i in 0..25 {
        cluster
            .propose(leader, revoke(&format!("while-down-{i}")))
            .await;
    }

    cluster.node(follower).restart().await;
    let index = cluster.converge().await;
    cluster
        .node(follower)
        .node()
        .wait_applied(index, PATIENCE)
        .await
        .unwrap();
    let all = cluster
        .node(follower)
        .node()
        .read(|state| {
            Ok({
                (0..15).all(|i| {
                    state
                        .deny_list()
                        .is_revoked(&format!("before-{i}"), T0)
                        .unwrap()
                }) && (0..25).all(|i| {
                    state
                        .deny_list()
                        .is_revoked(&format!("while-down-{i}"), T0)
                        .unwrap()
                })
            })
        })
        .unwrap();
    assert!(all, "the restarted node lost writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_restart_of_every_node_keeps_every_write() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    for i in 0..13 {
        cluster.propose(leader, revoke(&format!("jti-{i}"))).await;
    }
    cluster.converge().await;

    for id in [1, 2, 3] {
        cluster.node(id).stop().await;
    }
    for id in [1, 2, 3] {
        cluster.node(id).restart().await;
    }
    let leader = cluster.leader().await;
    cluster.propose(leader, revoke("after-restart")).await;
    cluster.converge().await;
    for node in &cluster.nodes {
        let all = node
            .node()
            .read(|state| {
                Ok({
                    (0..13).all(|i| {
                        state
                            .deny_list()
                            .is_revoked(&format!("jti-{i}"), T0)
                            .unwrap()
                    }) && state.deny_list().is_revoked("after-restart", T0).unwrap()
                })
            })
            .unwrap();
        assert!(all, "node {} lost writes across a full restart", node.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_learner_catches_up_by_snapshot() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    for i in 0..30 {
        cluster.propose(leader, revoke(&format!("jti-{i}"))).await;
    }
    cluster.converge().await;
    // Once every follower has the log, the leader compacts it behind its snapshot.
    let deadline = Instant::now() + PATIENCE;
    while cluster.node(leader).node().metrics().purged_index.is_none() {
        assert!(
            Instant::now() < deadline,
            "the leader never compacted its log"
        );
        cluster.propose(leader, revoke("nudge")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Entry 1 is gone from the leader's log, so node 4 can only start from a snapshot.
    let learner = TestNode::start(4, cluster.dir("node-4"), secret()).await;
    cluster
        .node(leader)
        .node()
        .add_learner(4, learner.addr.to_string(), PATIENCE)
        .await
        .unwrap();
    let index = cluster
        .node(leader)
        .node()
        .metrics()
        .last_log_index
        .unwrap_or(0);
    learner.node().wait_applied(index, PATIENCE).await.unwrap();
    let all = learner
        .node()
        .read(|state| {
            Ok((0..30).all(|i| {
                state
                    .deny_list()
                    .is_revoked(&format!("jti-{i}"), T0)
                    .unwrap()
            }))
        })
        .unwrap();
    assert!(all, "the learner is missing writes");
    let status = learner.node().metrics();
    assert!(
        status.snapshot_index.is_some(),
        "the learner has no snapshot: {status:?}"
    );
}

/// A snapshot is written from one read transaction while writes go on: a learner
/// that joins in the middle of a stream of writes (the log compacted behind
/// snapshots every 10 entries) must end up with exactly the leader's records, every
/// one of them, not a sample.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_snapshot_taken_under_writes_gives_a_learner_every_record() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let node = cluster.node(leader).node();
    // Four writers: families rotated and revoked, tokens deny-listed.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let node = node.clone();
            tokio::spawn(async move {
                for i in 0..60 {
                    let family = format!("w{w}-f{i}");
                    let first = format!("{family}-0");
                    let commands = [
                        issue(&family, &first),
                        redeem(&first, &format!("{family}-1"), T0 + 1),
                        revoke(&format!("{family}-jti")),
                    ];
                    for command in commands {
                        node.propose(command)
                            .await
                            .expect("the leader takes writes");
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while node.metrics().purged_index.is_none() {
        assert!(
            Instant::now() < deadline,
            "the leader never compacted its log"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let learner = TestNode::start(4, cluster.dir("node-4"), secret()).await;
    node.add_learner(4, learner.addr.to_string(), PATIENCE)
        .await
        .unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let index = cluster.converge().await;
    learner.node().wait_applied(index, PATIENCE).await.unwrap();
    assert!(
        learner.node().metrics().snapshot_index.is_some(),
        "the learner caught up from the log, not from a snapshot"
    );
    let leader_records = node.records().dump().unwrap();
    let learner_records = learner.node().records().dump().unwrap();
    assert!(
        leader_records.len() > 4 * 60 * 4,
        "the writes are in the records"
    );
    assert_eq!(
        learner_records.len(),
        leader_records.len(),
        "the learner holds another number of records"
    );
    assert!(
        learner_records == leader_records,
        "a record differs at the learner"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_learner_answers_once_the_learner_has_applied_every_entry() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    // More entries than fit in one AppendEntries, behind a snapshot and compaction
    // (every 10 entries here): the learner needs a snapshot and several rounds.
    for i in 0..400 {
        cluster.propose(leader, revoke(&format!("jti-{i}"))).await;
    }
    let learner = TestNode::start(4, cluster.dir("node-4"), secret()).await;
    let operator = ClusterClient::new(secret(), PATIENCE).unwrap();
    let request = AddLearner {
        id: 4,
        raft_addr: learner.addr.to_string(),
    };
    let reply = operator
        .add_learner(&cluster.node(leader).addr.to_string(), &request)
        .await
        .unwrap();
    assert_eq!(reply, ClusterReply::Done(()));
    // At once, without waiting for anything: the learner's own state has every write
    // made before it was added, the last one included.
    let missing: Vec<usize> = learner
        .node()
        .read(|state| {
            Ok((0..400)
                .filter(|i| {
                    !state
                        .deny_list()
                        .is_revoked(&format!("jti-{i}"), T0)
                        .unwrap()
                })
                .collect())
        })
        .unwrap();
    assert!(
        missing.is_empty(),
        "the learner lacks {} writes, such as jti-{:?}",
        missing.len(),
        missing.last()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_learner_gives_up_on_a_learner_that_never_answers() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    cluster.propose(leader, revoke("jti-1")).await;
    // Nothing listens there: the port was bound and released.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let added = cluster
        .node(leader)
        .node()
        .add_learner(4, nowhere.to_string(), Duration::from_secs(1))
        .await;
    match added {
        Err(MembershipError::LearnerBehind {
            id: 4, held: None, ..
        }) => {}
        other => panic!("expected the learner to be reported behind, got {other:?}"),
    }
}
