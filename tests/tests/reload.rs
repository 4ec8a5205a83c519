//! Configuration reload on a running three-core cluster (docs/operations.md,
//! "Changing clients and users"): clients and users added and removed with `SIGHUP`
//! and `ostium reload`, what was removed revoked at every node, a broken file
//! changing nothing, and the configuration fingerprints in `/readyz` and
//! `cluster status` agreeing, then flagging the node left behind.

use std::time::Duration;

use ostium_e2e::cluster::{Cluster, ClusterNode};
use ostium_e2e::fixture::*;
use ostium_e2e::{password_hash, run_cli, wait_until};
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(30);
const NEW_CLIENT: &str = "reloaded-worker";
const NEW_SECRET: &str = "reloaded-secret-0123456789";
const NEW_USER: &str = "bob";
const NEW_PASSWORD: &str = "bob's new password";

/// `text` without the `[[name]]` entry that starts with `first_line`, its own
/// sub-tables (`[name.claims]`) included.
fn without_block(text: &str, name: &str, first_line: &str) -> String {
    let header = format!("[[{name}]]\n{first_line}\n");
    let start = text
        .find(&header)
        .unwrap_or_else(|| panic!("no [[{name}]] entry starting with {first_line}"));
    let own = format!("[{name}.");
    let mut end = start + header.len();
    for line in text[end..].split_inclusive('\n') {
        if line.starts_with('[') && !line.starts_with(&own) {
            break;
        }
        end += line.len();
    }
    format!("{}{}", &text[..start], &text[end..])
}

/// Node `node`'s configuration with the strict client and alice gone, and a new
/// client and user.
fn changed(node: &ClusterNode) -> String {
    let text = std::fs::read_to_string(node.config_path()).unwrap();
    let text = without_block(&text, "clients", &format!("client_id = \"{STRICT_ID}\""));
    let text = without_block(&text, "users", &format!("subject = \"{SUBJECT}\""));
    assert!(
        text.contains("[cluster]") && !text.contains("Alice"),
        "{text}"
    );
    format!(
        "{text}{}\n[[users]]\nsubject = \"sub-bob\"\nusername = \"{NEW_USER}\"\n\
         password_hash = \"{}\"\n",
        new_client(),
        password_hash(NEW_PASSWORD),
    )
}

/// The `[[clients]]` entry of the client a reload adds.
fn new_client() -> String {
    format!(
        "\n[[clients]]\nclient_id = \"{NEW_CLIENT}\"\nclient_secrets = [\"{}\"]\n\
         allowed_grant_types = \"client_credentials\"\nallowed_scopes = [\"{API_SCOPE}\"]\n",
        digest(NEW_SECRET)
    )
}

fn token_status(node: &ClusterNode, client: (&str, &str)) -> (u16, Value) {
    node.try_post(
        "/connect/token",
        client,
        &[("grant_type", "client_credentials")],
        None,
    )
    .unwrap()
}

fn active(node: &ClusterNode, token: &str) -> bool {
    let (status, body) = node.introspect((AUDIENCE, RESOURCE_SECRET), token);
    assert_eq!(status, 200, "{body}");
    body["active"] == true
}

#[test]
fn clients_and_users_change_at_every_node_without_a_restart() {
    let cluster = Cluster::start("reload", 3);
    let node = |id| cluster.node(id).unwrap();
    let before = node(1).configuration().expect("a fingerprint in /readyz");
    for id in [2, 3] {
        assert_eq!(node(id).configuration().as_ref(), Some(&before));
    }
    // What the removal must reach: a refresh token of the strict client, and alice's
    // tokens from another client.
    let strict = node(1).login_tokens(STRICT_ID);
    let alice = node(2).login_tokens(OFFLINE_ID);

    // Nodes 1 and 2 are signalled; node 3 is reloaded with the command.
    for id in [1, 2, 3] {
        std::fs::write(node(id).config_path(), changed(node(id))).unwrap();
    }
    node(1).node.hang_up();
    node(2).node.hang_up();
    let path = node(3).config_path();
    let (ok, out, err) = run_cli(&["reload", "--config", path.to_str().unwrap()], None);
    assert!(ok, "ostium reload failed: {out}{err}");
    let after = node(3).configuration().unwrap();
    assert_ne!(after, before);
    assert!(out.contains(&after), "{out}");
    wait_until("every node serves the new configuration", SETTLE, || {
        [1, 2]
            .iter()
            .all(|id| node(*id).configuration().as_ref() == Some(&after))
    });

    for id in [1, 2, 3] {
        let (status, body) = token_status(node(id), (NEW_CLIENT, NEW_SECRET));
        assert_eq!(status, 200, "the new client at node {id}: {body}");
        let (status, body) = token_status(node(id), (STRICT_ID, OFFLINE_SECRET));
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "the removed client at node {id}: {body}"
        );
        let bob = node(id).try_post(
            "/connect/token",
            (APP_ID, APP_SECRET),
            &[
                ("grant_type", "password"),
                ("username", NEW_USER),
                ("password", NEW_PASSWORD),
            ],
            None,
        );
        assert_eq!(bob.unwrap().0, 200, "the new user at node {id}");
    }
    // The removed client's and user's access tokens stop being active everywhere.
    for (what, tokens) in [("strict client", &strict), ("alice", &alice)] {
        let token = tokens["access_token"].as_str().unwrap();
        for id in [1, 2, 3] {
            wait_until(
                &format!("{what}'s token inactive at node {id}"),
                SETTLE,
                || !active(node(id), token),
            );
        }
    }
    let (status, body) = node(3).refresh(OFFLINE_ID, alice["refresh_token"].as_str().unwrap());
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let status = node(1).cluster_status().unwrap();
    assert_eq!(status["configuration"], after.as_str(), "{status:#}");
    assert_eq!(status["configurations_agree"], true, "{status:#}");
}

#[test]
fn a_broken_file_changes_nothing_and_a_node_left_behind_is_flagged() {
    let cluster = Cluster::start("reload-broken", 3);
    let node = |id| cluster.node(id).unwrap();
    let before = node(2).configuration().unwrap();
    let good = std::fs::read_to_string(node(2).config_path()).unwrap();

    // A file that does not parse, then one that parses but fails a check.
    for (refused, (broken, reason)) in (1..).zip([
        (format!("{good}\n[[clients]\n"), "line"),
        (
            good.replace(&format!("\"{MACHINE_ID}\""), &format!("\"{APP_ID}\"")),
            "more than once",
        ),
    ]) {
        std::fs::write(node(2).config_path(), &broken).unwrap();
        let path = node(2).config_path();
        let (ok, _, err) = run_cli(&["reload", "--config", path.to_str().unwrap()], None);
        assert!(!ok, "ostium reload accepted a broken file ({reason})");
        assert!(err.contains(reason), "the error says what is wrong: {err}");
        node(2).node.hang_up();
        wait_until("the node reports the broken file", SETTLE, || {
            node(2)
                .node
                .log_text()
                .matches("configuration not reloaded")
                .count()
                >= refused
        });
        assert_eq!(node(2).configuration().as_ref(), Some(&before));
        assert_eq!(token_status(node(2), (MACHINE_ID, MACHINE_SECRET)).0, 200);
    }
    std::fs::write(node(2).config_path(), &good).unwrap();

    // Nodes 1 and 2 get a new client; node 3 is left behind. A changed listener
    // is reported as needing a restart, and not applied.
    for id in [1, 2] {
        let text = std::fs::read_to_string(node(id).config_path()).unwrap();
        let text = text.replace("workers = 2", "workers = 1");
        std::fs::write(node(id).config_path(), format!("{text}{}", new_client())).unwrap();
        node(id).node.hang_up();
    }
    wait_until("nodes 1 and 2 reload", SETTLE, || {
        [1, 2]
            .iter()
            .all(|id| node(*id).configuration().as_ref() != Some(&before))
    });
    assert!(
        node(1)
            .node
            .log_text()
            .contains("take effect only after a restart")
    );
    let status = node(3).cluster_status().unwrap();
    assert_eq!(status["configurations_agree"], false, "{status:#}");
    assert_eq!(
        status["nodes"]["3"]["configuration_agrees"], false,
        "{status:#}"
    );
    assert_eq!(
        status["nodes"]["1"]["configuration_agrees"], true,
        "{status:#}"
    );
    assert_eq!(token_status(node(3), (NEW_CLIENT, NEW_SECRET)).0, 401);
}
