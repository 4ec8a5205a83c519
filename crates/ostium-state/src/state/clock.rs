//! When the cluster could not answer: the gap between the last command before a new
//! leader's term and the first one after it. A client whose rotation was committed
//! just before a leader failed never got its answer, and can only retry once a new
//! leader answers; its grace period (invariant 1 of docs/architecture.md §4) is
//! counted from then, not from the lost commit, so that a failover never turns a
//! retry into reuse.
//!
//! Kept from the log alone: the time of each command (its `at`) and the blank entry
//! every new leader commits first. `apply` stays a function of the log.

use serde::{Deserialize, Serialize};

/// The cluster's sense of time, as the log tells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// The latest `at` of any command applied.
    pub last_at: u64,
    /// A new term began and no command has been applied in it yet.
    pub term_begun: bool,
    /// The last gap around a change of leader.
    pub outage: Option<Outage>,
}

/// From the last command before a change of leader to the first one after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    pub began: u64,
    pub ended: u64,
}

impl Clock {
    /// A new leader's blank entry is applied.
    pub fn new_term(&mut self) {
        self.term_begun = true;
    }

    /// A command proposed at `at` is about to be applied.
    pub fn observe(&mut self, at: u64) {
        if self.term_begun {
            self.term_begun = false;
            self.outage = Some(Outage {
                began: self.last_at,
                ended: at.max(self.last_at),
            });
        }
        self.last_at = self.last_at.max(at);
    }

    /// Until when a retry of a rotation made at `rotated_at` gets the same successor:
    /// `grace` after the rotation, or, if the rotation was still within its grace
    /// when the last change of leader began, `grace` after the cluster answered again.
    pub fn retry_until(&self, rotated_at: u64, grace: u64) -> u64 {
        let normal = rotated_at.saturating_add(grace);
        match self.outage {
            Some(outage) if rotated_at <= outage.began && normal > outage.began => {
                normal.max(outage.ended.saturating_add(grace))
            }
            _ => normal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_caught_by_a_change_of_leader_gets_its_grace_after_it() {
        let mut clock = Clock::default();
        clock.observe(100);
        // Rotated at 100 and the leader dies; the next leader answers at 130.
        clock.new_term();
        clock.observe(130);
        assert_eq!(clock.retry_until(100, 5), 135);
        // A rotation long before the outage keeps its own window.
        assert_eq!(clock.retry_until(50, 5), 55);
        // One made after it too.
        assert_eq!(clock.retry_until(131, 5), 136);
        // Without a change of leader nothing is extended.
        let mut calm = Clock::default();
        calm.observe(100);
        calm.observe(130);
        assert_eq!(calm.retry_until(100, 5), 105);
    }
}
