//! Rotation latency at a fixed rate on a local three-node cluster (issue 10: p99 ≤ 20
//! ms and max ≤ 250 ms over five minutes, snapshots and log compaction included).
//!
//!     cargo build --release -p ostium
//!     cargo build --release -p ostium-bench --bin rotation_latency
//!     OSTIUM_BIN=$CARGO_TARGET_DIR/release/ostium \
//!       $CARGO_TARGET_DIR/release/rotation_latency --rate 1000 --seconds 300
//!
//! Options: `--rate` rotations per second in all (1000), `--chains` (48), `--seconds`
//! measured (300), `--warmup` seconds not recorded (5).
//!
//! It starts three core nodes, each a real `ostium` process, through the end-to-end
//! harness (`ostium-e2e`, the standard fixture; `OSTIUM_BIN` picks the binary). A
//! password grant gives each chain its first refresh token; the chains are spread
//! evenly over the nodes. Each chain then rotates its token (one Raft write) at the
//! node it is bound to, on a thread and a keep-alive connection of its own, on a
//! fixed schedule: request k of a chain is due `k * chains / rate` seconds after the
//! chain's start, the chains' starts `1 / rate` apart, so that the requests of all
//! chains together are evenly spaced at `rate` per second.
//!
//! The load is open-loop, as wrk2's: a request's latency runs from the moment it was
//! DUE to its answer, so a stall counts in full for every request it delays rather
//! than once (no coordinated omission); a chain behind schedule sends at once. Every
//! answer must be a 200 with a new refresh token; anything else is an error, printed,
//! after which that chain stops (its token may be spent) while the others go on.
//!
//! It prints count, achieved rate, p50, p90, p99, p99.9 and max for all requests and
//! per node (with the node that led at the start marked), the CPU the nodes, the
//! clients and other work on the machine took over the window, and the snapshots
//! each node took during the run with how far its log advanced. The snapshots are
//! read from each node's log ("took a snapshot of the state; the log before it can
//! be compacted"); after each one openraft compacts the log to
//! `log_kept_behind_snapshot` entries behind it. To show whether the tail is the
//! snapshots', it also lists the seconds of the window with requests slower than
//! 50 ms, slowest first, beside the times each node finished a snapshot.

use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ostium_bench::argument;
use ostium_bench::load::{
    Cpu, INSTALLED_LINE, LogMarks, children, load_average, quantile, rotate, snapshot_field,
    snapshot_times,
};
use ostium_e2e::cluster::Cluster;
use ostium_e2e::fixture::OFFLINE_ID;
use reqwest::blocking::Client;
use serde_json::Value;

/// The client's limit for one request: above a node's own 5-second patience, so
/// that a slow answer is measured rather than cut short.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests slower than this are listed by the second they were due in, beside the
/// times the nodes finished their snapshots, to show whether the tail is theirs.
const SLOW: Duration = Duration::from_millis(50);

/// What one chain measured.
struct Chain {
    node: u64,
    /// Due-to-answer times of the recorded requests, in microseconds.
    latencies: Vec<u64>,
    /// The recorded requests slower than [`SLOW`]: when each was due (seconds into
    /// the measured window) and its time in microseconds.
    slow: Vec<(f64, u64)>,
    /// When its last recorded answer came.
    last_answer: Option<Instant>,
    /// The error that stopped it: when it was answered (seconds into the measured
    /// window, negative in the warm-up), its time from due, and what it was.
    error: Option<(f64, Duration, String)>,
}

/// Runs one chain from `start` until `end`; requests due before `record_from` are
/// warm-up and not recorded.
fn run_chain(
    node: u64,
    url: &str,
    mut token: String,
    start: Instant,
    interval: Duration,
    record_from: Instant,
    end: Instant,
) -> Chain {
    let client = Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTP client");
    let mut chain = Chain {
        node,
        latencies: Vec::new(),
        slow: Vec::new(),
        last_answer: None,
        error: None,
    };
    for k in 0u32.. {
        let due = start + interval * k;
        if due >= end {
            break;
        }
        // Sleep until due; a chain behind schedule sends at once.
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let answer = rotate(&client, url, &token);
        let answered = Instant::now();
        match answer {
            Ok(next) => token = next,
            Err(error) => {
                let at = if answered >= record_from {
                    (answered - record_from).as_secs_f64()
                } else {
                    -(record_from - answered).as_secs_f64()
                };
                chain.error = Some((at, answered - due, error));
                break;
            }
        }
        if due >= record_from {
            let took = answered - due;
            if took > SLOW {
                let at = (due - record_from).as_secs_f64();
                chain.slow.push((at, took.as_micros() as u64));
            }
            chain.latencies.push(took.as_micros() as u64);
            chain.last_answer = Some(answered);
        }
    }
    chain
}

/// A table row for the chains in `chains`; `window_start` is when recording began.
fn row(label: &str, chains: &[&Chain], window_start: Instant) -> String {
    let mut times: Vec<u64> = chains
        .iter()
        .flat_map(|c| c.latencies.iter().copied())
        .collect();
    let errors = chains.iter().filter(|c| c.error.is_some()).count();
    if times.is_empty() {
        return format!(
            "| {label} | {} | 0 | — | — | — | — | — | — | — | {errors} |",
            chains.len()
        );
    }
    times.sort_unstable();
    // Achieved: answers over the time until the last of them, which is longer than
    // the schedule when the nodes fell behind it.
    let last = chains
        .iter()
        .filter_map(|c| c.last_answer)
        .max()
        .expect("an answer");
    let rate = times.len() as f64 / (last - window_start).as_secs_f64();
    format!(
        "| {label} | {} | {} | {rate:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {errors} |",
        chains.len(),
        times.len(),
        quantile(&times, 0.50),
        quantile(&times, 0.90),
        quantile(&times, 0.99),
        quantile(&times, 0.999),
        times[times.len() - 1] as f64 / 1000.0,
    )
}

/// Each node's last log index as `ostium cluster status` reports it (node id order);
/// `None` where it did not, rather than losing a run's figures to a failed command.
fn last_log_indexes(cluster: &Cluster) -> Vec<Option<u64>> {
    let status = cluster.nodes[0].cluster_status().unwrap_or_else(|e| {
        eprintln!("cluster status failed: {e}");
        Value::Null
    });
    cluster
        .nodes
        .iter()
        .map(|n| status["nodes"][n.id.to_string()]["last_log_index"].as_u64())
        .collect()
}

fn main() {
    let rate = argument("--rate", 1000);
    let chains = argument("--chains", 48);
    let seconds = argument("--seconds", 300);
    let warmup = argument("--warmup", 5);
    assert!(
        rate > 0 && chains > 0 && seconds > 0,
        "--rate, --chains and --seconds must be positive"
    );
    let cluster = Cluster::start("rotation-latency-bench", 3);
    let leader = cluster.wait_for_leader();
    // Chain i talks to node i mod 3, each starting from a login of its own there.
    let bound: Vec<(u64, String, String)> = (0..chains)
        .map(|i| {
            let node = &cluster.nodes[i % cluster.nodes.len()];
            let url = format!("{}/connect/token", node.issuer);
            (node.id, url, node.login(OFFLINE_ID))
        })
        .collect();

    let logs_before = LogMarks::now(&cluster);
    let indexes_before = last_log_indexes(&cluster);
    eprintln!(
        "leader: node {leader}; {chains} chains, {rate}/s in all, {warmup} s warm-up, \
         {seconds} s measured; load average {}",
        load_average()
    );

    // Each chain asks every `interval`; chain i starts i / rate after the first.
    let interval = Duration::from_secs_f64(chains as f64 / rate as f64);
    let start = Instant::now() + Duration::from_millis(200);
    let record_from = start + Duration::from_secs(warmup as u64);
    // The same moment as a UTC time of day, as the nodes' log lines give times.
    let record_from_of_day = {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        (now + (record_from - Instant::now()).as_secs_f64()) % 86_400.0
    };
    let end = record_from + Duration::from_secs(seconds as u64);
    let nodes = children();
    let (results, cpu) = thread::scope(|s| {
        let threads: Vec<_> = bound
            .into_iter()
            .enumerate()
            .map(|(i, (node, url, token))| {
                let own_start = start + Duration::from_secs_f64(i as f64 / rate as f64);
                s.spawn(move || run_chain(node, &url, token, own_start, interval, record_from, end))
            })
            .collect();
        let cpu = Cpu::over(&nodes, record_from, end);
        let results: Vec<Chain> = threads
            .into_iter()
            .map(|t| t.join().expect("a chain"))
            .collect();
        (results, cpu)
    });
    let busy = cpu.busy as f64 / cpu.total.max(1) as f64 * 100.0;
    // Ticks are hundredths of a second; as a share of the window's wall time.
    let cores = |ticks: u64| ticks as f64 / 100.0 / seconds as f64;

    let indexes_after = last_log_indexes(&cluster);
    // What each node logged from just before the run.
    let logs_during = logs_before.since(&cluster);
    let leader_after = cluster.wait_for_leader();
    println!(
        "\n{seconds} s measured at {rate}/s scheduled, {chains} chains; leader after: node \
         {leader_after}; load average after: {}",
        load_average()
    );
    println!(
        "CPU over the window: machine {busy:.0}% busy ({:.2} of {:.0} cores): the nodes {:.2}, \
         this client {:.2}, other work on the machine {:.2}\n",
        cores(cpu.busy),
        cores(cpu.total),
        cores(cpu.nodes),
        cores(cpu.clients),
        cores(cpu.busy.saturating_sub(cpu.nodes + cpu.clients)),
    );
    println!(
        "| requests | chains | answered | achieved /s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | chains stopped by an error |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let all: Vec<&Chain> = results.iter().collect();
    println!("{}", row("all", &all, record_from));
    for node in &cluster.nodes {
        let own: Vec<&Chain> = results.iter().filter(|c| c.node == node.id).collect();
        let role = if node.id == leader {
            "leader at start"
        } else {
            "follower at start"
        };
        println!(
            "{}",
            row(&format!("node {} ({role})", node.id), &own, record_from)
        );
    }

    println!(
        "\n| node | log entries during the run (warm-up included) | snapshots taken | at indexes | leader's snapshots installed |"
    );
    println!("|---|---:|---:|---|---:|");
    for (i, node) in cluster.nodes.iter().enumerate() {
        let during = &logs_during[i];
        let taken = snapshot_field(during, "index");
        let installed = during.matches(INSTALLED_LINE).count();
        let entries = match (indexes_before[i], indexes_after[i]) {
            (Some(before), Some(after)) => (after - before).to_string(),
            _ => "not reported".to_owned(),
        };
        let at: Vec<String> = taken.iter().map(u64::to_string).collect();
        println!(
            "| {} | {entries} | {} | {} | {installed} |",
            node.id,
            taken.len(),
            at.join(", ")
        );
    }

    // The tail by the second it fell in, slowest seconds first, beside the snapshots.
    let mut by_second: std::collections::BTreeMap<u64, (usize, u64)> = Default::default();
    for (at, took) in results.iter().flat_map(|c| c.slow.iter()) {
        let entry = by_second.entry(*at as u64).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(*took);
    }
    let mut seconds: Vec<_> = by_second.into_iter().collect();
    seconds.sort_by_key(|(_, (_, max))| std::cmp::Reverse(*max));
    println!(
        "\nrequests over {} ms: {} in {} seconds of the window; the slowest seconds (second: count, max ms):",
        SLOW.as_millis(),
        seconds.iter().map(|(_, (n, _))| n).sum::<usize>(),
        seconds.len()
    );
    let slowest: Vec<String> = seconds
        .iter()
        .take(15)
        .map(|(second, (n, max))| format!("{second}: {n}, {:.0}", *max as f64 / 1000.0))
        .collect();
    println!("  {}", slowest.join("; "));
    for (i, node) in cluster.nodes.iter().enumerate() {
        let times: Vec<String> = snapshot_times(&logs_during[i], record_from_of_day)
            .iter()
            .map(|t| format!("{t:.1}"))
            .collect();
        println!(
            "  node {} finished snapshots at (s into the window): {}",
            node.id,
            times.join(", ")
        );
    }

    for chain in results.iter().filter(|c| c.error.is_some()) {
        let (at, took, error) = chain.error.as_ref().expect("an error");
        println!(
            "\nchain at node {} stopped at {at:.1} s, {:.1} ms after due: {error}",
            chain.node,
            took.as_secs_f64() * 1000.0
        );
    }
}
