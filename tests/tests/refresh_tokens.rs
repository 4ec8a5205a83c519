//! Refresh tokens on a single node (RFC 6749 §6, RFC 9700 §4.14): issued with
//! `offline_access`, rotated on every use, a lost answer retried within the grace
//! period, reuse after it revoking the whole family, and all of it kept across a
//! restart.

use std::time::Duration;

use ostium_e2e::fixture::*;
use ostium_e2e::{post_form, verify_access_token};
use reqwest::blocking::Response;
use serde_json::Value;

fn post(node: &SingleNode, client: (&str, &str), form: &[(&str, &str)]) -> Response {
    post_form(&node.token_endpoint(), Some(client), form)
}

fn ok(response: Response) -> Value {
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn error(response: Response) -> String {
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap();
    assert_eq!(status, 400, "{body}");
    body["error"].as_str().unwrap().to_owned()
}

/// Logs alice in with `offline_access` and returns the token response.
fn login(node: &SingleNode, client: &str, scope: &str) -> Value {
    ok(post(
        node,
        (client, OFFLINE_SECRET),
        &[
            ("grant_type", "password"),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("scope", scope),
        ],
    ))
}

fn refresh(node: &SingleNode, client: &str, token: &str) -> Response {
    post(
        node,
        (client, OFFLINE_SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
}

fn refresh_token(response: &Value) -> String {
    response["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

#[test]
fn offline_access_brings_a_refresh_token_and_only_then() {
    let node = SingleNode::start("refresh-issue");
    let without = login(&node, OFFLINE_ID, "openid orders.read");
    assert!(without.get("refresh_token").is_none(), "{without}");
    let with = login(&node, OFFLINE_ID, "openid orders.read offline_access");
    // A located handle: 8 bytes its family shares and 32 of its own, base64url.
    assert_eq!(refresh_token(&with).len(), 54);
    assert_eq!(with["scope"], "openid orders.read offline_access");
    // A client not allowed offline access cannot ask for it.
    let refused = post(
        &node,
        (APP_ID, APP_SECRET),
        &[
            ("grant_type", "password"),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("scope", "openid offline_access"),
        ],
    );
    assert_eq!(error(refused), "invalid_scope");
}

#[test]
fn rotation_grace_retry_and_reuse_detection() {
    let node = SingleNode::start("refresh-rotate");
    let first = refresh_token(&login(
        &node,
        OFFLINE_ID,
        "openid orders.read offline_access",
    ));

    let rotated = ok(refresh(&node, OFFLINE_ID, &first));
    let second = refresh_token(&rotated);
    assert_ne!(second, first, "one-time tokens rotate");
    let claims = verify_access_token(
        rotated["access_token"].as_str().unwrap(),
        &node.issuer,
        AUDIENCE,
    );
    assert_eq!(claims["sub"], SUBJECT);
    assert_eq!(claims["client_id"], OFFLINE_ID);

    // A client that lost the answer retries within the grace period: same successor.
    let retried = ok(refresh(&node, OFFLINE_ID, &first));
    assert_eq!(refresh_token(&retried), second, "no second branch");

    // After the grace period, presenting the spent token again revokes the family:
    // the current token is refused too.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(error(refresh(&node, OFFLINE_ID, &first)), "invalid_grant");
    assert_eq!(error(refresh(&node, OFFLINE_ID, &second)), "invalid_grant");
}

#[test]
fn without_a_grace_period_a_retry_is_reuse() {
    let node = SingleNode::start("refresh-strict");
    let first = refresh_token(&login(&node, STRICT_ID, "openid offline_access"));
    let second = refresh_token(&ok(refresh(&node, STRICT_ID, &first)));
    assert_eq!(error(refresh(&node, STRICT_ID, &first)), "invalid_grant");
    assert_eq!(error(refresh(&node, STRICT_ID, &second)), "invalid_grant");
}

#[test]
fn concurrent_redemptions_of_one_token_yield_one_successor() {
    let node = SingleNode::start("refresh-race");
    // With a grace period, every concurrent redemption gets the same successor.
    let token = refresh_token(&login(&node, OFFLINE_ID, "openid offline_access"));
    let successors: Vec<Option<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let response = refresh(&node, OFFLINE_ID, &token);
                    (response.status().as_u16() == 200)
                        .then(|| refresh_token(&response.json().unwrap()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: std::collections::HashSet<_> = successors.iter().flatten().collect();
    assert_eq!(
        winners.len(),
        1,
        "one successor, however many redeemed: {successors:?}"
    );

    // Without one, exactly one redemption succeeds.
    let token = refresh_token(&login(&node, STRICT_ID, "openid offline_access"));
    let outcomes: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| refresh(&node, STRICT_ID, &token).status().as_u16()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        outcomes.iter().filter(|s| **s == 200).count(),
        1,
        "{outcomes:?}"
    );
}

#[test]
fn another_clients_token_and_a_wider_scope_change_nothing() {
    let node = SingleNode::start("refresh-foreign");
    let token = refresh_token(&login(
        &node,
        OFFLINE_ID,
        "openid orders.read offline_access",
    ));
    // Another client presenting it: refused, and the owner's token is not spent.
    assert_eq!(error(refresh(&node, STRICT_ID, &token)), "invalid_grant");
    // Asking for more than was granted: refused, not spent.
    let wider = post(
        &node,
        (OFFLINE_ID, OFFLINE_SECRET),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &token),
            ("scope", "orders.write"),
        ],
    );
    assert_eq!(error(wider), "invalid_scope");
    // Narrowing is allowed, and the token was still current.
    let narrowed = ok(post(
        &node,
        (OFFLINE_ID, OFFLINE_SECRET),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &token),
            ("scope", "orders.read"),
        ],
    ));
    assert_eq!(narrowed["scope"], "orders.read");
    let claims = verify_access_token(
        narrowed["access_token"].as_str().unwrap(),
        &node.issuer,
        AUDIENCE,
    );
    assert_eq!(claims["scope"], "orders.read");
    // Garbage and unknown tokens.
    for bogus in ["nope", &"x".repeat(600)] {
        assert_eq!(error(refresh(&node, OFFLINE_ID, bogus)), "invalid_grant");
    }
}

#[test]
fn reusable_tokens_and_reference_access_tokens() {
    let node = SingleNode::start("refresh-reuse");
    let login = login(&node, REUSE_ID, "openid orders.read offline_access");
    let access = login["access_token"].as_str().unwrap();
    assert!(
        !access.contains('.'),
        "a reference token is an opaque handle, not a JWT"
    );
    let token = refresh_token(&login);
    for _ in 0..3 {
        let again = ok(refresh(&node, REUSE_ID, &token));
        assert_eq!(
            refresh_token(&again),
            token,
            "re_use returns the same token"
        );
    }
}

#[test]
fn refresh_tokens_survive_a_restart() {
    let mut node = SingleNode::start("refresh-restart");
    let first = refresh_token(&login(&node, OFFLINE_ID, "openid offline_access"));
    let second = refresh_token(&ok(refresh(&node, OFFLINE_ID, &first)));
    node.node.kill();
    node.node.restart();
    let third = refresh_token(&ok(refresh(&node, OFFLINE_ID, &second)));
    assert_ne!(third, second);
    // The rotation before the restart is remembered too: reusing `first` now (past
    // its grace period) is detected.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(error(refresh(&node, OFFLINE_ID, &first)), "invalid_grant");
    assert_eq!(error(refresh(&node, OFFLINE_ID, &third)), "invalid_grant");
}
