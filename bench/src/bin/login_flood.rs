//! A real user's password login while another address floods the node with wrong
//! passwords: how much slower it gets (RFC 6749 §4.3.2's brute-force protection
//! must not turn into a denial of service for everyone else).
//!
//!     cargo build --release -p ostium
//!     OSTIUM_BIN=$CARGO_TARGET_DIR/release/ostium \
//!       cargo run --release -p ostium-bench --bin login_flood -- --flood 400 --logins 20
//!
//! One node with the end-to-end harness's standard fixture. The real user logs in
//! from 127.0.0.2, one login after another, first with the node idle, then while
//! `--flood` threads log in from 127.0.0.1 with wrong passwords for another username,
//! each as fast as the node answers. It prints the real user's p50 and max in both
//! phases and their ratio, and how the flood was answered.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ostium_bench::argument;
use ostium_e2e::fixture::{OFFLINE_ID, OFFLINE_SECRET, PASSWORD, SingleNode, USERNAME};
use reqwest::blocking::Client;

fn client(from: Ipv4Addr) -> Client {
    Client::builder()
        .local_address(IpAddr::V4(from))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

fn login(client: &Client, endpoint: &str, username: &str, password: &str) -> u16 {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("scope", "orders.read"),
            ("client_id", OFFLINE_ID),
            ("client_secret", OFFLINE_SECRET),
        ])
        .finish();
    client
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .map_or(0, |r| r.status().as_u16())
}

/// `count` logins of the real user, one after another: their durations, sorted.
fn real_logins(endpoint: &str, count: usize) -> Vec<Duration> {
    let client = client(Ipv4Addr::new(127, 0, 0, 2));
    let mut times: Vec<Duration> = (0..count)
        .map(|_| {
            let started = Instant::now();
            let status = login(&client, endpoint, USERNAME, PASSWORD);
            assert_eq!(status, 200, "the real user's login was refused");
            started.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let flood = argument("--flood", 400);
    let count = argument("--logins", 20);
    let node = SingleNode::start("login-flood");
    let endpoint = node.token_endpoint();
    // Warm up the connection and the node.
    real_logins(&endpoint, 2);
    let idle = real_logins(&endpoint, count);

    let stop = Arc::new(AtomicBool::new(false));
    let answers: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let flooders: Vec<_> = (0..flood)
        .map(|_| {
            let (stop, answers, endpoint) = (stop.clone(), answers.clone(), endpoint.clone());
            thread::spawn(move || {
                let client = client(Ipv4Addr::new(127, 0, 0, 1));
                while !stop.load(Ordering::Relaxed) {
                    let slot = match login(&client, &endpoint, "mallory-target", "guess") {
                        400 => 0,
                        503 => 1,
                        _ => 2,
                    };
                    answers[slot].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(2));
    let flooded = real_logins(&endpoint, count);
    stop.store(true, Ordering::Relaxed);
    for flooder in flooders {
        let _ = flooder.join();
    }

    let p50 = |times: &[Duration]| times[times.len() / 2];
    let max = |times: &[Duration]| times[times.len() - 1];
    println!(
        "real user's login from 127.0.0.2, {count} each, while {flood} threads guess from 127.0.0.1:"
    );
    println!("| phase | p50 ms | max ms |");
    println!("|---|---:|---:|");
    println!(
        "| idle | {:.1} | {:.1} |",
        millis(p50(&idle)),
        millis(max(&idle))
    );
    println!(
        "| flooded | {:.1} | {:.1} |",
        millis(p50(&flooded)),
        millis(max(&flooded))
    );
    println!(
        "- p50 ratio flooded / idle: **{:.2}x**",
        millis(p50(&flooded)) / millis(p50(&idle))
    );
    println!(
        "- flood answers: {} invalid_grant, {} 503, {} other",
        answers[0].load(Ordering::Relaxed),
        answers[1].load(Ordering::Relaxed),
        answers[2].load(Ordering::Relaxed)
    );
}
