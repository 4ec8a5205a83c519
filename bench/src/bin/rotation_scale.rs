//! Rotation throughput through the token endpoint of a local three-node cluster with
//! ten thousand and then a million live refresh families, in one run (issue 10: the
//! rate with 1,000,000 at least 80% of the rate with 10,000, same cluster, same run).
//!
//!     cargo build --release -p ostium
//!     cargo build --release -p ostium-bench --bin rotation_scale
//!     OSTIUM_BIN=$CARGO_TARGET_DIR/release/ostium \
//!       $CARGO_TARGET_DIR/release/rotation_scale --families 1000000
//!
//! Options: `--small` families of the first measurement (10,000), `--families` of the
//! second (1,000,000), `--chains` (48), `--seconds` per measurement (60), `--warmup`
//! seconds not recorded before each (5), `--in-flight` proposals while building (64).
//!
//! It starts three core nodes, each a real `ostium` process, through the end-to-end
//! harness (the standard fixture; `OSTIUM_BIN` picks the binary). The families are
//! built through the Raft API, as `state_scale` builds them, but in the cluster:
//! signed `propose` calls to the leader's cluster API, each the first refresh token
//! of a family, with a handle this program made and the grant of a real one (a
//! password grant's, read back through the cluster API) as template. So the
//! families are the server's own records, and their handles work at the token
//! endpoint.
//!
//! Each measurement is closed-loop: `--chains` threads, each on a keep-alive
//! connection of its own to one node (spread evenly over the nodes), each rotating a
//! random family of its own share (family `i` is chain `i mod chains`'s, so no two
//! chains hold one family) through the `refresh_token` grant, one request after
//! another, for `--seconds`. Every answer must be a 200 with a new refresh token;
//! anything else is printed and stops that chain. It prints each measurement's
//! rotations a second, p50, p99 and max, and the CPU the nodes took, the ratio of
//! the second rate to the first, and the snapshots each node took during each
//! measurement (from its log), with their records and how long each took.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ostium_bench::argument;
use ostium_bench::load::{
    Cpu, LogMarks, Random, children, load_average, located_handle, quantile, rotate, snapshot_field,
};
use ostium_e2e::cluster::{CLUSTER_SECRET, Cluster};
use ostium_e2e::fixture::OFFLINE_ID;
use ostium_state::command::IssueRefreshToken;
use ostium_state::network::cluster::{StateAnswer, StateRead};
use ostium_state::network::{ClusterClient, ClusterReply};
use ostium_state::{
    ClusterSecret, FamilyId, RefreshTokenRecord, StateCommand, StateResponse, TokenDigest,
};
use reqwest::blocking::Client;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// The first handle of family `i`, located as the server makes them. `salt` keeps
/// two runs' handles apart.
fn first_handle(i: usize, salt: u128) -> String {
    located_handle(&format!("{salt}-{i}"), 0)
}

/// The first token of family `i`, granted as `template` was, issued now.
fn issue(i: usize, handle: &str, template: &RefreshTokenRecord, at: u64) -> StateCommand {
    StateCommand::IssueRefreshToken(IssueRefreshToken {
        family: FamilyId(format!("rotation-scale-{i:08}")),
        digest: TokenDigest::of_handle(handle),
        client_id: template.client_id.clone(),
        subject: template.subject.clone(),
        scope: template.scope.clone(),
        audiences: template.audiences.clone(),
        usage: template.usage,
        expiration: template.expiration,
        absolute_expires_at: at + (template.absolute_expires_at - template.issued_at),
        sliding_lifetime: template.sliding_lifetime,
        at,
        auth_time: template.auth_time,
        amr: template.amr.clone(),
    })
}

/// The cluster API, at the leader's Raft address.
struct Api {
    client: ClusterClient,
    /// Where proposals go: the leader as last heard of.
    leader: Mutex<String>,
    /// Proposals that met no leader (an election) and were made again.
    retried: AtomicUsize,
}

impl Api {
    fn leader(&self) -> String {
        self.leader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Proposes the first token of family `i` until the cluster has it, through a
    /// change of leader: a retry whose first attempt was applied is a duplicate.
    async fn issue(&self, i: usize, handle: &str, template: &RefreshTokenRecord) {
        let command = issue(i, handle, template, unix_now());
        let mut attempts = 0;
        loop {
            let leader = self.leader();
            match self.client.propose(&leader, &command).await {
                Ok(ClusterReply::Done(StateResponse::Issued)) => return,
                Ok(ClusterReply::Done(StateResponse::Duplicate)) if attempts > 0 => return,
                Ok(ClusterReply::NotLeader(known)) if attempts < 100 => {
                    if let Some(known) = known {
                        *self.leader.lock().unwrap_or_else(PoisonError::into_inner) = known;
                    }
                    self.retried.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // The leader changed under the proposal, or could not be reached:
                // ask again, and the node answers with the leader it knows.
                Ok(ClusterReply::Failed(_)) | Err(_) if attempts < 100 => {
                    self.retried.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("issuing family {i}: {other:?}"),
            }
            attempts += 1;
        }
    }

    /// The record of the refresh token `handle`, read through the cluster API.
    async fn refresh_record(&self, handle: &str) -> RefreshTokenRecord {
        let read = StateRead::Lookup {
            digest: TokenDigest::of_handle(handle),
            now: unix_now(),
        };
        match self.client.read(&self.leader(), &read).await {
            Ok(ClusterReply::Done(StateAnswer::Facts(facts))) => facts
                .refresh
                .expect("the login's refresh token is in the state"),
            other => panic!("reading the template token: {other:?}"),
        }
    }

    /// Proposes the first tokens of families `from..to`, `in_flight` at a time.
    async fn build(
        self: &Arc<Self>,
        handles: &[String],
        from: usize,
        to: usize,
        template: &RefreshTokenRecord,
        in_flight: usize,
    ) {
        let next = Arc::new(AtomicUsize::new(from));
        let handles: Arc<[String]> = handles[..to].into();
        let template = Arc::new(template.clone());
        let workers: Vec<_> = (0..in_flight)
            .map(|_| {
                let (api, next, handles, template) = (
                    self.clone(),
                    next.clone(),
                    handles.clone(),
                    template.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= to {
                            return;
                        }
                        api.issue(i, &handles[i], &template).await;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.expect("a builder");
        }
    }
}

/// What one chain measured.
#[derive(Default)]
struct Measured {
    /// Request times of the recorded rotations, in microseconds.
    latencies: Vec<u64>,
    error: Option<String>,
}

/// Rotates random families of `share` (the current handles of this chain's live
/// families) at `url` until `end`, recording from `record_from`.
fn run_chain(
    url: &str,
    share: &mut [String],
    seed: u64,
    record_from: Instant,
    end: Instant,
) -> Measured {
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    let mut random = Random(seed);
    let mut measured = Measured::default();
    // With fewer families than chains, some chains have none.
    while !share.is_empty() && Instant::now() < end {
        let k = random.below(share.len());
        let sent = Instant::now();
        match rotate(&client, url, &share[k]) {
            Ok(next) => share[k] = next,
            Err(error) => {
                measured.error = Some(error);
                break;
            }
        }
        if sent >= record_from {
            measured.latencies.push(sent.elapsed().as_micros() as u64);
        }
    }
    measured
}

/// One measurement over the first `families` families: their rotations a second.
/// The snapshots the nodes took meanwhile go to `snapshots`, one line per node.
fn measure(
    cluster: &Cluster,
    shares: &mut [Vec<String>],
    families: usize,
    (seconds, warmup): (u64, u64),
    snapshots: &mut Vec<String>,
) -> f64 {
    let chains = shares.len();
    let logs_before = LogMarks::now(cluster);
    let nodes = children();
    let record_from = Instant::now() + Duration::from_secs(warmup);
    let end = record_from + Duration::from_secs(seconds);
    let (results, cpu) = thread::scope(|s| {
        let threads: Vec<_> = shares
            .iter_mut()
            .enumerate()
            .map(|(c, share)| {
                // Chain c holds families c, c + chains, …: those below `families`.
                let live = families.saturating_sub(c).div_ceil(chains);
                let node = &cluster.nodes[c % cluster.nodes.len()];
                let url = format!("{}/connect/token", node.issuer);
                s.spawn(move || run_chain(&url, &mut share[..live], c as u64 + 1, record_from, end))
            })
            .collect();
        let cpu = Cpu::over(&nodes, record_from, end);
        let results: Vec<Measured> = threads
            .into_iter()
            .map(|t| t.join().expect("a chain"))
            .collect();
        (results, cpu)
    });
    for (node, during) in cluster.nodes.iter().zip(logs_before.since(cluster)) {
        snapshots.push(format!(
            "with {families} families, node {}: snapshots at indexes {:?}, of {:?} records, \
             taking {:?} ms",
            node.id,
            snapshot_field(&during, "index"),
            snapshot_field(&during, "records"),
            snapshot_field(&during, "total_ms"),
        ));
    }
    let mut times: Vec<u64> = results
        .iter()
        .flat_map(|m| m.latencies.iter().copied())
        .collect();
    times.sort_unstable();
    let stopped: Vec<&String> = results.iter().filter_map(|m| m.error.as_ref()).collect();
    for error in &stopped {
        eprintln!("a chain stopped: {error}");
    }
    let rate = times.len() as f64 / seconds as f64;
    let cores = |ticks: u64| ticks as f64 / 100.0 / seconds as f64;
    if times.is_empty() {
        println!(
            "| {families} | 0 | 0 | — | — | — | — | — | {} |",
            stopped.len()
        );
        return 0.0;
    }
    println!(
        "| {families} | {} | {rate:.0} | {:.1} | {:.1} | {:.1} | {:.2} of {:.0} ({:.2} the nodes) | {} |",
        times.len(),
        quantile(&times, 0.50),
        quantile(&times, 0.99),
        times[times.len() - 1] as f64 / 1000.0,
        cores(cpu.busy),
        cores(cpu.total),
        cores(cpu.nodes),
        stopped.len(),
    );
    rate
}

fn main() {
    let small = argument("--small", 10_000);
    let families = argument("--families", 1_000_000);
    let chains = argument("--chains", 48);
    let seconds = argument("--seconds", 60) as u64;
    let warmup = argument("--warmup", 5) as u64;
    let in_flight = argument("--in-flight", 64);
    assert!(
        0 < small && small <= families && chains > 0 && seconds > 0 && in_flight > 0,
        "0 < --small <= --families, and --chains, --seconds and --in-flight positive"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");

    let cluster = Cluster::start("rotation-scale-bench", 3);
    let leader = cluster.wait_for_leader();
    let leader_node = cluster.node(leader).expect("the leader is a member");
    let secret = ClusterSecret::new(CLUSTER_SECRET.as_bytes()).expect("a long secret");
    let api = Arc::new(Api {
        client: ClusterClient::new(secret, Duration::from_secs(30)).expect("a cluster client"),
        leader: Mutex::new(format!("127.0.0.1:{}", leader_node.raft_port)),
        retried: AtomicUsize::new(0),
    });
    let template = runtime.block_on(api.refresh_record(&leader_node.login(OFFLINE_ID)));
    let salt = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    let handles: Vec<String> = (0..families).map(|i| first_handle(i, salt)).collect();
    eprintln!(
        "leader: node {leader}; {chains} chains, {seconds} s measured after {warmup} s of \
         warm-up; load average {}",
        load_average()
    );

    let started = Instant::now();
    runtime.block_on(api.build(&handles, 0, small, &template, in_flight));
    eprintln!(
        "built {small} families in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Family i is chain (i mod chains)'s, at place i / chains of its share.
    let mut shares: Vec<Vec<String>> = vec![Vec::new(); chains];
    for (i, handle) in handles.iter().enumerate() {
        shares[i % chains].push(handle.clone());
    }

    println!(
        "\n| live families | rotations | rotations/s | p50 ms | p99 ms | max ms | CPU cores busy | chains stopped |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---|---:|");
    let mut snapshots = Vec::new();
    let small_rate = measure(
        &cluster,
        &mut shares,
        small,
        (seconds, warmup),
        &mut snapshots,
    );

    let started = Instant::now();
    runtime.block_on(api.build(&handles, small, families, &template, in_flight));
    let built = started.elapsed().as_secs_f64();
    eprintln!(
        "built {} more families in {built:.0} s; {} proposals made again after meeting no \
         leader",
        families - small,
        api.retried.load(Ordering::Relaxed)
    );
    drop(handles);
    let large_rate = measure(
        &cluster,
        &mut shares,
        families,
        (seconds, warmup),
        &mut snapshots,
    );

    println!(
        "\nbuilt {} more families in {built:.0} s ({:.0}/s); rotations with {families} live \
         families: {:.0}% of the rate with {small}; load average after: {}",
        families - small,
        (families - small) as f64 / built,
        large_rate / small_rate * 100.0,
        load_average()
    );
    for line in snapshots {
        println!("{line}");
    }
}
