//! Tells the operator when this node's leader changes: elected, replaced, or gone
//! silent. openraft's own account of an election is dozens of lines at `info` and
//! none when a leader simply stops being heard from; this is one line per change,
//! from the same view `/readyz` and `ostium cluster status` report
//! ([`StateNode::metrics`]: a leader counts only while heard from within the
//! election timeout).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::node::StateNode;
use crate::typ::NodeId;

/// How often the view is looked at: well within the election timeout, so that a
/// change is logged about when `/readyz` shows it.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// What changed about the leader between two looks.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    /// A leader where there was none.
    Elected(NodeId),
    /// Another leader than before.
    Replaced { previous: NodeId, leader: NodeId },
    /// No leader heard from any more.
    Lost(NodeId),
}

fn change(before: Option<NodeId>, now: Option<NodeId>) -> Option<Change> {
    match (before, now) {
        (None, Some(leader)) => Some(Change::Elected(leader)),
        (Some(previous), Some(leader)) if previous != leader => {
            Some(Change::Replaced { previous, leader })
        }
        (Some(previous), None) => Some(Change::Lost(previous)),
        _ => None,
    }
}

/// Logs every change of `node`'s leader until `stop` is cancelled.
pub fn spawn(node: Arc<StateNode>, stop: CancellationToken) -> JoinHandle<()> {
    let watching = async move {
        let mut looks = tokio::time::interval(LOOK_EVERY);
        looks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leader = None;
        loop {
            looks.tick().await;
            let metrics = node.metrics();
            let Some(change) = change(leader, metrics.leader) else {
                continue;
            };
            leader = metrics.leader;
            let term = metrics.term;
            let this = node.id();
            match change {
                Change::Elected(leader) if leader == this => {
                    tracing::info!(term, "this node was elected leader");
                }
                Change::Elected(leader) => tracing::info!(leader, term, "leader elected"),
                Change::Replaced { previous, leader } => {
                    tracing::info!(leader, previous, term, "leader changed");
                }
                Change::Lost(previous) => tracing::warn!(
                    previous,
                    term,
                    "no leader heard from within the election timeout: refresh tokens, \
                     revocations and introspection wait until one is elected"
                ),
            }
        }
    };
    tokio::spawn(async move {
        stop.run_until_cancelled(watching).await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_are_news() {
        assert_eq!(change(None, None), None);
        assert_eq!(change(Some(1), Some(1)), None);
        assert_eq!(change(None, Some(2)), Some(Change::Elected(2)));
        assert_eq!(
            change(Some(1), Some(2)),
            Some(Change::Replaced {
                previous: 1,
                leader: 2
            })
        );
        assert_eq!(change(Some(2), None), Some(Change::Lost(2)));
    }
}
