//! When this node takes its snapshots (docs/architecture.md §4 "Snapshots"): every
//! `snapshot_every` log entries, at indexes offset by a phase drawn from the node's id,
//! so that the nodes of a cluster take theirs at different times. Had every node
//! snapshotted at the same index, as openraft's own policy does, all of them would
//! write a snapshot at once and none would be left to answer at full speed.
//!
//! A snapshot writes every live record, so at a fixed spacing its cost per log entry
//! would grow with the number of live tokens: a million families make a snapshot of
//! some 400 MB, which every 100,000 entries is 4 KB written per entry, far more than
//! the entry itself. So the spacing grows with the last snapshot's size, to keep that
//! cost at about [`SNAPSHOT_BYTES_PER_ENTRY`] whatever the state holds; the log
//! between snapshots grows with it.

use std::path::PathBuf;
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use tokio::task::JoinHandle;

use crate::typ::{NodeId, Raft};

/// The index this node's schedule first takes a snapshot at: a fraction of
/// `every` that nodes with ids in a row spread evenly (the golden ratio's multiples
/// modulo one are as far apart as any sequence can keep them).
pub fn phase(node: NodeId, every: u64) -> u64 {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    let fraction = node.wrapping_mul(GOLDEN);
    // fraction / 2^64 * every, which is below `every`.
    ((u128::from(fraction) * u128::from(every)) >> 64) as u64
}

/// The first index of the schedule past `index`: `phase + k * every` for the
/// smallest such `k`.
pub fn next_after(index: u64, phase: u64, every: u64) -> u64 {
    if index < phase {
        phase
    } else {
        phase + ((index - phase) / every + 1) * every
    }
}

/// What writing snapshots may cost each log entry, in bytes of snapshot: about what
/// the entry itself takes in the log.
pub const SNAPSHOT_BYTES_PER_ENTRY: u64 = 256;

/// How many entries apart snapshots are when the last was `snapshot_bytes` long: at
/// least `every`, and a whole number of `every`s so that the phase still holds.
pub fn spacing(every: u64, snapshot_bytes: u64) -> u64 {
    (snapshot_bytes / SNAPSHOT_BYTES_PER_ENTRY)
        .div_ceil(every)
        .max(1)
        * every
}

/// How long a failed trigger waits before the next: only a stopping Raft fails one.
const RETRY: Duration = Duration::from_secs(1);

/// Asks Raft for a snapshot each time the applied index reaches the next index of
/// this node's schedule a [`spacing`] past its last snapshot (or its last request for
/// one, while one is being built); `current_snapshot` is the file the last one is in.
/// Ends when Raft stops.
pub fn spawn(raft: Raft, node: NodeId, every: u64, current_snapshot: PathBuf) -> JoinHandle<()> {
    let phase = phase(node, every);
    let due_after = move |base: u64| {
        let bytes = std::fs::metadata(&current_snapshot).map_or(0, |m| m.len());
        next_after(base + spacing(every, bytes) - every, phase, every)
    };
    tokio::spawn(async move {
        let mut metrics = raft.data_metrics();
        let mut requested_at = 0;
        // The last snapshot and request the due index was worked out from, and that
        // index: the snapshot's size is looked at once per snapshot, not on every
        // applied batch.
        let mut planned: Option<((Option<u64>, u64), u64)> = None;
        loop {
            let (applied, snapshot) = {
                let now = metrics.borrow_watched();
                (
                    now.last_applied.map(|id| id.index),
                    now.snapshot.map(|id| id.index),
                )
            };
            if let Some(applied) = applied {
                let base = snapshot.unwrap_or(0).max(requested_at);
                let due = match planned {
                    Some((from, due)) if from == (snapshot, requested_at) => due,
                    _ => {
                        let due = due_after(base);
                        planned = Some(((snapshot, requested_at), due));
                        due
                    }
                };
                if applied >= due {
                    requested_at = applied;
                    if raft.trigger().snapshot().await.is_err() {
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
            if metrics.changed().await.is_err() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nodes_of_a_cluster_take_their_snapshots_far_apart() {
        let every = 100_000;
        let mut phases: Vec<u64> = (1..=5).map(|node| phase(node, every)).collect();
        assert!(phases.iter().all(|p| *p < every));
        phases.sort_unstable();
        // Five nodes: no two closer than a tenth of the interval.
        for pair in phases.windows(2) {
            assert!(pair[1] - pair[0] >= every / 10, "{phases:?}");
        }
        // Three nodes, the usual cluster: at least a fifth apart, around the circle too.
        let mut three: Vec<u64> = (1..=3).map(|node| phase(node, every)).collect();
        three.sort_unstable();
        let gaps = [
            three[1] - three[0],
            three[2] - three[1],
            three[0] + every - three[2],
        ];
        assert!(gaps.iter().all(|gap| *gap >= every / 5), "{three:?}");
    }

    #[test]
    fn snapshots_grow_apart_as_the_state_grows() {
        let every = 100_000;
        assert_eq!(spacing(every, 0), every);
        // Up to 25.6 MB, every 100,000 entries.
        assert_eq!(spacing(every, 25_600_000), every);
        assert_eq!(spacing(every, 25_600_256), 2 * every);
        // A million families, about 400 MB: 1.6 million entries apart, so that
        // writing them costs each entry 256 bytes, as it did at 25.6 MB.
        assert_eq!(spacing(every, 400_000_000), 16 * every);
    }

    #[test]
    fn the_schedule_is_every_interval_from_the_phase() {
        assert_eq!(next_after(0, 700, 1000), 700);
        assert_eq!(next_after(699, 700, 1000), 700);
        assert_eq!(next_after(700, 700, 1000), 1700);
        assert_eq!(next_after(1699, 700, 1000), 1700);
        assert_eq!(next_after(5_432, 700, 1000), 5_700);
        assert_eq!(next_after(10, 0, 10), 20);
    }
}
