//! The replicated state at scale: a core's memory, rotation throughput and restart
//! time with N live refresh families, built through the Raft API.
//!
//!     cargo build --release -p ostium-bench --bin state_scale
//!     target/release/state_scale --families 1000000 --rotations 20000
//!
//! One core node (a cluster of one) runs in this process, with its data directory in
//! a temporary folder and the default `[state] cache_mb` (64). The program:
//! 1. issues `--small` families (10,000), then rotates `--rotations` random ones of
//!    them, `--in-flight` proposals at a time, and prints rotations per second;
//! 2. issues families up to `--families`, in the same way, and prints how long that
//!    took;
//! 3. rotates `--rotations` random families of all of them and prints rotations per
//!    second, and the ratio to step 1;
//! 4. prints this process's resident memory (VmRSS, VmHWM: its peak);
//! 5. stops the node and starts it again on the same data, and prints how long until
//!    it takes a write.
//!
//! Every proposal is a Raft client write: appended to the log (fsync), committed and
//! applied to the records, exactly as a token request's.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ostium_bench::argument;
use ostium_state::command::{IssueRefreshToken, RedeemRefreshToken};
use ostium_state::node::{StateNode, StateNodeConfig};
use ostium_state::{
    ClusterSecret, FamilyId, StateCommand, StateResponse, TokenDigest, TokenExpiration, TokenUsage,
};

const T0: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn issue(family: usize) -> StateCommand {
    StateCommand::IssueRefreshToken(IssueRefreshToken {
        family: FamilyId(format!("family-{family:08}")),
        digest: TokenDigest::of_handle(&format!("{family}-0")),
        client_id: format!("client-{}", family % 100),
        subject: format!("user-{}", family % 500_000),
        scope: "openid profile offline_access api.read".into(),
        audiences: vec!["api".into()],
        usage: TokenUsage::OneTimeOnly,
        expiration: TokenExpiration::Sliding,
        absolute_expires_at: T0 + 30 * DAY,
        sliding_lifetime: Some(15 * DAY as u32),
        at: T0,
        auth_time: Some(T0),
        amr: Some("pwd".into()),
    })
}

/// A small, fast generator: the families to rotate need only be spread out.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

async fn start(dir: &Path) -> Arc<StateNode> {
    let secret = ClusterSecret::new(b"scale benchmark cluster secret!!").expect("a long secret");
    let config = StateNodeConfig::new(1, "127.0.0.1:1", dir, secret);
    let node = StateNode::start(config).await.expect("the node starts");
    if !node.is_initialized().await.expect("the log reads") {
        node.initialize([(1, "127.0.0.1:1".to_owned())].into())
            .await
            .expect("a cluster of one forms");
    }
    Arc::new(node)
}

/// Proposes `commands`, `in_flight` at a time, retrying while no leader is known.
async fn propose_all(node: &Arc<StateNode>, commands: Vec<StateCommand>, in_flight: usize) {
    let queue = Arc::new(std::sync::Mutex::new(commands));
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (node, queue) = (node.clone(), queue.clone());
            tokio::spawn(async move {
                loop {
                    let Some(command) = queue.lock().expect("not poisoned").pop() else {
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

/// Rotates `count` random families among `families`; rotations per second.
async fn rotate(
    node: &Arc<StateNode>,
    generations: &mut [u32],
    count: usize,
    in_flight: usize,
    random: &mut Random,
) -> f64 {
    let mut chosen = std::collections::BTreeSet::new();
    while chosen.len() < count.min(generations.len()) {
        chosen.insert(random.below(generations.len()));
    }
    let commands: Vec<_> = chosen
        .into_iter()
        .map(|family| {
            let generation = generations[family];
            generations[family] += 1;
            StateCommand::RedeemRefreshToken(RedeemRefreshToken {
                digest: TokenDigest::of_handle(&format!("{family}-{generation}")),
                client_id: format!("client-{}", family % 100),
                successor: TokenDigest::of_handle(&format!("{family}-{}", generation + 1)),
                grace_period: 5,
                at: T0 + 60,
            })
        })
        .collect();
    let started = Instant::now();
    let n = commands.len();
    propose_all(node, commands, in_flight).await;
    n as f64 / started.elapsed().as_secs_f64()
}

fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let families = argument("--families", 1_000_000);
    let small = argument("--small", 10_000);
    let rotations = argument("--rotations", 20_000);
    let in_flight = argument("--in-flight", 256);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let node = start(dir.path()).await;
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut generations = vec![0u32; families];

    let started = Instant::now();
    propose_all(&node, (0..small).map(issue).collect(), in_flight).await;
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
    )
    .await;
    println!("rotations/s with {small} families: {at_small:.0}");

    let started = Instant::now();
    let batch = 100_000;
    let mut issued = small;
    while issued < families {
        let upto = (issued + batch).min(families);
        propose_all(&node, (issued..upto).map(issue).collect(), in_flight).await;
        issued = upto;
        println!(
            "  {issued} families after {:.0} s; {}",
            started.elapsed().as_secs_f64(),
            memory()
        );
    }
    println!(
        "issued up to {families} families in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let at_large = rotate(&node, &mut generations, rotations, in_flight, &mut random).await;
    println!(
        "rotations/s with {families} families: {at_large:.0} ({:.0}% of the rate with {small})",
        100.0 * at_large / at_small
    );
    println!("memory with {families} families: {}", memory());

    node.shutdown().await.expect("the node stops");
    drop(node);
    let started = Instant::now();
    let node = start(dir.path()).await;
    propose_all(&node, vec![issue(families)], 1).await;
    println!(
        "restarted and took a write in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    node.shutdown().await.expect("the node stops");
}
