//! The state machine for openraft (`RaftStateMachine`): applies committed entries to
//! the state's records in log order, one write transaction per batch that also
//! records the last applied log id and membership, and builds and installs
//! snapshots as files.
//!
//! The state machine is persistent ([`StateDb`], docs/architecture.md §4 "Records on
//! disk"): a restarted node opens its records where they stand and openraft replays
//! the log from there. A snapshot is a file in `snapshots/` of the data directory,
//! written from one read transaction while writes go on; one received from the
//! leader is loaded into a new records file beside the current one and swapped in
//! whole.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};

use super::paced::PacedFile;
use super::records::{Applied, RECORDS_FILE, ReadPoint, StateDb};
use super::snapshot;
use crate::cache::{CacheWriter, CacheWrites};
use crate::command::StateResponse;
use crate::state::{StateView, StoreError, legacy};
use crate::typ::{LogId, Snapshot, SnapshotMeta, StoredMembership, TypeConfig};

/// Where format-1 snapshots were kept, in the log's database: read once by a node
/// upgraded in place, then dropped.
const LEGACY_SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("state_snapshot");

/// The folder of the data directory that holds snapshots.
pub const SNAPSHOT_DIR: &str = "snapshots";
const CURRENT_SNAPSHOT: &str = "current.snap";
const INSTALLING: &str = "records.redb.installing";

/// How long applied batches may go without an fsync: what a crash can take back,
/// for the log to replay. The fsync holds up applying for as long as it takes to
/// write every page changed since the last one, so it comes often: once a second,
/// at 1,000 rotations a second, it held each node up for 25–40 ms every second.
const SYNC_EVERY: Duration = Duration::from_millis(100);

/// The file the last snapshot of the state in `data_dir` is in.
pub fn current_snapshot(data_dir: &Path) -> PathBuf {
    data_dir.join(SNAPSHOT_DIR).join(CURRENT_SNAPSHOT)
}

/// The file a snapshot arriving from the leader is written to, in `snapshot_dir`,
/// until it is installed (and becomes the current one) or dropped.
pub fn received_snapshot(snapshot_dir: &Path, transfer: u64) -> PathBuf {
    snapshot_dir.join(format!("{RECEIVED_PREFIX}{transfer:016x}.snap"))
}

const RECEIVED_PREFIX: &str = "incoming-";

/// Removes the received snapshots a stop or a crash left in `snapshot_dir`: a
/// transfer never outlives its process, and each may be hundreds of megabytes.
fn remove_received_snapshots(snapshot_dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(snapshot_dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(RECEIVED_PREFIX))
        {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

pub(super) fn create_tables(tx: &redb::WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(LEGACY_SNAPSHOT)?;
    Ok(())
}

/// A snapshot's file, open: what openraft hands between the state machine and the
/// network. Opened before a newer snapshot can replace it, so it always reads the
/// snapshot it was taken as.
#[derive(Debug)]
pub struct SnapshotFile {
    pub path: PathBuf,
    pub file: File,
}

impl SnapshotFile {
    pub fn open(path: PathBuf) -> io::Result<Self> {
        let file = File::open(&path)?;
        Ok(Self { path, file })
    }

    /// A second handle on the same file, reading from its start.
    pub fn reopen(&self) -> io::Result<File> {
        let mut file = self.file.try_clone()?;
        file.rewind()?;
        Ok(file)
    }
}

/// What the store and its readers share: the records (replaced whole when a
/// snapshot is installed) and where they stand.
struct Shared {
    records: RwLock<Arc<StateDb>>,
    applied: Mutex<Option<LogId>>,
    /// Revocation commands applied here since the node started (the propagation of
    /// revocations to every node, on a dashboard).
    revocations_applied: AtomicU64,
    /// Ticks each time the signing keys may have changed here.
    keys_changed: tokio::sync::watch::Sender<u64>,
    /// Set once Raft has stopped (see `StateReader::stop_applying`).
    stopped: AtomicBool,
}

impl Shared {
    fn records(&self) -> Arc<StateDb> {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn applied(&self) -> Option<LogId> {
        *self.applied.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_applied(&self, applied: Option<LogId>) {
        *self.applied.lock().unwrap_or_else(PoisonError::into_inner) = applied;
    }

    /// Refuses work queued for the state machine once Raft has stopped (see
    /// `StateReader::stop_applying`); `instead` says what takes its place.
    fn refuse_once_stopped(&self, instead: &str) -> io::Result<()> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(io::Error::other(format!("the node has stopped; {instead}")));
        }
        Ok(())
    }
}

/// A read handle on the applied state, for local reads while Raft owns the store.
#[derive(Clone)]
pub struct StateReader {
    shared: Arc<Shared>,
}

impl StateReader {
    /// Revocation commands applied on this node since it started.
    pub fn revocations_applied(&self) -> u64 {
        self.shared.revocations_applied.load(Ordering::Relaxed)
    }

    /// Runs `read` in one read transaction of the applied state. A read never waits
    /// for `apply`, nor `apply` for a read.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&StateView) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.shared.records().read(read)
    }

    /// The index of the last applied log entry (0 before any).
    pub fn last_applied_index(&self) -> u64 {
        self.last_applied().map_or(0, |id| id.index)
    }

    /// The id of the last applied log entry, with the leader that proposed it.
    pub fn last_applied(&self) -> Option<LogId> {
        self.shared.applied()
    }

    /// The records as they stand, for reads that walk them (a cache refill).
    pub fn records(&self) -> Arc<StateDb> {
        self.shared.records()
    }

    /// Ticks each time the signing keys may have changed (a key command applied, a
    /// snapshot installed), so that the node loads its keys again at once.
    pub fn keys_changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.keys_changed.subscribe()
    }

    /// Refuses the batches and snapshot installs still queued for the state machine
    /// once Raft has stopped, and ends a snapshot build under way. openraft's
    /// state-machine task outlives Raft's `shutdown` and goes through its whole
    /// queue first: a learner stopped while tens of thousands of entries behind kept
    /// the store open for longer than a stop may take. The log holds those entries,
    /// and the next start applies them.
    pub(crate) fn stop_applying(&self) {
        self.shared.stopped.store(true, Ordering::Release);
    }
}

pub struct StateMachineStore {
    data_dir: PathBuf,
    cache_bytes: usize,
    shared: Arc<Shared>,
    /// Copies what each command changed into the hot cache, when there is one.
    cache: Option<Arc<CacheWriter>>,
    last_sync: Instant,
    /// The membership the records hold, kept here so that a batch without a
    /// membership entry writes it back without reading it first.
    membership: StoredMembership,
}

fn io_error(e: StoreError) -> io::Error {
    io::Error::other(e)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

impl StateMachineStore {
    /// Opens the records in `data_dir` with a page cache of `cache_bytes`. A node
    /// upgraded from a release that kept its state as a JSON snapshot in `log_db`
    /// has that snapshot turned into records first.
    pub async fn open(
        log_db: Arc<Database>,
        data_dir: &Path,
        cache_bytes: usize,
        cache: Option<Arc<CacheWriter>>,
    ) -> io::Result<Self> {
        let data_dir = data_dir.to_owned();
        let dir = data_dir.clone();
        let records = blocking(move || {
            fs::create_dir_all(dir.join(SNAPSHOT_DIR))?;
            // A load or a transfer a stop interrupted is of no use.
            let _ = fs::remove_file(dir.join(INSTALLING));
            remove_received_snapshots(&dir.join(SNAPSHOT_DIR))?;
            let records = StateDb::open(&dir.join(RECORDS_FILE), cache_bytes).map_err(io_error)?;
            upgrade_from_legacy(&log_db, &records)?;
            Ok(records)
        })
        .await?;
        let applied = records.applied().map_err(io_error)?;
        Ok(Self {
            data_dir,
            cache_bytes,
            shared: Arc::new(Shared {
                records: RwLock::new(Arc::new(records)),
                applied: Mutex::new(applied.last_applied),
                revocations_applied: AtomicU64::default(),
                keys_changed: tokio::sync::watch::Sender::new(0),
                stopped: AtomicBool::new(false),
            }),
            cache,
            last_sync: Instant::now(),
            membership: applied.membership,
        })
    }

    pub fn reader(&self) -> StateReader {
        StateReader {
            shared: self.shared.clone(),
        }
    }

    fn snapshot_path(&self) -> PathBuf {
        current_snapshot(&self.data_dir)
    }
}

impl Drop for StateMachineStore {
    /// A clean stop keeps every applied batch, not only those up to the last fsync.
    fn drop(&mut self) {
        if let Err(e) = self.shared.records().sync() {
            tracing::warn!(error = %e, "the state's last batches were not made durable at stop; the log replays them");
        }
    }
}

/// Turns the format-1 snapshot in the log's database, if there is one and the
/// records are new, into records, then forgets it.
fn upgrade_from_legacy(log_db: &Database, records: &StateDb) -> io::Result<()> {
    let read = log_db.begin_read().map_err(io::Error::other)?;
    let table = read.open_table(LEGACY_SNAPSHOT).map_err(io::Error::other)?;
    let (Some(meta), Some(data)) = (
        table.get("meta").map_err(io::Error::other)?,
        table.get("data").map_err(io::Error::other)?,
    ) else {
        return Ok(());
    };
    if records.applied().map_err(io_error)?.last_applied.is_none() {
        let meta: SnapshotMeta = serde_json::from_slice(meta.value()).map_err(io::Error::other)?;
        let loaded = legacy::records(data.value()).map_err(io::Error::other)?;
        let count = loaded.len();
        records.load(loaded.into_iter().map(Ok)).map_err(io_error)?;
        records
            .write(Durability::Immediate, |batch| {
                batch.set_applied(&Applied {
                    last_applied: meta.last_log_id,
                    membership: meta.last_membership.clone(),
                })
            })
            .map_err(io_error)?;
        tracing::info!(
            records = count,
            index = meta.last_log_id.map(|id| id.index),
            "turned the state snapshot of an earlier release into records"
        );
    }
    drop(table);
    drop(read);
    let write = log_db.begin_write().map_err(io::Error::other)?;
    write
        .delete_table(LEGACY_SNAPSHOT)
        .map_err(io::Error::other)?;
    write
        .open_table(LEGACY_SNAPSHOT)
        .map_err(io::Error::other)?;
    write.commit().map_err(io::Error::other)?;
    Ok(())
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        Ok((self.shared.applied(), self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        self.shared
            .refuse_once_stopped("its log holds these entries for the next start")?;
        let mut batch = Vec::new();
        let mut traced = None;
        let mut keys_changed = false;
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            if let EntryPayload::Normal(command) = &entry.payload {
                if command.is_revocation() {
                    self.shared
                        .revocations_applied
                        .fetch_add(1, Ordering::Relaxed);
                }
                keys_changed |= command.changes_signing_keys();
                if traced.is_none()
                    && let Some(cache) = &self.cache
                {
                    traced = cache.links().context_of(command);
                }
            }
            batch.push((entry, responder));
        }
        let Some(last) = batch.last().map(|(entry, _)| entry.log_id()) else {
            return Ok(());
        };
        let durability = if self.last_sync.elapsed() >= SYNC_EVERY {
            self.last_sync = Instant::now();
            Durability::Immediate
        } else {
            Durability::None
        };
        let collecting = self.cache.is_some();
        let records = self.shared.records();
        let mut membership = self.membership.clone();
        let (batch, writes, membership) = blocking(move || {
            let mut cache_writes = if collecting {
                CacheWrites::collecting()
            } else {
                CacheWrites::ignoring()
            };
            let answered = records
                .write(durability, |tx| {
                    let mut answers = Vec::with_capacity(batch.len());
                    for (entry, responder) in batch {
                        let response = match &entry.payload {
                            EntryPayload::Blank => {
                                tx.state.new_term()?;
                                StateResponse::Empty
                            }
                            EntryPayload::Normal(command) => {
                                tx.state.apply(command, &mut cache_writes)?
                            }
                            EntryPayload::Membership(changed) => {
                                membership =
                                    StoredMembership::new(Some(entry.log_id()), changed.clone());
                                StateResponse::Empty
                            }
                        };
                        answers.push((responder, response));
                    }
                    tx.set_applied(&Applied {
                        last_applied: Some(last),
                        membership: membership.clone(),
                    })?;
                    Ok(answers)
                })
                .map_err(io_error)?;
            Ok((answered, cache_writes.take(), membership))
        })
        .await?;
        self.membership = membership;
        self.shared.set_applied(Some(last));
        if keys_changed {
            self.shared.keys_changed.send_modify(|n| *n += 1);
        }
        // Answers wait until the batch is written through to the hot cache, so that
        // an answered revocation is in Redis or the cache writer knows it is not.
        if let Some(cache) = &self.cache {
            cache.applied(writes, traced).await;
        }
        for (responder, response) in batch {
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            shared: self.shared.clone(),
            path: self.snapshot_path(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotFile,
    ) -> io::Result<()> {
        self.shared
            .refuse_once_stopped("the leader sends the snapshot again after the next start")?;
        let installing = self.data_dir.join(INSTALLING);
        let records_path = self.data_dir.join(RECORDS_FILE);
        let current = self.snapshot_path();
        let cache_bytes = self.cache_bytes;
        let expected = meta.last_log_id;
        let (records, count) = blocking(move || {
            let _ = fs::remove_file(&installing);
            let records = StateDb::open(&installing, cache_bytes).map_err(io_error)?;
            let mut input = BufReader::new(snapshot.reopen()?);
            let (read, count) = snapshot::read(&mut input, &records)?;
            let applied = records.applied().map_err(io_error)?;
            if read.last_log_id != expected || applied.last_applied != expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the snapshot's records are not at the position it was sent as",
                ));
            }
            fs::rename(&installing, &records_path)?;
            if snapshot.path != current {
                fs::rename(&snapshot.path, &current)?;
            }
            sync_dir(records_path.parent())?;
            Ok((records, count))
        })
        .await?;
        tracing::info!(
            index = meta.last_log_id.map(|id| id.index),
            records = count,
            "installed a snapshot from the leader: this node was too far behind for the log"
        );
        // Nothing in the snapshot was written through here.
        if let Some(cache) = &self.cache {
            cache.mark_dirty();
        }
        *self
            .shared
            .records
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(records);
        self.shared.set_applied(meta.last_log_id);
        self.membership = meta.last_membership.clone();
        self.shared.keys_changed.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        let path = self.snapshot_path();
        blocking(move || match SnapshotFile::open(path) {
            Ok(file) => {
                let meta = snapshot::read_meta(&mut BufReader::new(file.reopen()?))?;
                Ok(Some(Snapshot {
                    meta,
                    snapshot: file,
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }
}

/// Writes the snapshot of `view` to `partial` and syncs it; gives up as soon as the
/// node stops. A million families take seconds to write, and a node that is
/// stopping should not wait for a snapshot it will never send.
fn write_until_stopped(
    view: &ReadPoint,
    meta: &SnapshotMeta,
    partial: &Path,
    shared: &Shared,
) -> io::Result<u64> {
    let file = PacedFile::new(File::create(partial)?);
    let mut out = BufWriter::new(UntilStopped { file, shared });
    let count = snapshot::write(view, meta, &mut out)?;
    out.into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .file
        .into_synced()?;
    Ok(count)
}

/// A snapshot file that refuses every write once the node has stopped.
struct UntilStopped<'a> {
    file: PacedFile,
    shared: &'a Shared,
}

impl Write for UntilStopped<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared
            .refuse_once_stopped("the snapshot is abandoned; the next start takes another")?;
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn sync_dir(dir: Option<&Path>) -> io::Result<()> {
    match dir {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Builds a snapshot file of the records and makes it the current one.
pub struct SnapshotBuilder {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let shared = self.shared.clone();
        let path = self.path.clone();
        let (meta, count, durable, total) = blocking(move || {
            let started = Instant::now();
            let records = shared.records();
            let view = records.read_point().map_err(io_error)?;
            // openraft compacts the log up to the snapshot: what it holds must be on
            // disk before. Synced after the read point, so that a batch applied in
            // between is synced too.
            records.sync().map_err(io_error)?;
            let durable = started.elapsed();
            let applied = view.applied().map_err(io_error)?;
            let meta = SnapshotMeta {
                last_log_id: applied.last_applied,
                last_membership: applied.membership,
            };
            let partial = path.with_extension("partial");
            let written = write_until_stopped(&view, &meta, &partial, &shared);
            if written.is_err() {
                let _ = fs::remove_file(&partial);
            }
            let count = written?;
            fs::rename(&partial, &path)?;
            sync_dir(path.parent())?;
            Ok((meta, count, durable, started.elapsed()))
        })
        .await?;
        tracing::info!(
            index = meta.last_log_id.map(|id| id.index),
            records = count,
            durable_ms = durable.as_millis() as u64,
            total_ms = total.as_millis() as u64,
            "took a snapshot of the state; the log before it can be compacted"
        );
        Ok(Snapshot {
            meta,
            snapshot: SnapshotFile::open(self.path.clone())?,
        })
    }
}
