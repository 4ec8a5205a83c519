//! Expired records leave the state by themselves: the leader proposes `Purge`
//! periodically, and every node applies it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ostium_state::command::IssueRefreshToken;
use ostium_state::network::ClusterClient;
use ostium_state::{
    FamilyId, ReplicatedState, StateCommand, StateResponse, TokenDigest, TokenExpiration,
    TokenUsage,
};
use tokio_util::sync::CancellationToken;

use crate::support::{PATIENCE, TestCluster, secret};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_purges_expired_tokens_on_every_node() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let short_lived = |handle: &str, expires_at: u64| {
        StateCommand::IssueRefreshToken(IssueRefreshToken {
            family: FamilyId(handle.into()),
            digest: TokenDigest::of_handle(handle),
            client_id: "app".into(),
            subject: "alice".into(),
            scope: "openid offline_access".into(),
            audiences: vec![],
            usage: TokenUsage::OneTimeOnly,
            expiration: TokenExpiration::Absolute,
            absolute_expires_at: expires_at,
            sliding_lifetime: None,
            at: now(),
            auth_time: None,
            amr: None,
        })
    };
    assert_eq!(
        cluster
            .propose(leader, short_lived("expiring", now() + 1))
            .await,
        StateResponse::Issued
    );
    assert_eq!(
        cluster
            .propose(leader, short_lived("lasting", now() + 3600))
            .await,
        StateResponse::Issued
    );
    // A purger on every node: only the leader's proposes.
    let stop = CancellationToken::new();
    let purgers: Vec<_> = cluster
        .nodes
        .iter()
        .map(|n| {
            let client = ClusterClient::new(secret(), Duration::from_secs(5)).unwrap();
            ReplicatedState::new(n.node(), client)
                .spawn_purger(Duration::from_millis(200), stop.clone())
        })
        .collect();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let gone = |n: &crate::support::TestNode| {
        n.node()
            .read(|s| {
                Ok({
                    s.refresh_tokens()
                        .get(&TokenDigest::of_handle("expiring"))
                        .unwrap()
                        .is_none()
                })
            })
            .unwrap()
    };
    while !cluster.nodes.iter().all(gone) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "expired token never purged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in &cluster.nodes {
        assert!(
            node.node()
                .read(|s| Ok(s
                    .refresh_tokens()
                    .get(&TokenDigest::of_handle("lasting"))
                    .unwrap()
                    .is_some()))
                .unwrap(),
            "a live token was purged"
        );
    }
    stop.cancel();
    for purger in purgers {
        purger.await.unwrap();
    }
}
