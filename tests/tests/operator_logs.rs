//! What an operator reads in a node's log (docs/operations.md, "Logs"): Ostium's own
//! account of the cluster at `info` (a leader elected, a peer unreachable and back)
//! without openraft's `info` chatter, one line per change instead of a warning per
//! failed heartbeat, and JSON lines with `RUST_LOG` still obeyed.

use std::time::Duration;

use ostium_e2e::cluster::Cluster;
use ostium_e2e::fixture::SingleNode;
use ostium_e2e::wait_until;

const SETTLE: Duration = Duration::from_secs(30);

/// The lines of `log` that contain every one of `parts`.
fn lines<'a>(log: &'a str, parts: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .collect()
}

#[test]
fn a_follower_gone_and_back_is_one_line_each_at_the_leader() {
    let mut cluster = Cluster::start("operator-logs", 3);
    let leader = cluster.wait_for_leader();
    for node in &cluster.nodes {
        let log = node.node.log_text();
        let elected = if node.id == leader {
            "this node was elected leader"
        } else {
            "leader elected"
        };
        wait_until(&format!("node {} logs its leader", node.id), SETTLE, || {
            !lines(&node.node.log_text(), &[elected]).is_empty()
        });
        assert!(
            lines(&log, &[" INFO ", "openraft"]).is_empty(),
            "openraft's info lines are not logged by default:\n{log}"
        );
    }

    let follower = cluster.nodes.iter().find(|n| n.id != leader).unwrap().id;
    let peer = format!("peer={follower} ");
    // Only what is logged from now on: peers starting at different moments are
    // unreachable, then back, while the cluster forms.
    let before = cluster.node(leader).unwrap().node.log_text().len();
    cluster.node_mut(follower).node.kill();
    let leader_log =
        |cluster: &Cluster| cluster.node(leader).unwrap().node.log_text()[before..].to_owned();
    wait_until("the leader logs the follower unreachable", SETTLE, || {
        !lines(&leader_log(&cluster), &["peer unreachable", &peer]).is_empty()
    });
    // Some sixty heartbeats fail meanwhile (one every 50 ms), each of which openraft
    // warns about: the first as the connection is reset while the process dies,
    // the rest as it is refused.
    std::thread::sleep(Duration::from_secs(3));
    let log = leader_log(&cluster);
    assert_eq!(
        lines(&log, &["peer unreachable", &peer]).len(),
        1,
        "one line for the change:\n{log}"
    );
    // Each warning once, whatever its time: a reset and a refusal are two warnings,
    // the tenth refusal is a repeat.
    let heartbeats: Vec<&str> = lines(&log, &["failed to send a heartbeat"])
        .into_iter()
        .map(|line| line.split_once(' ').map_or(line, |(_, rest)| rest))
        .collect();
    let distinct: std::collections::BTreeSet<&str> = heartbeats.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        heartbeats.len(),
        "repeated warnings are held back:\n{log}"
    );

    cluster.node_mut(follower).node.relaunch();
    wait_until("the leader logs the follower back", SETTLE, || {
        !lines(&leader_log(&cluster), &["peer back", &peer]).is_empty()
    });
    let log = leader_log(&cluster);
    let back = lines(&log, &["peer back", &peer]);
    assert_eq!(back.len(), 1, "{log}");
    assert!(back[0].contains("failed_calls="), "{}", back[0]);
}

#[test]
fn json_logs_follow_rust_log() {
    let node = SingleNode::start_with_env(
        "json-logs",
        "ES256",
        "",
        &[("OSTIUM_LOG_FORMAT", "json"), ("RUST_LOG", "info")],
    );
    let log = node.node.log_text();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let logged = |target: &str| {
        events.iter().any(|e| {
            e["level"] == "INFO" && e["target"].as_str().is_some_and(|t| t.starts_with(target))
        })
    };
    assert!(logged("ostium_server"), "{log}");
    // RUST_LOG=info asks for every library's info lines, openraft's included.
    assert!(logged("openraft"), "{log}");
}
