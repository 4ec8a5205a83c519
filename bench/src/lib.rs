//! Ostium's benchmarks.
//!
//! - `benches/signer.rs` (criterion): the signer alone, per algorithm, and a whole
//!   RFC 9068 access token; the ceiling for the token endpoint.
//! - `run-token-bench.sh`: the client-credentials token endpoint under `wrk`, against
//!   the npm `oidc-provider` peer in the same run (`peer/`), with this crate's
//!   criterion figures beside it. Results go to `RESULTS.md`.
