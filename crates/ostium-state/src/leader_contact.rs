//! When this node last heard from a leader: the time of the last AppendEntries (a
//! heartbeat or entries) it accepted from one, recorded by the Raft service that
//! receives them.
//!
//! openraft's metrics keep naming the last leader a follower knew for as long as no
//! other node wins an election, which with pre-vote may be forever once a majority
//! is gone; they carry no time of the leader's last message. Readiness and
//! `ostium cluster status` must not name a leader nobody has heard from, so the node
//! keeps that time itself (docs/architecture.md §4).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::typ::NodeId;

/// Shared by the Raft service (which records) and the node (which reads); clones
/// share one record.
#[derive(Clone, Default)]
pub struct LeaderContact {
    last: Arc<Mutex<Option<(NodeId, Instant)>>>,
}

impl LeaderContact {
    /// `leader` sent an AppendEntries that this node accepted, just now.
    pub fn heard_from(&self, leader: NodeId) {
        *self.lock() = Some((leader, Instant::now()));
    }

    /// How long ago this node last heard from `leader`, if it ever did.
    pub fn since(&self, leader: NodeId) -> Option<Duration> {
        match *self.lock() {
            Some((heard, at)) if heard == leader => Some(at.elapsed()),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(NodeId, Instant)>> {
        // Nothing panics while holding it; a poisoned value is still a time.
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_leader_last_heard_from_counts() {
        let contact = LeaderContact::default();
        assert_eq!(contact.since(1), None);
        contact.heard_from(1);
        assert!(contact.since(1).is_some());
        assert_eq!(
            contact.since(2),
            None,
            "another node is not the one heard from"
        );
        contact.heard_from(2);
        assert_eq!(contact.since(1), None, "a new leader replaces the old one");
        assert!(
            contact.clone().since(2).is_some(),
            "clones share the record"
        );
    }
}
