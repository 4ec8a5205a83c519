//! Failover on a local three-node cluster (docs/architecture.md §4): how long after
//! the leader is killed with `kill -9` do the survivors commit a write again, and
//! how much slower is a write forwarded by a follower than the same write at the
//! leader?
//!
//!     cargo build --release -p ostium
//!     OSTIUM_BIN=$CARGO_TARGET_DIR/release/ostium \
//!       cargo run --release -p ostium-bench --bin failover -- --kills 20 --writes 300
//!
//! It starts three core nodes, each a real `ostium` process, through the end-to-end
//! harness (`ostium-e2e`, the standard fixture; `OSTIUM_BIN` picks the binary). The
//! write is a refresh-token rotation, one Raft command, in a chain per node.
//!
//! 1. Forwarded writes: `--writes` rotations at the leader and as many at a
//!    follower, alternating, one at a time; p50 and p99 of each.
//! 2. Failover, `--kills` times: the leader is killed (`SIGKILL`); from that moment
//!    one client per survivor rotates its chain at that survivor, again and again
//!    while it answers 503 or not at all, and the time to the first 200 at either
//!    is the failover time. The killed node is then started again on its data and
//!    waited for until all three name the same leader. p50, p99 and max.

use std::thread;
use std::time::{Duration, Instant};

use ostium_bench::argument;
use ostium_e2e::cluster::{Answer, Cluster, refresh_at};
use ostium_e2e::fixture::OFFLINE_ID;

/// A survivor that commits nothing for this long has failed the benchmark.
const GIVE_UP: Duration = Duration::from_secs(30);
/// The client's limit for one request: above a node's own 5-second patience.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Rotates `token` at the node serving `issuer` until it answers 200; the
/// successor. Panics after [`GIVE_UP`].
fn rotate(issuer: &str, token: &str) -> String {
    let started = Instant::now();
    loop {
        let answer: Answer = refresh_at(issuer, OFFLINE_ID, token, Some(REQUEST_TIMEOUT));
        match answer {
            Ok((200, body)) => {
                return body["refresh_token"]
                    .as_str()
                    .expect("a refresh token")
                    .to_owned();
            }
            Ok((503, _)) => {}
            // The node is busy or gone; ask again shortly.
            Err(_) => thread::sleep(Duration::from_millis(10)),
            Ok((status, body)) => panic!("rotation at {issuer}: HTTP {status} {body}"),
        }
        assert!(
            started.elapsed() < GIVE_UP,
            "no rotation at {issuer} within {GIVE_UP:?}"
        );
    }
}

/// p50, p99 and max of `times`, in milliseconds.
fn summary(times: &mut [Duration]) -> (f64, f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| {
        let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len());
        ms(times[rank - 1])
    };
    (at(0.50), at(0.99), ms(times[times.len() - 1]))
}

fn main() {
    let kills = argument("--kills", 20);
    let writes = argument("--writes", 300);
    assert!(
        kills > 0 && writes > 0,
        "--kills and --writes must be positive"
    );
    let mut cluster = Cluster::start("failover-bench", 3);
    let ids: Vec<u64> = cluster.nodes.iter().map(|n| n.id).collect();
    let issuer = |cluster: &Cluster, id: u64| cluster.node(id).expect("a node").issuer.clone();
    // One chain per node, so that the survivors' clients never share a token.
    let mut chains: Vec<String> = ids
        .iter()
        .map(|id| cluster.node(*id).expect("a node").login(OFFLINE_ID))
        .collect();

    // 1. The same write at the leader and forwarded by a follower.
    let leader = cluster.wait_for_leader();
    let follower = *ids.iter().find(|id| **id != leader).expect("a follower");
    let (leader_url, follower_url) = (issuer(&cluster, leader), issuer(&cluster, follower));
    let (mut at_leader, mut forwarded) = (Vec::new(), Vec::new());
    let chain = ids
        .iter()
        .position(|id| *id == leader)
        .expect("the leader's chain");
    for _ in 0..writes {
        for (url, times) in [
            (&leader_url, &mut at_leader),
            (&follower_url, &mut forwarded),
        ] {
            let started = Instant::now();
            chains[chain] = rotate(url, &chains[chain]);
            times.push(started.elapsed());
        }
    }
    let (leader_p50, leader_p99, leader_max) = summary(&mut at_leader);
    let (follower_p50, follower_p99, follower_max) = summary(&mut forwarded);

    // 2. Kill the leader, time the survivors' first commit, bring it back.
    let mut failovers = Vec::new();
    for round in 1..=kills {
        let leader = cluster.wait_for_leader();
        let survivors: Vec<(usize, String)> = ids
            .iter()
            .enumerate()
            .filter(|(_, id)| **id != leader)
            .map(|(i, id)| (i, issuer(&cluster, *id)))
            .collect();
        cluster.node_mut(leader).node.kill();
        let killed = Instant::now();
        let committed: Vec<(usize, String, Instant)> = thread::scope(|s| {
            let clients: Vec<_> = survivors
                .iter()
                .map(|(i, url)| {
                    let token = chains[*i].clone();
                    s.spawn(move || {
                        let next = rotate(url, &token);
                        (*i, next, Instant::now())
                    })
                })
                .collect();
            clients
                .into_iter()
                .map(|c| c.join().expect("a client"))
                .collect()
        });
        let first = committed
            .iter()
            .map(|(_, _, at)| *at)
            .min()
            .expect("a survivor");
        for (i, next, _) in committed {
            chains[i] = next;
        }
        let took = first - killed;
        failovers.push(took);
        let restarted = Instant::now();
        cluster.node_mut(leader).node.restart();
        let new_leader = cluster.wait_for_leader();
        eprintln!(
            "kill {round}/{kills}: node {leader} killed, first write after {:.0} ms; \
             node {new_leader} leads; node {leader} back in {:.1} s",
            took.as_secs_f64() * 1000.0,
            restarted.elapsed().as_secs_f64()
        );
    }
    let (p50, p99, max) = summary(&mut failovers);

    println!("| measurement | samples | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| kill -9 of the leader → first write committed by the survivors | {kills} | {p50:.0} | {p99:.0} | {max:.0} |"
    );
    println!(
        "| rotation at the leader | {writes} | {leader_p50:.1} | {leader_p99:.1} | {leader_max:.1} |"
    );
    println!(
        "| rotation at a follower (forwarded) | {writes} | {follower_p50:.1} | {follower_p99:.1} | {follower_max:.1} |"
    );
    println!(
        "\nforwarded / leader: p50 {:.2}x, p99 {:.2}x",
        follower_p50 / leader_p50,
        follower_p99 / leader_p99
    );
}
