//! Revocation propagation on a local cluster (invariant 2, docs/architecture.md §4):
//! how long after a revocation is answered at node A does every other node reject the
//! token?
//!
//!     cargo build --release -p ostium
//!     OSTIUM_BIN=$CARGO_TARGET_DIR/release/ostium \
//!       cargo run --release -p ostium-bench --bin revocation_propagation -- --iterations 500
//!
//! It starts a cluster of real `ostium` processes through the end-to-end harness
//! (`ostium-e2e`, the standard fixture; `OSTIUM_BIN` picks the binary, the debug
//! build by default). Each iteration, with A taking each node in turn:
//!
//! 1. a password grant at A issues a refresh token (a new family) and a JWT access
//!    token (not measured);
//! 2. the refresh token is revoked at A; from the moment that answer is read, every
//!    other node is asked at once, by a thread of its own per check, again and again
//!    until it rejects: introspection by the client (`active: false`) and the
//!    refresh_token grant (`400 invalid_grant`);
//! 3. the access token is revoked at A, and every other node introspects it (as the
//!    API resource) until `active: false`.
//!
//! Each time is from A's answer to the rejecting answer at that node, so it includes
//! that one request's own round trip. It prints p50, p99 and max per check and for
//! "every other node, every check", how many checks rejected at their first attempt,
//! and any acceptance after a revocation was answered (a violation: exit status 1).

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ostium_e2e::cluster::Cluster;
use ostium_e2e::fixture::{
    AUDIENCE, OFFLINE_ID, OFFLINE_SECRET, PASSWORD, RESOURCE_SECRET, USERNAME,
};
use reqwest::blocking::Client;
use serde_json::Value;

/// How long a check keeps asking before it counts as never rejected.
const GIVE_UP: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Check {
    /// Introspection of the revoked refresh token, by its client.
    RefreshIntrospection,
    /// The refresh_token grant with the revoked refresh token.
    RefreshGrant,
    /// Introspection of the revoked JWT access token, by the API resource.
    AccessIntrospection,
}

const CHECKS: [Check; 3] = [
    Check::RefreshIntrospection,
    Check::RefreshGrant,
    Check::AccessIntrospection,
];

impl Check {
    fn label(self) -> &'static str {
        match self {
            Check::RefreshIntrospection => "refresh token: introspection inactive",
            Check::RefreshGrant => "refresh token: refresh_token grant refused",
            Check::AccessIntrospection => "access token: introspection inactive",
        }
    }
}

/// One check at one node, started the moment A's revocation answer was read.
struct Job {
    check: Check,
    token: String,
    revoked_at: Instant,
}

struct Outcome {
    /// From A's answer to the rejecting answer; `None` if it never came.
    elapsed: Option<Duration>,
    attempts: u32,
    /// Answers that accepted the token after its revocation was answered.
    accepted: u32,
}

/// Basic credentials, form-encoded first as RFC 6749 §2.3.1 says (`urn:orders`).
fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn post(client: &Client, url: &str, auth: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let response = client
        .post(url)
        .header("authorization", auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asks `base` once; true if it rejected the token.
fn rejected(client: &Client, base: &str, check: Check, token: &str) -> bool {
    let app = basic(OFFLINE_ID, OFFLINE_SECRET);
    match check {
        Check::RefreshIntrospection | Check::AccessIntrospection => {
            let auth = if check == Check::AccessIntrospection {
                basic(AUDIENCE, RESOURCE_SECRET)
            } else {
                app
            };
            let (status, body) = post(
                client,
                &format!("{base}/connect/introspect"),
                &auth,
                &[("token", token)],
            );
            assert_eq!(status, 200, "introspection at {base}: {body}");
            body["active"] == false
        }
        Check::RefreshGrant => {
            let (status, body) = post(
                client,
                &format!("{base}/connect/token"),
                &app,
                &[("grant_type", "refresh_token"), ("refresh_token", token)],
            );
            match status {
                200 => false,
                400 if body["error"] == "invalid_grant" => true,
                _ => panic!("refresh at {base}: unexpected {status} {body}"),
            }
        }
    }
}

/// A thread that runs checks against one node with its own keep-alive connection.
fn checker(base: String) -> (mpsc::Sender<Job>, mpsc::Receiver<Outcome>) {
    let (jobs, job_rx) = mpsc::channel::<Job>();
    let (outcome_tx, outcomes) = mpsc::channel();
    thread::spawn(move || {
        let client = Client::new();
        for job in job_rx {
            let mut attempts = 0;
            let mut accepted = 0;
            let elapsed = loop {
                attempts += 1;
                if rejected(&client, &base, job.check, &job.token) {
                    break Some(job.revoked_at.elapsed());
                }
                accepted += 1;
                if job.revoked_at.elapsed() > GIVE_UP {
                    break None;
                }
            };
            let outcome = Outcome {
                elapsed,
                attempts,
                accepted,
            };
            if outcome_tx.send(outcome).is_err() {
                return;
            }
        }
    });
    (jobs, outcomes)
}

struct Args {
    iterations: usize,
    nodes: u64,
}

fn args() -> Args {
    let mut parsed = Args {
        iterations: 500,
        nodes: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a positive number"))
        };
        match arg.as_str() {
            "--iterations" => parsed.iterations = value("--iterations"),
            "--nodes" => parsed.nodes = value("--nodes") as u64,
            "-h" | "--help" => {
                println!("revocation_propagation [--iterations N (500)] [--nodes N (3)]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other} (see --help)"),
        }
    }
    assert!(parsed.nodes >= 2, "--nodes: at least 2");
    assert!(parsed.iterations >= 1, "--iterations: at least 1");
    parsed
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

#[derive(Default)]
struct Series {
    times: Vec<Duration>,
    first_attempt: usize,
    never: usize,
    accepted: u32,
}

impl Series {
    fn add(&mut self, outcome: &Outcome) {
        match outcome.elapsed {
            Some(t) => self.times.push(t),
            None => self.never += 1,
        }
        if outcome.attempts == 1 && outcome.elapsed.is_some() {
            self.first_attempt += 1;
        }
        self.accepted += outcome.accepted;
    }

    fn row(&mut self, label: &str) -> String {
        self.times.sort();
        let n = self.times.len();
        if n == 0 {
            return format!(
                "| {label} | 0 | - | - | - | - | {} | {} |",
                self.never, self.accepted
            );
        }
        format!(
            "| {label} | {n} | {} | {} | {} | {} | {} | {} |",
            ms(percentile(&self.times, 50.0)),
            ms(percentile(&self.times, 99.0)),
            ms(self.times[n - 1]),
            self.first_attempt,
            self.never,
            self.accepted
        )
    }
}

fn main() {
    let args = args();
    eprintln!("starting a {}-node cluster", args.nodes);
    let cluster = Cluster::start("revocation-propagation", args.nodes);
    let leader = cluster.wait_for_leader();
    let bases: Vec<String> = cluster.nodes.iter().map(|n| n.issuer.clone()).collect();
    // One checker per node and check, so that every node is asked about every check
    // at once.
    let checkers: Vec<Vec<_>> = bases
        .iter()
        .map(|base| CHECKS.iter().map(|_| checker(base.clone())).collect())
        .collect();
    let client = Client::new();
    let app = basic(OFFLINE_ID, OFFLINE_SECRET);

    let mut per_check: Vec<Series> = CHECKS.iter().map(|_| Series::default()).collect();
    // Per revocation: the slowest other node (refresh: over both of its checks).
    let mut every_node_refresh = Series::default();
    let mut every_node_access = Series::default();
    let mut revoke_answer = Vec::with_capacity(args.iterations);
    let mut from_leader = Series::default();
    let mut from_follower = Series::default();

    eprintln!(
        "leader: node {leader}; {} iterations, A = each node in turn",
        args.iterations
    );
    for i in 0..args.iterations {
        let a = i % bases.len();
        let others: Vec<usize> = (0..bases.len()).filter(|n| *n != a).collect();
        let (status, tokens) = post(
            &client,
            &format!("{}/connect/token", bases[a]),
            &app,
            &[
                ("grant_type", "password"),
                ("username", USERNAME),
                ("password", PASSWORD),
                ("scope", "openid orders.read offline_access"),
            ],
        );
        assert_eq!(status, 200, "password grant: {tokens}");
        let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
        let access = tokens["access_token"].as_str().expect("an access token");

        for (revoked, checks) in [
            (
                refresh,
                &[Check::RefreshIntrospection, Check::RefreshGrant][..],
            ),
            (access, &[Check::AccessIntrospection][..]),
        ] {
            let sent = Instant::now();
            let (status, body) = post(
                &client,
                &format!("{}/connect/revocation", bases[a]),
                &app,
                &[("token", revoked)],
            );
            let revoked_at = Instant::now();
            assert_eq!(status, 200, "revocation at node {}: {body}", a + 1);
            revoke_answer.push(revoked_at - sent);
            let mut started = Vec::new();
            for &n in &others {
                for &check in checks {
                    let c = CHECKS.iter().position(|k| *k == check).expect("a check");
                    checkers[n][c]
                        .0
                        .send(Job {
                            check,
                            token: revoked.to_owned(),
                            revoked_at,
                        })
                        .expect("checker running");
                    started.push(c);
                }
            }
            let mut slowest = Outcome {
                elapsed: Some(Duration::ZERO),
                attempts: 1,
                accepted: 0,
            };
            for (k, &c) in started.iter().enumerate() {
                let n = others[k / checks.len()];
                let outcome = checkers[n][c].1.recv().expect("checker answers");
                per_check[c].add(&outcome);
                slowest.accepted += outcome.accepted;
                slowest.attempts = slowest.attempts.max(outcome.attempts);
                slowest.elapsed = match (slowest.elapsed, outcome.elapsed) {
                    (Some(s), Some(o)) => Some(s.max(o)),
                    _ => None,
                };
            }
            if checks.len() == 2 {
                every_node_refresh.add(&slowest);
            } else {
                every_node_access.add(&slowest);
            }
            if cluster.nodes[a].id == leader {
                from_leader.add(&slowest);
            } else {
                from_follower.add(&slowest);
            }
        }
        if (i + 1) % 100 == 0 {
            eprintln!("{} iterations", i + 1);
        }
    }

    revoke_answer.sort();
    println!(
        "Revocation propagation: {} nodes, leader node {leader}, {} iterations (A = each node in turn)",
        args.nodes, args.iterations
    );
    println!();
    println!(
        "| from A's revocation answer until rejected | samples | p50 ms | p99 ms | max ms | at 1st attempt | never (>{}s) | accepted after revocation |",
        GIVE_UP.as_secs()
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (check, series) in CHECKS.iter().zip(per_check.iter_mut()) {
        println!(
            "{}",
            series.row(&format!("{}, each other node", check.label()))
        );
    }
    println!(
        "{}",
        every_node_refresh.row("**refresh token: every other node, both checks**")
    );
    println!(
        "{}",
        every_node_access.row("**access token: every other node**")
    );
    println!(
        "{}",
        from_leader.row("every other node, A the leader (both tokens)")
    );
    println!(
        "{}",
        from_follower.row("every other node, A a follower (both tokens)")
    );
    println!();
    println!(
        "revocation answer at A: p50 {} ms, p99 {} ms, max {} ms ({} revocations)",
        ms(percentile(&revoke_answer, 50.0)),
        ms(percentile(&revoke_answer, 99.0)),
        ms(revoke_answer[revoke_answer.len() - 1]),
        revoke_answer.len()
    );
    let violations = every_node_refresh.accepted
        + every_node_access.accepted
        + u32::try_from(every_node_refresh.never + every_node_access.never).unwrap_or(u32::MAX);
    if violations > 0 {
        println!(
            "VIOLATION: {violations} acceptances (or no rejection) after a revocation was answered"
        );
        std::process::exit(1);
    }
}
