//! Revocation (RFC 7009) and introspection (RFC 7662) on a single node: who may ask
//! about which token, what an inactive token looks like, and that a revocation
//! holds from the moment it is answered, across a restart too.

use ostium_e2e::fixture::*;
use ostium_e2e::post_form;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

fn post(
    node: &SingleNode,
    path: &str,
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> Response {
    post_form(&format!("{}{path}", node.issuer), auth, form)
}

fn introspect(node: &SingleNode, caller: (&str, &str), token: &str) -> Value {
    let response = post(
        node,
        "/connect/introspect",
        Some(caller),
        &[("token", token)],
    );
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().unwrap()
}

fn revoke(node: &SingleNode, caller: (&str, &str), token: &str, hint: Option<&str>) {
    let mut form = vec![("token", token)];
    if let Some(hint) = hint {
        form.push(("token_type_hint", hint));
    }
    let response = post(node, "/connect/revocation", Some(caller), &form);
    assert_eq!(response.status().as_u16(), 200, "{:?}", response.text());
}

fn token(node: &SingleNode, client: (&str, &str), form: &[(&str, &str)]) -> Value {
    let response = post(node, "/connect/token", Some(client), form);
    assert_eq!(response.status().as_u16(), 200);
    response.json().unwrap()
}

const RESOURCE: (&str, &str) = (AUDIENCE, RESOURCE_SECRET);
const MACHINE: (&str, &str) = (MACHINE_ID, MACHINE_SECRET);
const OFFLINE: (&str, &str) = (OFFLINE_ID, OFFLINE_SECRET);
fn inactive() -> Value {
    json!({ "active": false })
}

#[test]
fn introspection_tells_each_caller_only_about_its_own_tokens() {
    let node = SingleNode::start("introspect");
    let access = token(&node, MACHINE, &[("grant_type", "client_credentials")]);
    let access = access["access_token"].as_str().unwrap();

    let seen = introspect(&node, RESOURCE, access);
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["client_id"], MACHINE_ID);
    assert_eq!(seen["sub"], MACHINE_ID);
    assert_eq!(seen["scope"], API_SCOPE);
    assert_eq!(seen["aud"], json!([AUDIENCE]));
    assert_eq!(seen["iss"], node.issuer.as_str());
    // RFC 7662 §2.2: a token type of RFC 6749 §5.1, and `nbf` when the token has one.
    assert_eq!(seen["token_type"], "Bearer");
    assert_eq!(seen["nbf"], seen["iat"]);
    assert!(seen["exp"].as_u64().unwrap() > seen["iat"].as_u64().unwrap());

    // The client the token was issued to may ask too.
    assert_eq!(introspect(&node, MACHINE, access)["active"], true);
    // An API the token is not for, another client, garbage: exactly {"active": false}.
    assert_eq!(
        introspect(&node, (OTHER_RESOURCE, RESOURCE_SECRET), access),
        inactive()
    );
    assert_eq!(introspect(&node, (APP_ID, APP_SECRET), access), inactive());
    assert_eq!(introspect(&node, RESOURCE, "not-a-token"), inactive());
    assert_eq!(
        introspect(&node, RESOURCE, &format!("{access}x")),
        inactive()
    );

    // Callers must authenticate; a public client's bare id is not enough.
    for auth in [None, Some((AUDIENCE, "wrong")), Some((MACHINE_ID, "wrong"))] {
        let response = post(&node, "/connect/introspect", auth, &[("token", access)]);
        assert_eq!(response.status().as_u16(), 401, "{auth:?}");
        assert!(response.headers().contains_key("www-authenticate"));
    }
    let public = post(
        &node,
        "/connect/introspect",
        None,
        &[("token", access), ("client_id", PUBLIC_ID)],
    );
    assert_eq!(public.status().as_u16(), 401);
    // A missing token is invalid_request.
    let missing = post(&node, "/connect/introspect", Some(RESOURCE), &[]);
    assert_eq!(missing.status().as_u16(), 400);
}

#[test]
fn revoked_access_tokens_are_inactive_at_once_and_after_a_restart() {
    let mut node = SingleNode::start("revoke-access");
    let access = token(&node, MACHINE, &[("grant_type", "client_credentials")]);
    let access = access["access_token"].as_str().unwrap().to_owned();

    // Another client's revocation is answered 200 and changes nothing.
    revoke(&node, (APP_ID, APP_SECRET), &access, None);
    assert_eq!(introspect(&node, RESOURCE, &access)["active"], true);

    revoke(&node, MACHINE, &access, Some("access_token"));
    assert_eq!(introspect(&node, RESOURCE, &access), inactive());
    // Revoking again, or an unknown token, is still 200.
    revoke(&node, MACHINE, &access, None);
    revoke(&node, MACHINE, "unknown-token", Some("refresh_token"));

    node.node.restart();
    assert_eq!(introspect(&node, RESOURCE, &access), inactive());
}

#[test]
fn revoking_a_refresh_token_revokes_its_family() {
    let node = SingleNode::start("revoke-refresh");
    let login = token(
        &node,
        OFFLINE,
        &[
            ("grant_type", "password"),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("scope", "openid orders.read offline_access"),
        ],
    );
    let first = login["refresh_token"].as_str().unwrap().to_owned();
    let rotated = token(
        &node,
        OFFLINE,
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    );
    let current = rotated["refresh_token"].as_str().unwrap().to_owned();

    let seen = introspect(&node, OFFLINE, &current);
    assert_eq!(seen["active"], true, "{seen}");
    // A refresh token has no token type (RFC 6749 §5.1 types access tokens only).
    assert!(seen.get("token_type").is_none(), "{seen}");
    assert_eq!(seen["sub"], SUBJECT);
    // The spent token is not active; an API learns nothing about refresh tokens.
    assert_eq!(introspect(&node, OFFLINE, &first), inactive());
    assert_eq!(introspect(&node, RESOURCE, &current), inactive());

    // Revoking the spent one revokes the whole family, the current token included.
    revoke(&node, OFFLINE, &first, Some("refresh_token"));
    assert_eq!(introspect(&node, OFFLINE, &current), inactive());
    let refused = post(
        &node,
        "/connect/token",
        Some(OFFLINE),
        &[("grant_type", "refresh_token"), ("refresh_token", &current)],
    );
    assert_eq!(refused.status().as_u16(), 400);
}

#[test]
fn reference_tokens_are_introspected_and_revoked() {
    let node = SingleNode::start("revoke-reference");
    let issued = token(
        &node,
        (REUSE_ID, OFFLINE_SECRET),
        &[("grant_type", "client_credentials")],
    );
    let access = issued["access_token"].as_str().unwrap().to_owned();
    let seen = introspect(&node, RESOURCE, &access);
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["client_id"], REUSE_ID);
    assert_eq!(seen["aud"], json!([AUDIENCE]));
    revoke(&node, (REUSE_ID, OFFLINE_SECRET), &access, None);
    assert_eq!(introspect(&node, RESOURCE, &access), inactive());
}

#[test]
fn revocation_requires_client_authentication_and_a_token() {
    let node = SingleNode::start("revoke-bad-input");
    let response = post(&node, "/connect/revocation", None, &[("token", "x")]);
    assert_eq!(response.status().as_u16(), 401);
    let response = post(&node, "/connect/revocation", Some(MACHINE), &[]);
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"], "invalid_request");
    let get = Client::new()
        .get(format!("{}/connect/revocation", node.issuer))
        .send()
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
}
