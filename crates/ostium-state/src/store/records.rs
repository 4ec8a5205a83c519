//! The state's own redb database, `records.redb` in the data directory: the tables of
//! [`crate::state`] and, in the same transactions, the log position they reflect and
//! the membership. A file apart from the log's, so that appending to the log and
//! applying to the state never wait for each other's write lock, and so that a
//! snapshot from the leader can be built beside it and swapped in whole.
//!
//! Applied batches commit without an fsync, and one commit in a while (and every
//! snapshot) with one: the log is durable on its own, and a crash only takes the
//! state back to a position the log replays from.

use std::io;
use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};

use crate::cache::CacheWrites;
use crate::command::{StateCommand, StateResponse};
use crate::state::tables::{self, RawRecord, Result, StoreError, Table, Writable};
use crate::state::{StateView, StateWriter};
use crate::typ::{LogId, StoredMembership};

/// The file inside the data directory that holds the state's records.
pub const RECORDS_FILE: &str = "records.redb";

/// Where the state's records stand in the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

const APPLIED: &str = "applied";

/// The META table: JSON values, which openraft's types are written for.
fn meta<T>(raw: T) -> Table<T, str, Vec<u8>> {
    Table::new(raw, tables::META)
}

pub struct StateDb {
    db: Database,
}

impl StateDb {
    /// Opens (or creates) the records at `path`, with a page cache of `cache_bytes`:
    /// the memory the state's records may take, however many there are.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<Self> {
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(redb::Error::from)?;
        Self::with_tables(db)
    }

    /// Records that live in memory only: the store of a single process without a
    /// data directory, and tests.
    pub fn in_memory() -> Self {
        let db = redb::Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .expect("an in-memory database opens");
        Self::with_tables(db).expect("an in-memory database takes tables")
    }

    /// Makes sure every table exists, so that a read never meets a missing one, and
    /// that records an older release wrote are in this release's format.
    fn with_tables(db: Database) -> Result<Self> {
        let tx = db.begin_write()?;
        for table in tables::ALL {
            tx.open_table(table)?;
        }
        tx.commit()?;
        super::upgrade::in_place(&db)?;
        Ok(Self { db })
    }

    /// Runs `read` in one read transaction: it sees one applied position whatever
    /// is committed meanwhile.
    pub fn read<R>(&self, read: impl FnOnce(&StateView) -> Result<R>) -> Result<R> {
        let tx = self.db.begin_read()?;
        let view = StateView::open(|table| Ok(tx.open_table(table)?))?;
        read(&view)
    }

    /// Where the records stand in the log.
    pub fn applied(&self) -> Result<Applied> {
        self.read_point()?.applied()
    }

    /// One consistent view of every table, for as long as it is held: what a
    /// snapshot is written from while writes go on.
    pub fn read_point(&self) -> Result<ReadPoint> {
        Ok(ReadPoint {
            tx: self.db.begin_read()?,
        })
    }

    /// Runs `write` in one write transaction and commits it with `durability`.
    /// Nothing `write` did is kept if it fails.
    pub fn write<R>(
        &self,
        durability: Durability,
        write: impl FnOnce(&mut Batch<'_>) -> Result<R>,
    ) -> Result<R> {
        let tx = self.begin_write(durability)?;
        let result = {
            let mut batch = Batch {
                state: StateWriter::open(|table| Ok(tx.open_table(table)?))?,
                tx: &tx,
            };
            write(&mut batch)?
        };
        tx.commit()?;
        Ok(result)
    }

    /// Applies one command in a transaction of its own: the state of a single
    /// process, where there is no log to batch by.
    pub fn apply(&self, command: &StateCommand, cache: &mut CacheWrites) -> Result<StateResponse> {
        self.write(Durability::Immediate, |batch| {
            batch.state.apply(command, cache)
        })
    }

    /// A write transaction that commits with `durability`.
    fn begin_write(&self, durability: Durability) -> Result<WriteTransaction> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(durability)
            .map_err(|e| redb::Error::Io(io::Error::other(e)))?;
        Ok(tx)
    }

    /// Makes every commit so far durable.
    pub fn sync(&self) -> Result<()> {
        let tx = self.begin_write(Durability::Immediate)?;
        tx.commit()?;
        Ok(())
    }

    /// Every record of every table, by table number: what a snapshot carries, and
    /// what tests compare.
    pub fn dump(&self) -> Result<Vec<RawRecord>> {
        let mut records = Vec::new();
        self.read_point()?.each_record(|table, key, value| {
            records.push((table, key.to_vec(), value.to_vec()));
            Ok(())
        })?;
        Ok(records)
    }

    /// Loads `records` (by table number, grouped by table, as [`ReadPoint::each_record`]
    /// gives them) into these tables, committing every `LOAD_BATCH` records so that
    /// no transaction holds them all. Each batch is committed durably, so that the
    /// load goes to disk as it goes and the log's fsyncs never wait behind all of it
    /// (`store/paced.rs`).
    pub fn load(&self, records: impl IntoIterator<Item = Result<RawRecord>>) -> Result<u64> {
        const LOAD_BATCH: u64 = 50_000;
        let mut loaded = 0;
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let tx = self.begin_write(Durability::Immediate)?;
            let mut in_batch = 0;
            while in_batch < LOAD_BATCH {
                let Some(first) = records.next() else { break };
                let (number, key, value) = first?;
                let definition = tables::ALL.get(number).copied().ok_or_else(|| {
                    invalid(format!(
                        "a snapshot names table {number}, which this release does not have"
                    ))
                })?;
                let mut table = tx.open_table(definition)?;
                table.insert(key.as_slice(), value.as_slice())?;
                in_batch += 1;
                // The rest of this table's records, while the table is open.
                while in_batch < LOAD_BATCH
                    && let Some(Ok((next, _, _))) = records.peek()
                    && *next == number
                {
                    if let Some(Ok((_, key, value))) = records.next() {
                        table.insert(key.as_slice(), value.as_slice())?;
                        in_batch += 1;
                    }
                }
            }
            tx.commit()?;
            loaded += in_batch;
        }
        Ok(loaded)
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Database(redb::Error::Io(io::Error::new(
        io::ErrorKind::InvalidData,
        message.into(),
    )))
}

/// A read transaction over every table.
pub struct ReadPoint {
    tx: redb::ReadTransaction,
}

impl ReadPoint {
    /// Where the records this view sees stand in the log.
    pub fn applied(&self) -> Result<Applied> {
        let bytes = meta(self.tx.open_table(tables::META)?).get(APPLIED)?;
        match bytes {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string())),
            None => Ok(Applied::default()),
        }
    }

    /// Calls `visit` with every record of every table, by table number, in table
    /// and key order.
    pub fn each_record(
        &self,
        mut visit: impl FnMut(usize, &[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        for (number, definition) in tables::ALL.into_iter().enumerate() {
            let table = self.tx.open_table(definition)?;
            for entry in table.iter()? {
                let (key, value) = entry?;
                visit(number, key.value(), value.value())?;
            }
        }
        Ok(())
    }
}

/// One write transaction: the state as `apply` changes it, and the position it
/// reaches.
pub struct Batch<'t> {
    pub state: StateWriter<'t>,
    tx: &'t WriteTransaction,
}

impl Batch<'_> {
    /// Records the position the batch reaches, committed with it.
    pub fn set_applied(&mut self, applied: &Applied) -> Result<()> {
        let bytes = serde_json::to_vec(applied)
            .map_err(|e| redb::Error::Io(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        let table: Writable<'_> = self.tx.open_table(tables::META)?;
        meta(table).insert(APPLIED, &bytes)
    }
}
