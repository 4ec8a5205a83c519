//! Whether each peer answers this node's Raft calls, told to the operator once per
//! change: "peer unreachable" with the first failure's cause, "peer back" with how
//! long it was gone and how many calls failed meanwhile, and while it stays gone a
//! reminder every few minutes. A leader calls each follower several times a second
//! (heartbeats), so logging each failure would bury everything else in the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::typ::NodeId;

/// How often a peer that stays unreachable is mentioned again.
const REMIND_EVERY: Duration = Duration::from_secs(300);

/// Shared by every peer client of a node; clones share the record.
#[derive(Clone, Default)]
pub struct PeerHealth {
    peers: Arc<Mutex<HashMap<NodeId, Peer>>>,
}

#[derive(Default)]
struct Peer {
    /// Since when calls fail (`None`: the last call was answered).
    down_since: Option<Instant>,
    /// Calls failed since then.
    failed: u64,
    /// When the operator was last told it is down.
    told: Option<Instant>,
}

/// What there is to tell about a peer after a call, decided under the lock and
/// logged after it.
#[derive(Debug, PartialEq, Eq)]
enum News {
    Unreachable,
    StillUnreachable { down: Duration, failed: u64 },
    Back { down: Duration, failed: u64 },
}

impl PeerHealth {
    /// `peer` answered a call.
    pub fn answered(&self, peer: NodeId, addr: &str) {
        if let Some(News::Back { down, failed }) = self.note(peer, None) {
            tracing::info!(
                peer,
                addr,
                down_secs = down.as_secs(),
                failed_calls = failed,
                "peer back: it answers Raft calls again"
            );
        }
    }

    /// A call to `peer` failed, for `reason`.
    pub fn failed(&self, peer: NodeId, addr: &str, reason: &str) {
        match self.note(peer, Some(Instant::now())) {
            Some(News::Unreachable) => {
                tracing::info!(peer, addr, reason, "peer unreachable: its Raft calls fail");
            }
            Some(News::StillUnreachable { down, failed }) => tracing::info!(
                peer,
                addr,
                down_secs = down.as_secs(),
                failed_calls = failed,
                reason,
                "peer still unreachable"
            ),
            _ => {}
        }
    }

    /// Records a call's outcome (`failed_at`: it failed then) and says what changed.
    fn note(&self, peer: NodeId, failed_at: Option<Instant>) -> Option<News> {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let state = peers.entry(peer).or_default();
        match (failed_at, state.down_since) {
            (None, None) => None,
            (None, Some(since)) => {
                let news = News::Back {
                    down: since.elapsed(),
                    failed: state.failed,
                };
                *state = Peer::default();
                Some(news)
            }
            (Some(now), None) => {
                *state = Peer {
                    down_since: Some(now),
                    failed: 1,
                    told: Some(now),
                };
                Some(News::Unreachable)
            }
            (Some(now), Some(since)) => {
                state.failed += 1;
                let due = state
                    .told
                    .is_none_or(|told| now.duration_since(told) >= REMIND_EVERY);
                due.then(|| {
                    state.told = Some(now);
                    News::StillUnreachable {
                        down: now.duration_since(since),
                        failed: state.failed,
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_change_is_news_once_and_repeats_are_counted() {
        let health = PeerHealth::default();
        assert_eq!(health.note(2, None), None, "a peer that answers is no news");
        let start = Instant::now();
        assert_eq!(health.note(2, Some(start)), Some(News::Unreachable));
        for _ in 0..20 {
            assert_eq!(health.note(2, Some(Instant::now())), None);
        }
        assert_eq!(health.note(3, None), None, "peers are told apart");
        match health.note(2, None) {
            Some(News::Back { failed, .. }) => assert_eq!(failed, 21),
            other => panic!("expected the peer back, got {other:?}"),
        }
        assert_eq!(health.note(2, None), None);
        assert_eq!(
            health.note(2, Some(Instant::now())),
            Some(News::Unreachable)
        );
    }

    #[test]
    fn a_peer_that_stays_down_is_mentioned_again_after_a_while() {
        let health = PeerHealth::default();
        let start = Instant::now();
        health.note(4, Some(start));
        assert_eq!(health.note(4, Some(start + REMIND_EVERY / 2)), None);
        assert_eq!(
            health.note(4, Some(start + REMIND_EVERY)),
            Some(News::StillUnreachable {
                down: REMIND_EVERY,
                failed: 3
            })
        );
        assert_eq!(health.note(4, Some(start + REMIND_EVERY * 3 / 2)), None);
    }
}
