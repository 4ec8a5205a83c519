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
//! - `wrk/`: the load scripts, which share one reporter (`wrk/report.lua`).
//!
//! Results go to `RESULTS.md`.
