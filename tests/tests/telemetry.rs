//! Traces and metrics exported over OTLP, gRPC and HTTP/protobuf alike, to a local
//! receiver: the HTTP server span and metric of the semantic conventions, and one
//! trace from the request through the grant actor to the Raft commit and the Redis
//! write-through, across nodes when a follower forwards the write to the leader.

use std::time::{Duration, Instant};

use ostium_e2e::cluster::Cluster;
use ostium_e2e::fixture::*;
use ostium_e2e::otlp::{OtlpReceiver, ReceivedSpan};
use ostium_e2e::redis::Redis;
use ostium_e2e::{Node, TestDir, free_port, post_form};

const PATIENCE: Duration = Duration::from_secs(30);

fn find<'a>(spans: &'a [ReceivedSpan], name: &str) -> impl Iterator<Item = &'a ReceivedSpan> {
    let name = name.to_owned();
    spans.iter().filter(move |s| s.name == name)
}

/// The span `child`'s parent, by id within its trace.
fn parent<'a>(spans: &'a [ReceivedSpan], child: &ReceivedSpan) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|s| s.trace_id == child.trace_id && s.span_id == child.parent_span_id)
}

fn login(issuer: &str) -> u16 {
    post_form(
        &format!("{issuer}/connect/token"),
        Some((OFFLINE_ID, OFFLINE_SECRET)),
        &[
            ("grant_type", "password"),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("scope", "openid orders.read offline_access"),
        ],
    )
    .status()
    .as_u16()
}

/// A single core writing through to Redis, exporting to `receiver`: a login proposes
/// a new refresh-token family, which the leader writes through to Redis once it
/// vouches for the cache.
fn traced_node(name: &str, receiver: &OtlpReceiver, redis: &Redis) -> (Node, String, TestDir) {
    let dir = TestDir::new(name);
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let cache = format!(
        "[cache]\nredis_url = \"{}\"\nnamespace = \"{name}\"\n",
        redis.url()
    );
    let config = config(port, dir.path(), "ES256", &cache);
    let env = receiver.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let node = Node::start_with_env(dir.path(), &config, &issuer, &env);
    (node, issuer, dir)
}

fn one_trace_from_request_to_redis(receiver: &OtlpReceiver, name: &str) {
    let redis = Redis::start();
    let (node, issuer, _dir) = traced_node(name, receiver, &redis);
    // The write-through starts once the leader has refilled the cache, shortly after
    // start: log in until a write-through joins a request's trace.
    let started = Instant::now();
    let write = loop {
        assert_eq!(login(&issuer), 200);
        let spans = receiver.spans();
        if let Some(write) = find(&spans, "redis write-through").next() {
            break write.clone();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no Redis write-through span; spans: {:?}\n{}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>(),
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Its ancestors arrive in the same or a later batch.
    let chain = receiver.wait_for(
        "the write-through's trace up to the request",
        PATIENCE,
        |spans, _| {
            let commit = parent(spans, &write)?;
            let actor = parent(spans, commit)?;
            let request = parent(spans, actor)?;
            Some((commit.clone(), actor.clone(), request.clone()))
        },
    );
    let (commit, actor, request) = chain;
    assert_eq!(commit.name, "raft client_write");
    assert_eq!(commit.attributes["command"], "issue_refresh_token/v2");
    assert_eq!(actor.name, "actor password");
    assert_eq!(request.name, "POST /connect/token");
    assert!(
        request.parent_span_id.is_empty(),
        "the request span starts the trace"
    );
    for (key, value) in [
        ("http.request.method", "POST"),
        ("http.route", "/connect/token"),
        ("http.response.status_code", "200"),
        ("url.scheme", "http"),
    ] {
        assert_eq!(
            request.attributes.get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }
    for (key, value) in [
        ("service.name", "ostium"),
        ("service.instance.id", "1"),
        ("ostium.node.id", "1"),
        ("ostium.node.role", "core"),
    ] {
        assert_eq!(
            request.resource.get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }
    for span in [&write, &commit, &actor, &request] {
        let text = format!("{span:?}");
        assert!(
            !text.contains(OFFLINE_SECRET) && !text.contains(PASSWORD),
            "a secret in {span:?}"
        );
    }

    let point = receiver.wait_for("http.server.request.duration", PATIENCE, |_, points| {
        points
            .iter()
            .find(|p| {
                p.metric == "http.server.request.duration"
                    && p.attributes.get("http.route").map(String::as_str) == Some("/connect/token")
                    && p.attributes
                        .get("http.response.status_code")
                        .map(String::as_str)
                        == Some("200")
            })
            .cloned()
    });
    assert_eq!(point.unit, "s");
    assert_eq!(point.attributes["http.request.method"], "POST");
    assert!(point.count >= 1.0, "{point:?}");
    assert_eq!(point.resource["service.name"], "ostium");
    drop(node);
}

#[test]
fn traces_and_metrics_reach_an_otlp_grpc_receiver() {
    one_trace_from_request_to_redis(&OtlpReceiver::grpc(), "otlp-grpc");
}

#[test]
fn traces_and_metrics_reach_an_otlp_http_receiver() {
    one_trace_from_request_to_redis(&OtlpReceiver::http(), "otlp-http");
}

/// A login sent to a follower is proposed at the leader: the follower forwards it
/// with its `traceparent`, and the leader's commit is in the request's trace.
#[test]
fn a_write_forwarded_by_a_follower_stays_in_the_requests_trace() {
    let receiver = OtlpReceiver::grpc();
    let cluster = Cluster::start_with_env("otlp-forward", 3, None, &receiver.env());
    let leader = cluster.wait_for_leader();
    let follower = cluster
        .nodes
        .iter()
        .find(|n| n.id != leader)
        .expect("a follower");
    follower.login(OFFLINE_ID);
    let follower_id = follower.id.to_string();
    let leader_id = leader.to_string();
    // Nodes also propose outside any request (the signing key at start), each such
    // proposal a trace of its own: start from the request.
    let (request, forward, served, commit) = receiver.wait_for(
        "the leader's commit in the follower's request trace",
        PATIENCE,
        |spans, _| {
            find(spans, "POST /connect/token")
                .filter(|r| r.resource.get("ostium.node.id") == Some(&follower_id))
                .find_map(|request| {
                    let in_trace = |s: &&ReceivedSpan| s.trace_id == request.trace_id;
                    let forward = find(spans, "raft forward to leader").find(in_trace)?;
                    let served = spans
                        .iter()
                        .filter(in_trace)
                        .find(|s| s.parent_span_id == forward.span_id)?;
                    let commit = spans.iter().filter(in_trace).find(|s| {
                        s.parent_span_id == served.span_id && s.name == "raft client_write"
                    })?;
                    let root = std::iter::successors(Some(forward), |s| parent(spans, s)).last()?;
                    (root.span_id == request.span_id).then(|| {
                        (
                            request.clone(),
                            forward.clone(),
                            served.clone(),
                            commit.clone(),
                        )
                    })
                })
        },
    );
    assert_eq!(forward.resource["ostium.node.id"], follower_id);
    assert_eq!(served.name, "cluster propose");
    assert_eq!(served.resource["ostium.node.id"], leader_id);
    assert_eq!(commit.resource["ostium.node.id"], leader_id);
    assert_eq!(commit.attributes["command"], "issue_refresh_token/v2");
    assert_eq!(request.trace_id, commit.trace_id);
}
