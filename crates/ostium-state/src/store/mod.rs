//! Durable storage for openraft in the data directory: the Raft log (`log`) in one
//! redb database, the state's records (`records`) in another, the state machine over
//! them (`state_machine`), and its snapshots as files (`snapshot`, the format);
//! records and snapshots of an older release are read through `upgrade`; snapshot
//! files go to disk as they are written (`paced`).
//!
//! redb commits with `Durability::Immediate` (an fsync) by default, and every write
//! here is a committed transaction before it is reported done, so nothing openraft
//! believes persisted can be lost by a crash. redb calls block, so they run on tokio's
//! blocking pool, never on a Raft task.

use std::io;
use std::path::Path;
use std::sync::Arc;

use redb::Database;

pub mod log;
pub mod paced;
pub mod records;
pub mod snapshot;
pub mod state_machine;
pub mod upgrade;

pub use log::LogStore;
pub use records::StateDb;
pub use state_machine::{SnapshotFile, StateMachineStore, StateReader};

/// The file inside the data directory that holds the log.
pub const DATABASE_FILE: &str = "state.redb";

/// redb's page cache.
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Opens (or creates) the database in `data_dir` and makes sure every table exists,
/// so that readers never meet a missing table.
pub fn open(data_dir: &Path) -> io::Result<Arc<Database>> {
    std::fs::create_dir_all(data_dir)?;
    // The log is read back mostly right after it is written; a small page cache
    // keeps an idle node small. The state's records have their own.
    let db = redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(data_dir.join(DATABASE_FILE))
        .map_err(io::Error::other)?;
    let tx = db.begin_write().map_err(io::Error::other)?;
    log::create_tables(&tx).map_err(io::Error::other)?;
    state_machine::create_tables(&tx).map_err(io::Error::other)?;
    tx.commit().map_err(io::Error::other)?;
    Ok(Arc::new(db))
}

/// Runs a blocking redb operation on the blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, redb::Error> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
        .map_err(io::Error::other)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, redb::Error> {
    serde_json::to_vec(value)
        .map_err(|e| redb::Error::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, redb::Error> {
    serde_json::from_slice(bytes)
        .map_err(|e| redb::Error::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use openraft::entry::RaftEntry;
    use openraft::storage::{IOFlushed, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
    use openraft::testing::log::{StoreBuilder, Suite};
    use openraft::testing::{blank_ent, log_id};
    use openraft::type_config::TypeConfigExt;
    use openraft::{Membership, RaftLogReader, StorageError};
    use tempfile::TempDir;

    use super::*;
    use crate::command::{RevokeToken, StateCommand};
    use crate::typ::{Entry, TypeConfig};

    struct RedbStores;

    impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for RedbStores {
        async fn build(
            &self,
        ) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<TypeConfig>> {
            let dir =
                TempDir::new().map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
            let db =
                open(dir.path()).map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
            let sm = StateMachineStore::open(db.clone(), dir.path(), 8 << 20, None)
                .await
                .map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
            Ok((dir, LogStore::new(db), sm))
        }
    }

    /// openraft's own conformance suite for log and state-machine stores.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn openraft_storage_suite() {
        Suite::test_all(RedbStores).await.unwrap();
    }

    fn revoke(index: u64) -> Entry {
        Entry::new_normal(
            log_id::<TypeConfig>(1, 1, index),
            StateCommand::RevokeToken(RevokeToken {
                token_id: format!("jti-{index}"),
                expires_at: 2_000_000_000,
                at: 1_800_000_000,
            }),
        )
    }

    async fn append(log: &mut LogStore, entries: Vec<Entry>) {
        let (tx, rx) = TypeConfig::oneshot();
        log.append(entries, IOFlushed::signal(tx)).await.unwrap();
        rx.await.unwrap().unwrap();
    }

    async fn state_machine(dir: &std::path::Path) -> StateMachineStore {
        StateMachineStore::open(open(dir).unwrap(), dir, 8 << 20, None)
            .await
            .unwrap()
    }

    async fn apply(sm: &mut StateMachineStore, entries: Vec<Entry>) {
        let stream = futures_util::stream::iter(entries.into_iter().map(|e| Ok((e, None))));
        sm.apply(stream).await.unwrap();
    }

    async fn build_snapshot(sm: &mut StateMachineStore) -> std::io::Result<crate::typ::Snapshot> {
        sm.get_snapshot_builder().await.build_snapshot().await
    }

    /// A snapshot of a state machine that applied revocations 1 and 2, with that
    /// state machine and its folder.
    async fn source_snapshot() -> (TempDir, StateMachineStore, crate::typ::Snapshot) {
        let dir = TempDir::new().unwrap();
        let mut source = state_machine(dir.path()).await;
        apply(&mut source, vec![revoke(1), revoke(2)]).await;
        let snapshot = build_snapshot(&mut source).await.unwrap();
        (dir, source, snapshot)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn log_vote_and_committed_survive_a_reopen() {
        let dir = TempDir::new().unwrap();
        {
            let db = open(dir.path()).unwrap();
            let mut log = LogStore::new(db);
            append(
                &mut log,
                vec![blank_ent::<TypeConfig>(1, 1, 1), revoke(2), revoke(3)],
            )
            .await;
            log.save_vote(&openraft::Vote::new(1, 1)).await.unwrap();
            log.save_committed(Some(log_id::<TypeConfig>(1, 1, 2)))
                .await
                .unwrap();
            log.purge(log_id::<TypeConfig>(1, 1, 1)).await.unwrap();
        }
        let db = open(dir.path()).unwrap();
        let mut log = LogStore::new(db);
        let entries = log.try_get_log_entries(0..10).await.unwrap();
        assert_eq!(entries, vec![revoke(2), revoke(3)]);
        assert_eq!(
            log.read_vote().await.unwrap(),
            Some(openraft::Vote::new(1, 1))
        );
        assert_eq!(
            log.read_committed().await.unwrap(),
            Some(log_id::<TypeConfig>(1, 1, 2))
        );
        let state = log.get_log_state().await.unwrap();
        assert_eq!(
            state.last_purged_log_id,
            Some(log_id::<TypeConfig>(1, 1, 1))
        );
        assert_eq!(state.last_log_id, Some(log_id::<TypeConfig>(1, 1, 3)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purged_entries_go_a_batch_with_each_append_and_are_never_read() {
        let dir = TempDir::new().unwrap();
        let mut log = LogStore::new(open(dir.path()).unwrap());
        append(&mut log, (1..=2_500).map(revoke).collect()).await;
        log.purge(log_id::<TypeConfig>(1, 1, 2_400)).await.unwrap();
        // The purge itself removes nothing, and nothing behind it is read.
        assert_eq!(log.entries_on_disk(), 2_500);
        let read = log.try_get_log_entries(0..).await.unwrap();
        assert_eq!(read.first().map(|e| e.log_id.index), Some(2_401));
        assert_eq!(read.len(), 100);
        for (next, on_disk) in [(2_501, 1_501), (2_502, 502), (2_503, 103)] {
            append(&mut log, vec![revoke(next)]).await;
            assert_eq!(log.entries_on_disk(), on_disk, "after appending {next}");
        }
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id::<TypeConfig>(1, 1, 2_503)));
        // Purged up to its end, the log still ends there.
        log.purge(log_id::<TypeConfig>(1, 1, 2_503)).await.unwrap();
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id::<TypeConfig>(1, 1, 2_503)));
        assert_eq!(log.try_get_log_entries(0..).await.unwrap(), vec![]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reopened_state_machine_keeps_what_it_applied_and_its_snapshot() {
        let dir = TempDir::new().unwrap();
        let membership = Membership::new_with_defaults(vec![[1u64].into()], []);
        {
            let mut sm = state_machine(dir.path()).await;
            let first = Entry::new_membership(log_id::<TypeConfig>(1, 1, 1), membership.clone());
            apply(&mut sm, vec![first, revoke(2), revoke(3)]).await;
            build_snapshot(&mut sm).await.unwrap();
            // Applied after the snapshot: in the records, not in the snapshot.
            apply(&mut sm, vec![revoke(4)]).await;
        }
        let mut sm = state_machine(dir.path()).await;
        let (last_applied, stored) = sm.applied_state().await.unwrap();
        assert_eq!(last_applied, Some(log_id::<TypeConfig>(1, 1, 4)));
        assert_eq!(stored.membership(), &membership);
        let now = 1_900_000_000;
        let revoked = |jti: &str| {
            sm.reader()
                .read(|s| s.deny_list().is_revoked(jti, now))
                .unwrap()
        };
        assert!(revoked("jti-2") && revoked("jti-3") && revoked("jti-4"));
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(
            current.meta.last_log_id,
            Some(log_id::<TypeConfig>(1, 1, 3))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_installed_snapshot_replaces_the_state_and_persists() {
        let (_source_dir, source, snapshot) = source_snapshot().await;

        let dir = TempDir::new().unwrap();
        {
            let mut sm = state_machine(dir.path()).await;
            apply(&mut sm, vec![revoke(1), revoke(7)]).await;
            // As the network hands it over: a file of its own in the snapshot folder.
            let received = dir.path().join("snapshots").join("incoming.snap");
            std::fs::copy(&snapshot.snapshot.path, &received).unwrap();
            let received = SnapshotFile::open(received).unwrap();
            sm.install_snapshot(&snapshot.meta, received).await.unwrap();
        }
        let mut sm = state_machine(dir.path()).await;
        assert_eq!(
            sm.reader().records().dump().unwrap(),
            source.reader().records().dump().unwrap()
        );
        assert_eq!(sm.reader().last_applied_index(), 2);
        assert!(
            !sm.reader()
                .read(|s| s.deny_list().is_revoked("jti-7", 1_900_000_000))
                .unwrap(),
            "what the snapshot replaced is gone"
        );
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, snapshot.meta);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_truncated_snapshot_is_refused_and_changes_nothing() {
        let (_source_dir, _source, snapshot) = source_snapshot().await;
        let dir = TempDir::new().unwrap();
        let mut sm = state_machine(dir.path()).await;
        apply(&mut sm, vec![revoke(5)]).await;
        let bytes = std::fs::read(&snapshot.snapshot.path).unwrap();
        let received = dir.path().join("snapshots").join("cut.snap");
        std::fs::write(&received, &bytes[..bytes.len() - 3]).unwrap();
        let received = SnapshotFile::open(received).unwrap();
        assert!(sm.install_snapshot(&snapshot.meta, received).await.is_err());
        assert_eq!(sm.reader().last_applied_index(), 5);
        assert!(
            sm.reader()
                .read(|s| s.deny_list().is_revoked("jti-5", 1_900_000_000))
                .unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_entry_advances_last_applied_and_commands_change_state() {
        let dir = TempDir::new().unwrap();
        let mut sm = state_machine(dir.path()).await;
        apply(&mut sm, vec![blank_ent::<TypeConfig>(1, 1, 1)]).await;
        assert_eq!(sm.reader().last_applied_index(), 1);
        apply(&mut sm, vec![revoke(2)]).await;
        assert_eq!(sm.reader().last_applied_index(), 2);
        assert!(
            sm.reader()
                .read(|s| s.deny_list().is_revoked("jti-2", 1_900_000_000))
                .unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_queued_after_raft_stopped_are_left_to_the_log() {
        let dir = TempDir::new().unwrap();
        {
            let mut sm = state_machine(dir.path()).await;
            apply(&mut sm, vec![blank_ent::<TypeConfig>(1, 1, 1)]).await;
            sm.reader().stop_applying();
            let stream = futures_util::stream::iter([Ok((revoke(2), None))]);
            assert!(sm.apply(stream).await.is_err());
            assert_eq!(sm.reader().last_applied_index(), 1);
        }
        // Reopened, the store starts from the last entry it applied, so that the
        // refused one is applied from the log.
        let mut sm = state_machine(dir.path()).await;
        let (last_applied, _) = sm.applied_state().await.unwrap();
        assert_eq!(last_applied, Some(log_id::<TypeConfig>(1, 1, 1)));
        assert!(
            !sm.reader()
                .read(|s| s.deny_list().is_revoked("jti-2", 1_900_000_000))
                .unwrap()
        );
        apply(&mut sm, vec![revoke(2)]).await;
        assert_eq!(sm.reader().last_applied_index(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_install_queued_after_raft_stopped_is_refused() {
        let (_source_dir, _source, snapshot) = source_snapshot().await;

        let dir = TempDir::new().unwrap();
        let mut sm = state_machine(dir.path()).await;
        apply(&mut sm, vec![revoke(1)]).await;
        let before = sm.reader().records().dump().unwrap();
        let received = state_machine::received_snapshot(&dir.path().join("snapshots"), 1);
        std::fs::copy(&snapshot.snapshot.path, &received).unwrap();
        sm.reader().stop_applying();
        let refused = sm
            .install_snapshot(&snapshot.meta, SnapshotFile::open(received).unwrap())
            .await;
        assert!(refused.is_err());
        assert_eq!(sm.reader().records().dump().unwrap(), before);
        assert_eq!(sm.reader().last_applied_index(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_build_gives_up_once_raft_stopped_and_keeps_the_last_snapshot() {
        let dir = TempDir::new().unwrap();
        let mut sm = state_machine(dir.path()).await;
        apply(&mut sm, vec![revoke(1)]).await;
        build_snapshot(&mut sm).await.unwrap();
        apply(&mut sm, vec![revoke(2)]).await;
        sm.reader().stop_applying();
        assert!(build_snapshot(&mut sm).await.is_err());
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(
            current.meta.last_log_id,
            Some(log_id::<TypeConfig>(1, 1, 1))
        );
        let left: Vec<_> = std::fs::read_dir(dir.path().join("snapshots"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(left, ["current.snap"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshots_received_before_a_stop_are_removed_at_the_next_start() {
        let dir = TempDir::new().unwrap();
        let snapshots = dir.path().join("snapshots");
        {
            let mut sm = state_machine(dir.path()).await;
            apply(&mut sm, vec![revoke(1)]).await;
            build_snapshot(&mut sm).await.unwrap();
        }
        let left = state_machine::received_snapshot(&snapshots, 0xab);
        std::fs::write(&left, b"half a transfer").unwrap();
        let mut sm = state_machine(dir.path()).await;
        assert!(!left.exists());
        // The current snapshot is not one of them.
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(
            current.meta.last_log_id,
            Some(log_id::<TypeConfig>(1, 1, 1))
        );
    }
}
