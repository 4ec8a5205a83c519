//! The Raft log on redb: entries by index, the vote, the committed log id and the last
//! purged log id (openraft `RaftLogStorage`).
//!
//! An append is reported flushed only after its redb transaction has committed, and
//! redb commits durably (fsync), so an entry the leader counts towards a quorum is on
//! disk. Truncation runs in one transaction, so it never leaves a hole. A purge only
//! records how far the log is purged; the entries behind that point go a batch at a
//! time, [`PURGE_BATCH`] with each append, in its transaction. With a million live
//! tokens a purge covers more than a million entries: removed in one transaction,
//! they held up every append, and the heartbeats with them, for seconds. Nothing
//! reads below the purged point, so the entries still there are only disk.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{blocking, from_json, to_json};
use crate::typ::{Entry, LogId, TypeConfig, Vote};

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_log_meta");

const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const LAST_PURGED: &str = "last_purged";

/// Purged entries removed with each append: a million go within a few thousand
/// appends, and an append waits for no more than these.
const PURGE_BATCH: u64 = 1_000;

pub(super) fn create_tables(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(ENTRIES)?;
    tx.open_table(META)?;
    Ok(())
}

/// The log store; clones share the same database.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    async fn read_meta<T>(&self, key: &'static str) -> io::Result<Option<T>>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        let db = self.db.clone();
        blocking(move || {
            let tx = db.begin_read()?;
            let table = tx.open_table(META)?;
            match table.get(key)? {
                Some(bytes) => Ok(Some(from_json(bytes.value())?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn write_meta<T: serde::Serialize>(
        &self,
        key: &'static str,
        value: &T,
    ) -> io::Result<()> {
        let bytes = to_json(value).map_err(io::Error::other)?;
        let db = self.db.clone();
        blocking(move || {
            let tx = db.begin_write()?;
            tx.open_table(META)?.insert(key, bytes.as_slice())?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        let bounds: (Bound<u64>, Bound<u64>) =
            (range.start_bound().cloned(), range.end_bound().cloned());
        let db = self.db.clone();
        blocking(move || {
            let tx = db.begin_read()?;
            let purged = last_purged(&tx.open_table(META)?)?.map(|id| id.index);
            let table = tx.open_table(ENTRIES)?;
            let mut entries = Vec::new();
            for row in table.range::<u64>(bounds)? {
                let (index, bytes) = row?;
                if purged.is_some_and(|purged| index.value() <= purged) {
                    continue;
                }
                entries.push(from_json::<Entry>(bytes.value())?);
            }
            Ok(entries)
        })
        .await
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        self.read_meta(VOTE).await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let db = self.db.clone();
        let (last_log_id, last_purged_log_id) = blocking(move || {
            let tx = db.begin_read()?;
            let last_purged = last_purged(&tx.open_table(META)?)?;
            let last: Option<LogId> = match tx.open_table(ENTRIES)?.last()? {
                Some((_, bytes)) => Some(from_json::<Entry>(bytes.value())?.log_id),
                None => None,
            };
            Ok((last, last_purged))
        })
        .await?;
        Ok(LogState {
            // A log with nothing after its purged point still ends where the purge
            // ended.
            last_log_id: last_log_id
                .filter(|last| last_purged_log_id.is_none_or(|purged| last.index > purged.index))
                .or(last_purged_log_id),
            last_purged_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.write_meta(VOTE, vote).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        // Persisted so that a restarted node re-applies the log up to here on top of its
        // snapshot: the state machine itself is kept only in memory and in snapshots.
        self.write_meta(COMMITTED, &committed).await
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED).await?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut rows = Vec::new();
        for entry in entries {
            rows.push((
                entry.log_id.index,
                to_json(&entry).map_err(io::Error::other)?,
            ));
        }
        let db = self.db.clone();
        let written = blocking(move || {
            let tx = db.begin_write()?;
            {
                let mut table = tx.open_table(ENTRIES)?;
                for (index, bytes) in &rows {
                    table.insert(*index, bytes.as_slice())?;
                }
            }
            remove_purged(&tx, PURGE_BATCH)?;
            tx.commit()?;
            Ok(())
        })
        .await;
        // The commit above is durable, so the entries are both readable and flushed now.
        match written {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let first_removed = last_log_id.map_or(0, |id| id.index + 1);
        let db = self.db.clone();
        blocking(move || {
            let tx = db.begin_write()?;
            tx.open_table(ENTRIES)?
                .retain_in(first_removed.., |_, _| false)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        self.write_meta(LAST_PURGED, &log_id).await
    }
}

/// The last purged log id, as `meta` holds it.
fn last_purged(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Option<LogId>, redb::Error> {
    match meta.get(LAST_PURGED)? {
        Some(bytes) => Ok(Some(from_json(bytes.value())?)),
        None => Ok(None),
    }
}

/// Removes up to `batch` of the oldest entries at or below the last purged one.
fn remove_purged(tx: &WriteTransaction, batch: u64) -> Result<(), redb::Error> {
    let Some(upto) = last_purged(&tx.open_table(META)?)?.map(|id| id.index) else {
        return Ok(());
    };
    let mut entries = tx.open_table(ENTRIES)?;
    let first = match entries.first()? {
        Some((index, _)) if index.value() <= upto => index.value(),
        _ => return Ok(()),
    };
    entries.retain_in(first..=upto.min(first.saturating_add(batch - 1)), |_, _| {
        false
    })?;
    Ok(())
}

#[cfg(test)]
impl LogStore {
    /// How many entries are on disk, purged or not.
    pub(super) fn entries_on_disk(&self) -> u64 {
        let tx = self.db.begin_read().unwrap();
        redb::ReadableTableMetadata::len(&tx.open_table(ENTRIES).unwrap()).unwrap()
    }
}
