//! A snapshot arriving from the leader in chunks: each is appended to a file in the
//! snapshot folder as it comes, and the last hands the whole file to Raft to
//! install. One transfer at a time: a chunk that starts another drops the one under
//! way, and a chunk out of place is refused, so the leader starts over.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use super::rpc::SnapshotChunk;
use crate::store::SnapshotFile;
use crate::store::paced::PacedFile;
use crate::store::state_machine::received_snapshot;

pub struct IncomingSnapshots {
    dir: PathBuf,
    current: Mutex<Option<Incoming>>,
}

struct Incoming {
    transfer: u64,
    path: PathBuf,
    /// Written out as it comes, so that a snapshot never piles up unwritten for the
    /// log's fsyncs to wait behind; how much it holds is where the next chunk goes.
    file: PacedFile,
}

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("a snapshot chunk at offset {offset} of a transfer expecting {expected}")]
    OutOfPlace { offset: u64, expected: u64 },
    #[error("the snapshot could not be written")]
    Io(#[from] io::Error),
}

impl IncomingSnapshots {
    /// Receives into `dir` (the state machine's snapshot folder, so that installing
    /// moves the file rather than copying it).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            current: Mutex::new(None),
        }
    }

    /// Takes one chunk; the whole snapshot once `chunk` is the last.
    pub fn accept(
        &self,
        chunk: &SnapshotChunk,
        data: &[u8],
    ) -> Result<Option<SnapshotFile>, ChunkError> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if chunk.offset == 0 {
            if let Some(dropped) = current.take() {
                let _ = fs::remove_file(dropped.path);
            }
            fs::create_dir_all(&self.dir)?;
            let path = received_snapshot(&self.dir, chunk.transfer);
            let file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)?;
            *current = Some(Incoming {
                transfer: chunk.transfer,
                path,
                file: PacedFile::new(file),
            });
        }
        let incoming = match current.as_mut() {
            Some(incoming)
                if incoming.transfer == chunk.transfer
                    && incoming.file.written() == chunk.offset =>
            {
                incoming
            }
            other => {
                return Err(ChunkError::OutOfPlace {
                    offset: chunk.offset,
                    expected: other.map_or(0, |incoming| incoming.file.written()),
                });
            }
        };
        incoming.file.write_all(data)?;
        if !chunk.done {
            return Ok(None);
        }
        let Some(done) = current.take() else {
            return Ok(None);
        };
        drop(done.file.into_synced()?);
        Ok(Some(SnapshotFile::open(done.path)?))
    }
}
