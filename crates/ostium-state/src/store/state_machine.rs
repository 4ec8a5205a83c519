//! The state machine for openraft (`RaftStateMachine`): applies committed entries to
//! [`State`] in log order, records the last applied log id and membership, and builds
//! and installs snapshots.
//!
//! Persistence follows openraft's "persistent snapshot" pattern: `State` lives in
//! memory, every snapshot (the serialized state with its last applied log id and
//! membership) is committed to redb before it is reported built or installed, and the
//! log store persists the committed log id. A restarted node loads its last snapshot
//! here and openraft re-applies the log from there up to the committed index.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use futures_util::{Stream, StreamExt};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};

use super::{blocking, from_json, to_json};
use crate::cache::{CacheWriter, CacheWrites};
use crate::command::StateResponse;
use crate::state::State;
use crate::typ::{LogId, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig};

const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("state_snapshot");
const SNAPSHOT_META: &str = "meta";
const SNAPSHOT_DATA: &str = "data";

pub(super) fn create_tables(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(SNAPSHOT)?;
    Ok(())
}

/// The applied state with the log position it reflects.
#[derive(Debug, Default)]
struct Applied {
    state: State,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

/// A read handle on the applied state, for local reads while Raft owns the store.
#[derive(Clone)]
pub struct StateReader {
    applied: Arc<RwLock<Applied>>,
    revocations_applied: Arc<AtomicU64>,
    keys_changed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl StateReader {
    /// Revocation commands applied on this node since it started.
    pub fn revocations_applied(&self) -> u64 {
        self.revocations_applied.load(Ordering::Relaxed)
    }

    /// Ticks each time the signing keys may have changed (a key command applied, a
    /// snapshot installed), so that the node loads its keys again at once.
    pub fn keys_changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.keys_changed.subscribe()
    }

    /// Runs `read` on the applied state. Keep `read` short: `apply` waits for it.
    pub fn read<T>(&self, read: impl FnOnce(&State) -> T) -> T {
        read(&self.lock().state)
    }

    /// The index of the last applied log entry (0 before any).
    pub fn last_applied_index(&self) -> u64 {
        self.lock().last_applied.as_ref().map_or(0, |id| id.index)
    }

    /// The id of the last applied log entry, with the leader that proposed it.
    pub fn last_applied(&self) -> Option<LogId> {
        self.lock().last_applied
    }

    fn lock(&self) -> RwLockReadGuard<'_, Applied> {
        // Poisoning needs a panic inside `State::apply`, which has no panicking path;
        // reads go on rather than take the node down.
        self.applied.read().unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct StateMachineStore {
    db: Arc<Database>,
    applied: Arc<RwLock<Applied>>,
    /// Copies what each command changed into the hot cache, when there is one.
    cache: Option<Arc<CacheWriter>>,
    /// Revocation commands applied here since the node started (the propagation of
    /// revocations to every node, on a dashboard).
    revocations_applied: Arc<AtomicU64>,
    /// See [`StateReader::keys_changed`].
    keys_changed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl StateMachineStore {
    /// Opens the state machine, starting from the last snapshot in `db` if there is one.
    pub async fn open(db: Arc<Database>, cache: Option<Arc<CacheWriter>>) -> io::Result<Self> {
        let applied = match read_snapshot(db.clone()).await? {
            Some((meta, data)) => Applied {
                state: from_json(&data).map_err(io::Error::other)?,
                last_applied: meta.last_log_id,
                membership: meta.last_membership,
            },
            None => Applied::default(),
        };
        Ok(Self {
            db,
            applied: Arc::new(RwLock::new(applied)),
            cache,
            revocations_applied: Arc::default(),
            keys_changed: Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    pub fn reader(&self) -> StateReader {
        StateReader {
            applied: self.applied.clone(),
            revocations_applied: self.revocations_applied.clone(),
            keys_changed: self.keys_changed.clone(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Applied> {
        self.applied.write().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn read_snapshot(db: Arc<Database>) -> io::Result<Option<(SnapshotMeta, SnapshotData)>> {
    blocking(move || {
        let tx = db.begin_read()?;
        let table = tx.open_table(SNAPSHOT)?;
        let (Some(meta), Some(data)) = (table.get(SNAPSHOT_META)?, table.get(SNAPSHOT_DATA)?)
        else {
            return Ok(None);
        };
        Ok(Some((from_json(meta.value())?, data.value().to_vec())))
    })
    .await
}

/// Commits a snapshot in one transaction, replacing the previous one.
async fn write_snapshot(
    db: Arc<Database>,
    meta: &SnapshotMeta,
    data: SnapshotData,
) -> io::Result<()> {
    let meta = to_json(meta).map_err(io::Error::other)?;
    blocking(move || {
        let tx = db.begin_write()?;
        {
            let mut table = tx.open_table(SNAPSHOT)?;
            table.insert(SNAPSHOT_META, meta.as_slice())?;
            table.insert(SNAPSHOT_DATA, data.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    })
    .await
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        let reader = self.reader();
        let applied = reader.lock();
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        // Answers wait until the batch is written through to the hot cache, so that
        // an answered revocation is in Redis or the cache writer knows it is not.
        let mut answers = Vec::new();
        let mut cache_writes = match self.cache {
            Some(_) => CacheWrites::collecting(),
            None => CacheWrites::ignoring(),
        };
        let mut traced = None;
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let log_id = entry.log_id();
            let response = {
                let mut applied = self.write();
                let response = match &entry.payload {
                    EntryPayload::Blank => StateResponse::Empty,
                    EntryPayload::Normal(command) => {
                        if command.is_revocation() {
                            self.revocations_applied.fetch_add(1, Ordering::Relaxed);
                        }
                        if command.changes_signing_keys() {
                            self.keys_changed.send_modify(|n| *n += 1);
                        }
                        if traced.is_none()
                            && let Some(cache) = &self.cache
                        {
                            traced = cache.links().context_of(command);
                        }
                        applied.state.apply_noting(command, &mut cache_writes)
                    }
                    EntryPayload::Membership(membership) => {
                        applied.membership =
                            StoredMembership::new(Some(log_id), membership.clone());
                        StateResponse::Empty
                    }
                };
                applied.last_applied = Some(log_id);
                response
            };
            answers.extend(responder.map(|responder| (responder, response)));
        }
        if let Some(cache) = &self.cache {
            cache.applied(cache_writes.take(), traced).await;
        }
        for (responder, response) in answers {
            responder.send(response);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: self.db.clone(),
            applied: self.applied.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> io::Result<()> {
        let state: State = from_json(&snapshot).map_err(io::Error::other)?;
        let bytes = snapshot.len();
        write_snapshot(self.db.clone(), meta, snapshot).await?;
        tracing::info!(
            index = meta.last_log_id.map(|id| id.index),
            bytes,
            "installed a snapshot from the leader: this node was too far behind for the log"
        );
        // Nothing in the snapshot was written through here.
        if let Some(cache) = &self.cache {
            cache.mark_dirty();
        }
        let mut applied = self.write();
        applied.state = state;
        applied.last_applied = meta.last_log_id;
        applied.membership = meta.last_membership.clone();
        drop(applied);
        self.keys_changed.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        Ok(read_snapshot(self.db.clone())
            .await?
            .map(|(meta, snapshot)| Snapshot { meta, snapshot }))
    }
}

/// Builds a snapshot of the applied state and makes it the current one on disk.
pub struct SnapshotBuilder {
    db: Arc<Database>,
    applied: Arc<RwLock<Applied>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        // Copied under the read lock so that state and position match, and serialized
        // after it: `apply` waits for the lock, and serializing a large state takes
        // far longer than copying it.
        let (meta, state) = {
            let applied = self.applied.read().unwrap_or_else(PoisonError::into_inner);
            let meta = SnapshotMeta {
                last_log_id: applied.last_applied,
                last_membership: applied.membership.clone(),
            };
            (meta, applied.state.clone())
        };
        let data = tokio::task::spawn_blocking(move || to_json(&state))
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)?;
        write_snapshot(self.db.clone(), &meta, data.clone()).await?;
        tracing::info!(
            index = meta.last_log_id.map(|id| id.index),
            bytes = data.len(),
            "took a snapshot of the state; the log before it can be compacted"
        );
        Ok(Snapshot {
            meta,
            snapshot: data,
        })
    }
}
