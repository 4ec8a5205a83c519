//! What an attacker tried against a single node, and what holds now: refresh tokens
//! that outlive their user or their client's scopes, brute-forced passwords, slow
//! bodies that hold connections, and secrets in the log.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ostium_e2e::fixture::{
    API_SCOPE, MACHINE_ID, MACHINE_SECRET, OFFLINE_ID, OFFLINE_SECRET, OTHER_SCOPE, PASSWORD,
    SingleNode, USERNAME, config,
};
use ostium_e2e::{TestDir, free_port, password_hash, post_form};
use serde_json::Value;

fn token(node: &SingleNode, form: &[(&str, &str)]) -> (u16, Value) {
    let response = post_form(
        &node.token_endpoint(),
        Some((OFFLINE_ID, OFFLINE_SECRET)),
        form,
    );
    let status = response.status().as_u16();
    (status, response.json().expect("a JSON body"))
}

fn login(node: &SingleNode, username: &str, password: &str, scope: &str) -> (u16, Value) {
    token(
        node,
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("scope", scope),
        ],
    )
}

fn refresh(node: &SingleNode, refresh_token: &str) -> (u16, Value) {
    token(
        node,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

fn active(node: &SingleNode, token: &str) -> bool {
    let response = post_form(
        &format!("{}/connect/introspect", node.issuer),
        Some((OFFLINE_ID, OFFLINE_SECRET)),
        &[("token", token)],
    );
    let seen: Value = response.json().expect("a JSON body");
    seen["active"] == true
}

/// The standard node with a second user, bob.
fn with_bob(port: u16, dir: &std::path::Path) -> String {
    config(
        port,
        dir,
        "ES256",
        &format!(
            "\n[[users]]\nsubject = \"sub-bob\"\nusername = \"bob\"\npassword_hash = \"{}\"\n",
            password_hash("bob's password")
        ),
    )
}

#[test]
fn a_refresh_token_outlives_neither_its_user_nor_its_clients_scopes() {
    let dir = TestDir::new("outlives");
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let before = with_bob(port, dir.path());
    let node_process = ostium_e2e::Node::start(dir.path(), &before, &issuer);
    let mut node = SingleNode {
        node: node_process,
        issuer,
        dir,
    };
    let both = format!("{API_SCOPE} {OTHER_SCOPE} offline_access");
    let (status, alice) = login(&node, USERNAME, PASSWORD, &both);
    assert_eq!(status, 200, "{alice}");
    let (status, bob) = login(&node, "bob", "bob's password", &both);
    assert_eq!(status, 200, "{bob}");

    // The operator removes bob, and takes orders.write away from the client.
    let granted = format!(
        "allowed_scopes = [\"openid\", \"{API_SCOPE}\", \"{OTHER_SCOPE}\"]\n\
         allow_offline_access = true\nrefresh_token_grace_period = 2"
    );
    assert!(before.contains(&granted), "the fixture changed");
    let after = before
        .replace(
            &granted,
            &format!(
                "allowed_scopes = [\"openid\", \"{API_SCOPE}\"]\n\
                 allow_offline_access = true\nrefresh_token_grace_period = 2"
            ),
        )
        .replace("username = \"bob\"", "username = \"robert\"")
        .replace("subject = \"sub-bob\"", "subject = \"sub-robert\"");
    node.node.reconfigure(&after);

    let (status, refreshed) = refresh(&node, alice["refresh_token"].as_str().unwrap());
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["scope"], format!("{API_SCOPE} offline_access"));
    let (status, refused) = refresh(&node, bob["refresh_token"].as_str().unwrap());
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Bob's access token went with his family.
    assert!(!active(&node, bob["access_token"].as_str().unwrap()));
    assert!(active(&node, alice["access_token"].as_str().unwrap()));
}

#[test]
fn revoking_a_refresh_token_deactivates_the_access_tokens_of_its_grant() {
    let node = SingleNode::start("revoke-grant");
    let (_, login) = login(
        &node,
        USERNAME,
        PASSWORD,
        &format!("{API_SCOPE} offline_access"),
    );
    let (_, rotated) = refresh(&node, login["refresh_token"].as_str().unwrap());
    let response = post_form(
        &format!("{}/connect/revocation", node.issuer),
        Some((OFFLINE_ID, OFFLINE_SECRET)),
        &[("token", rotated["refresh_token"].as_str().unwrap())],
    );
    assert_eq!(response.status(), 200);
    for access_token in [&login["access_token"], &rotated["access_token"]] {
        assert!(!active(&node, access_token.as_str().unwrap()));
    }
}

#[test]
fn guessing_passwords_locks_the_username_and_is_logged_without_the_password() {
    let node = SingleNode::start_with(
        "brute-force",
        "ES256",
        "\n[login]\nmax_failures_per_username = 3\n",
    );
    for attempt in 0..3 {
        let (status, refused) = login(&node, USERNAME, &format!("guess-{attempt}"), API_SCOPE);
        assert_eq!(
            (status, refused["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    // The right password, too late: the same answer as a wrong one.
    let (status, refused) = login(&node, USERNAME, PASSWORD, API_SCOPE);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(refused["error_description"], "invalid username or password");
    let log = node.node.log_text();
    assert!(log.contains("password login failed"), "{log}");
    assert!(
        log.contains("password login refused before checking"),
        "{log}"
    );
    assert!(log.contains(USERNAME));
    assert!(
        !log.contains("guess-1") && !log.contains(PASSWORD),
        "a password reached the log"
    );
}

#[test]
fn an_unknown_client_id_never_reaches_the_log() {
    let node = SingleNode::start("unknown-client");
    // A client that swapped its id and secret.
    let response = post_form(
        &node.token_endpoint(),
        Some(("secret-value-0f3c9a", "billing-worker")),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(response.status(), 401);
    let log = node.node.log_text();
    assert!(
        log.contains("token request from an unknown client"),
        "{log}"
    );
    assert!(!log.contains("secret-value-0f3c9a"), "{log}");
}

#[test]
fn malformed_http_from_anyone_leaves_no_error_in_the_log() {
    let node = SingleNode::start("malformed-http");
    let address = node.issuer.trim_start_matches("http://").to_owned();
    for garbage in [
        "GARBAGE\r\n\r\n",
        "POST /connect/token HTTP/1.1\r\nContent-Length: many\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(&address).expect("connect");
        stream.write_all(garbage.as_bytes()).expect("send");
        assert!(answer(stream).starts_with("HTTP/1.1 400"), "{garbage:?}");
    }
    // Still serving, and nothing an operator would be paged for.
    let response = post_form(
        &node.token_endpoint(),
        Some((MACHINE_ID, MACHINE_SECRET)),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(response.status(), 200);
    let log = node.node.log_text();
    assert!(!log.contains("ERROR"), "{log}");
}

/// Sends a request head that declares a body, then one byte of it.
fn trickle(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = "POST /connect/token HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 16000\r\n\r\ng";
    stream.write_all(head.as_bytes()).expect("send the head");
    stream
}

/// Reads what the server sends until it closes the connection (or 15 s pass).
fn answer(mut stream: TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("a read timeout");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn slow_bodies_are_cut_off_and_one_address_holds_only_its_share() {
    let dir = TestDir::new("slow-bodies");
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let limited = config(port, dir.path(), "ES256", "").replace(
        "workers = 2\n",
        "workers = 2\nbody_timeout = 2\nmax_connections_per_address = 3\n",
    );
    let _node = ostium_e2e::Node::start(dir.path(), &limited, &issuer);

    // Five connections from one address, each trickling a body. Which of them are
    // past the share depends on the order the workers accept them in.
    let readers: Vec<_> = (0..5)
        .map(|_| {
            let stream = trickle(port);
            std::thread::spawn(move || answer(stream))
        })
        .collect();
    let answers: Vec<String> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    // Past its share, a connection's first request is refused at once; the others
    // are cut off once the body timeout passes, and closed.
    let refused = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 503"))
        .count();
    let cut_off = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 408"))
        .count();
    assert_eq!(refused + cut_off, 5, "{answers:#?}");
    assert!(refused >= 2 && cut_off >= 2, "{answers:#?}");
    assert!(
        answers
            .iter()
            .filter(|a| a.starts_with("HTTP/1.1 503"))
            .all(|a| a.contains("too many connections from this address"))
    );
    // Their slots are free again.
    let response = post_form(
        &format!("{issuer}/connect/token"),
        Some((MACHINE_ID, MACHINE_SECRET)),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(response.status(), 200);
}
