//! Authorization codes across the cluster (docs/architecture.md §4 invariant 3): the
//! same code exchanged at two nodes at once is exchanged once; the other exchange is
//! a replay, and afterwards every node denies what the first one issued.

use ostium_state::command::{RedeemAuthorizationCode, StoreAuthorizationCode};
use ostium_state::{Denial, FamilyId, StateCommand, StateResponse, TokenDigest};

use crate::support::TestCluster;
use crate::{T0, issue};

fn store(code: &str) -> StateCommand {
    StateCommand::StoreAuthorizationCode(StoreAuthorizationCode {
        digest: TokenDigest::of_handle(code),
        client_id: "app".into(),
        subject: "alice".into(),
        redirect_uri: "https://app.example/cb".into(),
        scope: "openid offline_access".into(),
        audiences: vec!["api".into()],
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        session_id: "sid".into(),
        auth_time: T0,
        amr: "pwd".into(),
        expires_at: T0 + 60,
        at: T0,
    })
}

/// One token request exchanging `code`: its own family, and a refresh token in it.
fn exchange(code: &str, family: &str) -> StateCommand {
    let StateCommand::IssueRefreshToken(refresh) = issue(family, &format!("rt-{family}")) else {
        unreachable!("issue builds an issue command")
    };
    StateCommand::RedeemAuthorizationCode(RedeemAuthorizationCode {
        digest: TokenDigest::of_handle(code),
        client_id: "app".into(),
        family: FamilyId(family.into()),
        tokens_expire_at: T0 + 3600,
        refresh: Some(refresh),
        at: T0 + 1,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_exchanges_of_one_code_at_two_nodes_exchange_it_once() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let others: Vec<u64> = [1, 2, 3].into_iter().filter(|id| *id != leader).collect();

    let mut winners = Vec::new();
    for round in 0..4 {
        let code = format!("code-{round}");
        assert_eq!(
            cluster.propose(leader, store(&code)).await,
            StateResponse::Issued
        );
        // Two token requests with the same code, each with its own family.
        let (a, b) = (format!("fam-{round}-a"), format!("fam-{round}-b"));
        let (first, second) = tokio::join!(
            cluster.propose(others[0], exchange(&code, &a)),
            cluster.propose(others[1], exchange(&code, &b)),
        );
        let (record, replayed) = match (first, second) {
            (StateResponse::CodeRedeemed { record }, replayed)
            | (replayed, StateResponse::CodeRedeemed { record }) => (record, replayed),
            other => panic!("round {round}: no single exchange: {other:?}"),
        };
        let winner = record.redeemed.expect("redeemed").family;
        let loser = FamilyId(if winner.0 == a { b } else { a });
        assert!(
            matches!(&replayed, StateResponse::CodeReplayed { family, .. } if *family == winner),
            "round {round}: {replayed:?}"
        );
        winners.push((winner, loser));
    }

    cluster.converge().await;
    for node in &cluster.nodes {
        node.node()
            .read(|state| {
                {
                    for (winner, loser) in &winners {
                        assert!(
                            state
                                .is_denied(&Denial::Family(winner.clone()), T0 + 2)
                                .unwrap(),
                            "node {}: {winner:?} not denied",
                            node.id
                        );
                        // The refresh token issued with the exchange is dead with it, and the
                        // replay issued nothing.
                        let refresh = TokenDigest::of_handle(&format!("rt-{}", winner.0));
                        assert!(!state.lookup(&refresh, T0 + 2).unwrap().refresh_live);
                        assert!(state.refresh_tokens().family(loser).unwrap().is_none());
                        assert!(
                            state
                                .refresh_tokens()
                                .get(&TokenDigest::of_handle(&format!("rt-{}", loser.0)))
                                .unwrap()
                                .is_none()
                        );
                    }
                }
                Ok(())
            })
            .unwrap();
    }
}
