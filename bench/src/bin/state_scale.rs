//! The replicated state at scale: a core's memory, rotation throughput, a learner's
//! memory while it receives the state, and restart time with N live refresh
//! families, built through the Raft API.
//!
//!     cargo build --release -p ostium-bench --bin state_scale
//!     target/release/state_scale --families 1000000 --rotations 100000 \
//!       --steady-seconds 3000
//!
//! One core node (a cluster of one) runs in this process, with its data directory in
//! a temporary folder and `[state] cache_mb` from `--cache-mb` (default 64, as the
//! server's). Commands are made as they are proposed, so the process's memory is the
//! node's. The program:
//! 1. issues `--small` families (10,000), then rotates `--rotations` random ones of
//!    them (in rounds of distinct families), `--in-flight` proposals at a time, and
//!    prints rotations per second;
//! 2. issues families up to `--families`, in the same way, and prints how long that
//!    took;
//! 3. rotates `--rotations` random families of all of them and prints rotations per
//!    second, and the ratio to step 1;
//! 4. with `--steady-seconds N`, puts a steady load on top for N seconds of the
//!    log's clock: short-lived families issued, rotated and purged (`steady`), and
//!    prints the size of the records and of the last snapshot each minute;
//! 5. prints this process's resident memory (VmRSS, VmHWM: its peak) and the size of
//!    the records file;
//! 6. starts a learner, this program again in a process of its own, adds it and
//!    waits until it has applied everything (it gets the state as a snapshot, since
//!    the log behind the last snapshot is gone), and prints how long that took and
//!    the learner's peak memory;
//! 7. stops the node and starts it again on the same data, and prints how long until
//!    it takes a write.
//!
//! Every proposal is a Raft client write: appended to the log (fsync), committed and
//! applied to the records, exactly as a token request's. Snapshots (every 100,000
//! entries) and log compaction happen during the run as they would in a server.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ostium_bench::argument;
use ostium_bench::load::{Random, located_handle};
use ostium_state::command::{IssueRefreshToken, Purge, RedeemRefreshToken};
use ostium_state::network::cluster::AddLearner;
use ostium_state::network::{ClusterClient, ClusterReply, ClusterService, listener};
use ostium_state::node::{StateNode, StateNodeConfig};
use ostium_state::store::records::RECORDS_FILE;
use ostium_state::store::state_machine::SNAPSHOT_DIR;
use ostium_state::{
    ClusterSecret, FamilyId, StateCommand, StateResponse, TokenDigest, TokenExpiration, TokenUsage,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The node in this process allocates as the `ostium` binary does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const T0: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn issue(family: usize) -> StateCommand {
    issue_family(
        format!("family-{family:08}"),
        &located_handle(&family.to_string(), 0),
        family,
        T0,
        (30 * DAY, 15 * DAY as u32),
    )
}

/// The first token of a family: `handle`, issued at `at`, with an (absolute,
/// sliding) lifetime; client and subject follow from `n`.
fn issue_family(
    id: String,
    handle: &str,
    n: usize,
    at: u64,
    (absolute, sliding): (u64, u32),
) -> StateCommand {
    StateCommand::IssueRefreshToken(IssueRefreshToken {
        family: FamilyId(id),
        digest: TokenDigest::of_handle(handle),
        client_id: format!("client-{}", n % 100),
        subject: format!("user-{}", n % 500_000),
        scope: "openid profile offline_access api.read".into(),
        audiences: vec!["api".into()],
        usage: TokenUsage::OneTimeOnly,
        expiration: TokenExpiration::Sliding,
        absolute_expires_at: at + absolute,
        sliding_lifetime: Some(sliding),
        at,
        auth_time: Some(at),
        amr: Some("pwd".into()),
    })
}

fn rotation(handle: &str, client: usize, successor: &str, at: u64) -> StateCommand {
    StateCommand::RedeemRefreshToken(RedeemRefreshToken {
        digest: TokenDigest::of_handle(handle),
        client_id: format!("client-{}", client % 100),
        successor: TokenDigest::of_handle(successor),
        grace_period: 5,
        at,
    })
}

/// How long the learner may take to catch up.
const PATIENCE: Duration = Duration::from_secs(600);

const SECRET: &[u8] = b"scale benchmark cluster secret!!";

fn secret() -> ClusterSecret {
    ClusterSecret::new(SECRET).expect("a long secret")
}

/// Starts node `id` on `dir`, serving Raft on a loopback port of its own (a learner
/// must be reached); forms a cluster of one with it when `form` and the log is new.
async fn start(id: u64, dir: &Path, form: bool) -> (Arc<StateNode>, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound port").to_string();
    let mut config = StateNodeConfig::new(id, addr.clone(), dir, secret());
    config.state_cache_bytes = argument("--cache-mb", 64) << 20;
    let node = Arc::new(StateNode::start(config).await.expect("the node starts"));
    if form && !node.is_initialized().await.expect("the log reads") {
        node.initialize([(id, addr)].into())
            .await
            .expect("a cluster of one forms");
    }
    let peers = ClusterClient::new(secret(), Duration::from_secs(5)).expect("a cluster client");
    let cluster =
        ClusterService::new(node.clone(), secret(), peers).with_learner_patience(PATIENCE);
    let stop = CancellationToken::new();
    listener::serve(listener, node.raft_service(), cluster, stop.clone());
    (node, stop)
}

/// The learner, in a process of its own so that its memory is its own: it prints
/// its Raft address and serves until its standard input closes.
async fn learner() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (node, stop) = start(2, dir.path(), false).await;
    println!("{}", node.raft_addr());
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    stop.cancel();
    node.shutdown().await.expect("the learner stops");
}

/// Adds a learner process and waits until it has applied the whole state, which it
/// receives as a snapshot (the log behind the last snapshot is gone); prints how
/// long that took and the learner's peak memory.
async fn add_learner(node: &Arc<StateNode>, dir: &Path) {
    let mut child = Command::new(std::env::current_exe().expect("this program"))
        .env(LEARNER, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the learner starts");
    let mut addr = String::new();
    BufReader::new(child.stdout.take().expect("its output"))
        .read_line(&mut addr)
        .expect("the learner names its address");
    let started = Instant::now();
    let request = AddLearner {
        id: 2,
        raft_addr: addr.trim().to_owned(),
    };
    // Through the cluster API, as `ostium cluster add-learner`: answered once the
    // learner has applied the whole log, not only received it.
    let peers = ClusterClient::new(secret(), PATIENCE).expect("a cluster client");
    match peers.add_learner(node.raft_addr(), &request).await {
        Ok(ClusterReply::Done(())) => {}
        other => panic!("the learner did not catch up: {other:?}"),
    }
    println!(
        "a learner caught up (the state as a snapshot, then the log after it applied) in {:.1} s; learner: {}; snapshot file {} MB",
        started.elapsed().as_secs_f64(),
        memory(child.id()),
        megabytes(&dir.join(SNAPSHOT_DIR)),
    );
    drop(child.stdin.take());
    let _ = child.wait();
}

/// Proposes `commands`, `in_flight` at a time, retrying while no leader is known.
/// The commands are made as they are proposed, so that the benchmark's own memory
/// stays out of the node's figures.
async fn propose_all(
    node: &Arc<StateNode>,
    commands: impl Iterator<Item = StateCommand> + Send + 'static,
    in_flight: usize,
) {
    let queue = Arc::new(std::sync::Mutex::new(commands));
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (node, queue) = (node.clone(), queue.clone());
            tokio::spawn(async move {
                loop {
                    let Some(command) = queue.lock().expect("not poisoned").next() else {
                        return;
                    };
                    loop {
                        match node.propose(command.clone()).await {
                            Ok(StateResponse::Issued | StateResponse::Rotated { .. }) => break,
                            Ok(other) => panic!("unexpected answer {other:?}"),
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a worker finishes");
    }
}

/// Rotates `count` random families among `families`, in rounds of distinct families
/// (two rotations of one family in flight at once would race); rotations per second.
/// The families come in random order, as a platform's clients do, and the clock moves
/// on by a second every thousand rotations, as it would under that load: the expiry
/// index is ordered by time, and a fixed clock would make its inserts random.
async fn rotate(
    node: &Arc<StateNode>,
    generations: &mut [u32],
    count: usize,
    in_flight: usize,
    random: &mut Random,
    clock: &mut u64,
) -> f64 {
    let started = Instant::now();
    let mut done = 0;
    while done < count {
        let round = (count - done).min(generations.len() / 2);
        let mut chosen = std::collections::HashSet::with_capacity(round);
        let mut order = Vec::with_capacity(round);
        while order.len() < round {
            let family = random.below(generations.len());
            if chosen.insert(family) {
                order.push(family);
            }
        }
        let rotations: Vec<_> = order
            .into_iter()
            .map(|family| {
                generations[family] += 1;
                *clock += 1;
                (family, generations[family] - 1, T0 + 60 + *clock / 1000)
            })
            .collect();
        let commands = rotations.into_iter().map(|(family, generation, at)| {
            let (handle, next) = (
                located_handle(&family.to_string(), generation),
                located_handle(&family.to_string(), generation + 1),
            );
            rotation(&handle, family, &next, at)
        });
        propose_all(node, commands, in_flight).await;
        done += round;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// How long a family of the steady load lives, and its tokens unused, in seconds.
const STEADY_LIFETIME: (u64, u32) = (600, 300);
/// Families the steady load issues per second of the log's clock; it rotates nine
/// times as many.
const STEADY_ISSUES: usize = 100;

/// A steady load on top of the families already there, for `seconds` of the log's
/// clock (a thousand commands each): every second, new families that live ten
/// minutes and rotations of the live ones, each rotated every minute or so, and
/// every ten seconds the purges the leader's purger would propose, in batches.
/// Prints each minute the size of the records file and of the last snapshot (which
/// holds the live records and nothing else): once the first families expire, as
/// much expires as is written, and neither should grow any more.
async fn steady(
    node: &Arc<StateNode>,
    dir: &Path,
    seconds: u64,
    in_flight: usize,
    clock: &mut u64,
) {
    let start = T0 + 60 + *clock / 1000 + 1;
    // Families issued so far, their generations, and the oldest still alive.
    let mut generations: Vec<u32> = Vec::new();
    let mut oldest = 0;
    let mut next_rotated = 0;
    for second in 0..seconds {
        let at = start + second;
        let (absolute, _) = STEADY_LIFETIME;
        // A family's last rotation is a second before its absolute expiry.
        while oldest < generations.len()
            && start + (oldest / STEADY_ISSUES) as u64 + absolute <= at + 1
        {
            oldest += 1;
        }
        let live = generations.len() - oldest;
        let rotated = (9 * STEADY_ISSUES).min(live);
        let mut commands = Vec::with_capacity(STEADY_ISSUES + rotated);
        for _ in 0..rotated {
            next_rotated = next_rotated.max(oldest);
            if next_rotated >= generations.len() {
                next_rotated = oldest;
            }
            let n = next_rotated;
            next_rotated += 1;
            let generation = generations[n];
            generations[n] += 1;
            commands.push((n, Some(generation)));
        }
        for _ in 0..STEADY_ISSUES {
            commands.push((generations.len(), None));
            generations.push(0);
        }
        let commands = commands
            .into_iter()
            .map(move |(n, generation)| match generation {
                None => issue_family(
                    format!("steady-{n:08}"),
                    &located_handle(&format!("s{n}"), 0),
                    n,
                    at,
                    STEADY_LIFETIME,
                ),
                Some(g) => {
                    let family = format!("s{n}");
                    let (handle, next) =
                        (located_handle(&family, g), located_handle(&family, g + 1));
                    rotation(&handle, n, &next, at)
                }
            });
        propose_all(node, commands, in_flight).await;
        if second % 10 == 9 {
            purge(node, at).await;
        }
        if second % 60 == 59 {
            println!(
                "  steady load, {} s of log time: {live} live families of its own; records {} MB on disk, last snapshot {} MB",
                second + 1,
                megabytes(&dir.join(RECORDS_FILE)),
                megabytes(&dir.join(SNAPSHOT_DIR)),
            );
        }
    }
    *clock += seconds * 1000;
}

/// What the leader's purger does: batches of expired records until one comes back
/// short.
async fn purge(node: &Arc<StateNode>, at: u64) {
    const BATCH: u64 = 10_000;
    loop {
        let command = StateCommand::Purge(Purge {
            at,
            limit: Some(BATCH),
        });
        match node.propose(command).await {
            Ok(StateResponse::Purged { removed }) if removed < BATCH => return,
            Ok(StateResponse::Purged { .. }) => {}
            Ok(other) => panic!("unexpected answer {other:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Resident memory of process `pid`: now (VmRSS) and at its peak (VmHWM).
fn memory(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Megabytes of the files under `path` (or of the file `path`).
fn megabytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len() >> 20;
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| megabytes(&entry.path()))
        .sum()
}

/// Set in the environment of the learner this program starts.
const LEARNER: &str = "STATE_SCALE_LEARNER";

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // In small pages, as the `ostium` binary keeps its memory.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    if std::env::var_os(LEARNER).is_some() {
        return learner().await;
    }
    let families = argument("--families", 1_000_000);
    let small = argument("--small", 10_000);
    let rotations = argument("--rotations", 20_000);
    let in_flight = argument("--in-flight", 256);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (node, stop) = start(1, dir.path(), true).await;
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut generations = vec![0u32; families];
    let mut clock = 0;

    let started = Instant::now();
    propose_all(&node, (0..small).map(issue), in_flight).await;
    println!(
        "issued {small} families in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let at_small = rotate(
        &node,
        &mut generations[..small],
        rotations,
        in_flight,
        &mut random,
        &mut clock,
    )
    .await;
    println!("rotations/s with {small} families: {at_small:.0}");

    let started = Instant::now();
    let batch = 100_000;
    let mut issued = small;
    while issued < families {
        let upto = (issued + batch).min(families);
        propose_all(&node, (issued..upto).map(issue), in_flight).await;
        issued = upto;
        println!(
            "  {issued} families after {:.0} s; {}",
            started.elapsed().as_secs_f64(),
            memory(std::process::id())
        );
    }
    println!(
        "issued up to {families} families in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let at_large = rotate(
        &node,
        &mut generations,
        rotations,
        in_flight,
        &mut random,
        &mut clock,
    )
    .await;
    println!(
        "rotations/s with {families} families: {at_large:.0} ({:.0}% of the rate with {small})",
        100.0 * at_large / at_small
    );
    let seconds = argument("--steady-seconds", 0) as u64;
    if seconds > 0 {
        steady(&node, dir.path(), seconds, in_flight, &mut clock).await;
    }
    println!(
        "memory with {families} families: {}; records {} MB on disk",
        memory(std::process::id()),
        megabytes(&dir.path().join(RECORDS_FILE)),
    );

    add_learner(&node, dir.path()).await;
    println!(
        "memory of the leader after sending its snapshot: {}",
        memory(std::process::id())
    );

    stop.cancel();
    node.shutdown().await.expect("the node stops");
    drop(node);
    let started = Instant::now();
    let (node, _stop) = start(1, dir.path(), true).await;
    propose_all(&node, std::iter::once(issue(families)), 1).await;
    println!(
        "restarted and took a write in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    node.shutdown().await.expect("the node stops");
}
