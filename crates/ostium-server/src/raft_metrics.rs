//! A core node's Raft view on `/metrics`: term, leader, log, commit and apply
//! indexes, and the revocations it applied (docs/architecture.md §10). Read from
//! openraft's metrics at each scrape, so nothing is kept in step by hand; every
//! series exists from the node's start. Edges have no Raft log and no such series.

use ostium_state::TokenStore;
use ostium_state::typ::ServerState;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

pub(crate) struct RaftMetrics(pub TokenStore);

impl std::fmt::Debug for RaftMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RaftMetrics")
    }
}

impl Collector for RaftMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(view) = self.0.core_view() else {
            return Ok(());
        };
        let raft = &view.raft;
        let index = |i: Option<u64>| i.unwrap_or(0);
        let as_gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let gauges = [
            (
                "ostium_raft_term",
                "The Raft term this node is in",
                raft.term,
            ),
            (
                "ostium_raft_leader_id",
                "The leader this node heard from within the election timeout (0: none)",
                raft.leader.unwrap_or(0),
            ),
            (
                "ostium_raft_is_leader",
                "1 on the node that leads with a quorum, else 0",
                u64::from(raft.state == ServerState::Leader && raft.leader == Some(raft.id)),
            ),
            (
                "ostium_raft_writable",
                "1 when a write sent to this node can be committed now, else 0",
                u64::from(raft.writable),
            ),
            (
                "ostium_raft_last_log_index",
                "Index of the last entry in this node's log",
                index(raft.last_log_index),
            ),
            (
                "ostium_raft_commit_index",
                "Index of the last entry this node knows to be committed",
                index(raft.committed_index),
            ),
            (
                "ostium_raft_applied_index",
                "Index of the last entry applied to this node's state",
                index(raft.applied_index),
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(as_gauge(value));
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        let applied = ConstCounter::new(view.revocations_applied);
        let metric = encoder.encode_descriptor(
            "ostium_revocations_applied",
            "Revocations applied to this node's state (compare across nodes for propagation)",
            None,
            applied.metric_type(),
        )?;
        applied.encode(metric)
    }
}
