//! Ostium's benchmarks.
//!
//! - `benches/signer.rs` (criterion): the signer alone, per algorithm, and a whole
//!   RFC 9068 access token; the ceiling for the token endpoint.
//! - `run-token-bench.sh`: the client-credentials token endpoint under `wrk`, against
//!   the npm `oidc-provider` peer in the same run (`peer/`), with this crate's
//!   criterion figures beside it.
//! - `run-cluster-bench.sh`: refresh-token rotation and introspection under `wrk` on a
//!   local three-node cluster, one `wrk` per node, summed.
//! - `src/bin/revocation_propagation.rs`: on a local cluster started through the
//!   end-to-end harness, the time from a revocation's answer at one node until every
//!   other node rejects the token (p50, p99, max).
//! - `src/bin/failover.rs`: on a local cluster started through the end-to-end
//!   harness, the time from a `kill -9` of the leader until the survivors commit a
//!   write, and a follower's forwarded writes against the leader's (p50, p99, max).
//! - `src/bin/rotation_latency.rs`: on a local cluster started through the end-to-end
//!   harness, refresh-token rotation at a fixed rate (open loop) for minutes, through
//!   the nodes' snapshots: p50 to p99.9 and max from each request's due time.
//! - `src/bin/rotation_scale.rs`: on a local cluster started through the end-to-end
//!   harness, refresh-token rotation through the token endpoint with ten thousand
//!   and then a million live families (built through the cluster API) in one run.
//! - `src/bin/login_flood.rs` and `src/bin/sign_in.rs`: password logins (the grant,
//!   and the sign-in page) against a node started through the end-to-end harness.
//! - `src/bin/state_scale.rs`: a core's memory, rotation throughput and restart time
//!   with a million live refresh families, built through the Raft API.
//! - `src/bin/snapshot_write.rs`: how long the Raft log's fsyncs wait while a
//!   snapshot is written to the same disk, the way a node writes one and the way
//!   releases before it did.
//! - `run-code-bench.sh`: the authorization code exchange with a login session
//!   under `wrk`, against the same peer.
//! - `wrk/`: the load scripts, which share one reporter (`wrk/report.lua`).
//!
//! Results go to `RESULTS.md`.

pub mod load;

/// The value of the command-line option `name` (`--name VALUE`), or `default`.
pub fn argument(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
