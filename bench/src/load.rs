//! What the load benchmarks share: one refresh-token rotation through the token
//! endpoint, latency quantiles, the machine's CPU split between the nodes, the
//! benchmark's own clients and other work (the machine is shared), the snapshots a
//! node's log tells of, a small random generator, and refresh-token handles made
//! as the server makes them.

use std::thread;
use std::time::Instant;

use ostium_e2e::cluster::Cluster;
use ostium_e2e::fixture::{OFFLINE_ID, OFFLINE_SECRET};
use ostium_state::TokenDigest;
use ostium_tokens::handle::{self, LOCATOR_BYTES, Locator};
use reqwest::blocking::Client;
use serde_json::Value;

/// What each node logs when it has taken a snapshot, and when it has installed
/// the leader's instead (ostium-state).
pub const SNAPSHOT_LINE: &str = "took a snapshot of the state";
pub const INSTALLED_LINE: &str = "installed a snapshot from the leader";
/// One rotation: the successor of `token`, or what went wrong.
pub fn rotate(client: &Client, url: &str, token: &str) -> Result<String, String> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("grant_type", "refresh_token"), ("refresh_token", token)])
        .finish();
    let response = client
        .post(url)
        .basic_auth(OFFLINE_ID, Some(OFFLINE_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let text = response.text().map_err(|e| format!("HTTP {status}: {e}"))?;
    if status != 200 {
        return Err(format!("HTTP {status}: {text}"));
    }
    let body: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON ({e})"))?;
    match body["refresh_token"].as_str() {
        Some(next) if next != token => Ok(next.to_owned()),
        _ => Err(format!("HTTP 200 without a new refresh token: {text}")),
    }
}

/// The value at quantile `q` of sorted `times` (nearest rank), in milliseconds.
pub fn quantile(times: &[u64], q: f64) -> f64 {
    let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len());
    times[rank - 1] as f64 / 1000.0
}

/// CPU time so far, in clock ticks (`/proc`, 100 a second on Linux): the
/// machine's busy and total time, the nodes' (this process's children) and this
/// process's own (the clients). The machine is shared, so its busy time alone does
/// not say how much of it the benchmark took.
#[derive(Clone, Copy, Default)]
pub struct Cpu {
    pub busy: u64,
    pub total: u64,
    pub nodes: u64,
    pub clients: u64,
}

impl Cpu {
    pub fn now(nodes: &[u32]) -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|t| t.parse().ok())
            .collect();
        let total: u64 = ticks.iter().sum();
        // Fields 4 and 5 are idle and iowait.
        let idle = ticks.get(3).unwrap_or(&0) + ticks.get(4).unwrap_or(&0);
        Self {
            busy: total - idle,
            total,
            nodes: nodes
                .iter()
                .map(|pid| process_ticks(&pid.to_string()))
                .sum(),
            clients: process_ticks("self"),
        }
    }

    /// The CPU time used from `from` to `end`, sampled at each: waits until `end`.
    pub fn over(nodes: &[u32], from: Instant, end: Instant) -> Self {
        thread::sleep(from.saturating_duration_since(Instant::now()));
        let before = Self::now(nodes);
        thread::sleep(end.saturating_duration_since(Instant::now()));
        Self::now(nodes).since(before)
    }

    pub fn since(self, before: Self) -> Self {
        Self {
            busy: self.busy - before.busy,
            total: self.total - before.total,
            nodes: self.nodes - before.nodes,
            clients: self.clients - before.clients,
        }
    }
}

/// User and system time of process `pid`, in clock ticks; 0 if it is gone.
fn process_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name in parentheses: state is the first field, utime the
    // 12th and stime the 13th.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse().ok())
        .collect();
    fields.iter().sum()
}

/// The processes this one started and that still run: the nodes.
pub fn children() -> Vec<u32> {
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten();
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// When each snapshot line of a node's log text was written, in seconds after
/// `window_start` (a UTC time of day, in seconds, as the log's timestamps are).
pub fn snapshot_times(log: &str, window_start: f64) -> Vec<f64> {
    log.lines()
        .filter(|line| line.contains(SNAPSHOT_LINE))
        .filter_map(|line| {
            // `2026-12-01T15:12:22.123456Z  INFO ...`
            let time = line.split_whitespace().next()?.split_once('T')?.1;
            let mut parts = time.trim_end_matches('Z').split(':');
            let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
            let of_day = h.parse::<f64>().ok()? * 3600.0
                + m.parse::<f64>().ok()? * 60.0
                + s.parse::<f64>().ok()?;
            Some(of_day - window_start)
        })
        .collect()
}

/// The values of `field` (`index`, `records`, `total_ms`, …) in the snapshot lines
/// of a node's log text.
pub fn snapshot_field(log: &str, field: &str) -> Vec<u64> {
    let key = format!(" {field}=");
    log.lines()
        .filter(|line| line.contains(SNAPSHOT_LINE))
        .filter_map(|line| {
            let rest = &line[line.find(&key)? + key.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// The handle of token `generation` of the family `family`, located as the server
/// makes refresh tokens (`ostium_tokens::handle`): 8 bytes that every token of the
/// family shares, spread over the key space as the server's random ones are, then
/// 32 of the token's own. A function of its arguments, so that a benchmark can
/// name a family's next token without keeping it.
pub fn located_handle(family: &str, generation: u32) -> String {
    let locator = TokenDigest::of_handle(&format!("locator of {family}"));
    let own = TokenDigest::of_handle(&format!("{family} {generation}"));
    let locator: Locator = locator.as_bytes()[..LOCATOR_BYTES]
        .try_into()
        .expect("a digest is longer than a locator");
    handle::located_handle(&locator, own.as_bytes())
}

/// A small, fast generator (xorshift): which family a benchmark rotates next needs
/// only be spread out, not unpredictable.
pub struct Random(pub u64);

impl Random {
    /// A number below `n`, which must not be 0.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// How far each node's log had got at a moment, to read what each logged since.
pub struct LogMarks(Vec<usize>);

impl LogMarks {
    pub fn now(cluster: &Cluster) -> Self {
        Self(
            cluster
                .nodes
                .iter()
                .map(|n| n.node.log_text().len())
                .collect(),
        )
    }

    /// What each node (in `cluster.nodes` order) has logged since the marks.
    pub fn since(&self, cluster: &Cluster) -> Vec<String> {
        cluster
            .nodes
            .iter()
            .zip(&self.0)
            .map(|(n, &mark)| n.node.log_text().get(mark..).unwrap_or_default().to_owned())
            .collect()
    }
}
