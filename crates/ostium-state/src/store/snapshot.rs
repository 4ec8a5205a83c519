//! The snapshot format: the state's records as one stream, written from one read
//! transaction while writes go on, and read back into a fresh database record by
//! record, so that neither end ever holds the whole state in memory.
//!
//! Layout, integers big-endian:
//! - the magic `OSTIUMSS`, then the format version (`u32`, [`VERSION`]);
//! - the snapshot's Raft metadata: its length (`u32`) and JSON;
//! - each record: its table's number in [`crate::state::tables::ALL`] (`u8`), the key's
//!   length (`u32`) and bytes, the value's length (`u32`) and bytes;
//! - the end: `0xFF`, then how many records came before (`u64`), so that a stream cut
//!   short is refused rather than installed.
//!
//! Version 3 carries the records' format 3; a snapshot of version 2, from a leader
//! of the release before, is read with its records brought to format 3 as they
//! stream ([`super::upgrade`]). A snapshot of another version is refused with its
//! version named. Version 1, the JSON of the releases before the tables, is never
//! sent between nodes of one release; a node upgraded in place reads its old one
//! once ([`crate::state::legacy`]).

use std::io::{self, BufRead, Read, Write};

use crate::typ::SnapshotMeta;

use super::records::{ReadPoint, StateDb};

const MAGIC: &[u8; 8] = b"OSTIUMSS";
/// The format written.
pub const VERSION: u32 = 3;
/// The oldest format read.
const OLDEST: u32 = 2;
const END: u8 = 0xFF;

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Writes the snapshot of what `view` sees, described by `meta`, to `out`; the
/// number of records. `meta` must describe what `view` sees (its `applied`).
pub fn write(view: &ReadPoint, meta: &SnapshotMeta, out: &mut impl Write) -> io::Result<u64> {
    out.write_all(MAGIC)?;
    out.write_all(&VERSION.to_be_bytes())?;
    let meta = serde_json::to_vec(meta).map_err(|e| invalid(e.to_string()))?;
    out.write_all(&(meta.len() as u32).to_be_bytes())?;
    out.write_all(&meta)?;
    let mut count = 0u64;
    view.each_record(|table, key, value| {
        let mut frame = || -> io::Result<()> {
            out.write_all(&[table as u8])?;
            out.write_all(&(key.len() as u32).to_be_bytes())?;
            out.write_all(key)?;
            out.write_all(&(value.len() as u32).to_be_bytes())?;
            out.write_all(value)
        };
        frame().map_err(|e| crate::state::StoreError::Database(redb::Error::Io(e)))?;
        count += 1;
        Ok(())
    })
    .map_err(io::Error::other)?;
    out.write_all(&[END])?;
    out.write_all(&count.to_be_bytes())?;
    out.flush()?;
    Ok(count)
}

/// Reads a snapshot's header: its metadata. `input` is then at the first record.
pub fn read_meta(input: &mut impl Read) -> io::Result<SnapshotMeta> {
    read_header(input).map(|(_, meta)| meta)
}

/// A snapshot's version and metadata.
fn read_header(input: &mut impl Read) -> io::Result<(u32, SnapshotMeta)> {
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(invalid("not an Ostium snapshot"));
    }
    let version = read_u32(input)?;
    if !(OLDEST..=VERSION).contains(&version) {
        return Err(invalid(format!(
            "snapshot format {version}; this release reads formats {OLDEST} to {VERSION}"
        )));
    }
    let len = read_u32(input)? as usize;
    let mut meta = vec![0u8; len];
    input.read_exact(&mut meta)?;
    let meta = serde_json::from_slice(&meta).map_err(|e| invalid(e.to_string()))?;
    Ok((version, meta))
}

/// Reads a whole snapshot into `db`, which should be empty; its metadata and the
/// number of records.
pub fn read(input: &mut impl BufRead, db: &StateDb) -> io::Result<(SnapshotMeta, u64)> {
    let (version, meta) = read_header(input)?;
    let mut records = Records {
        input,
        count: 0,
        end: None,
    };
    let upgraded = records
        .by_ref()
        .map(|record| record.and_then(|record| super::upgrade::record(version, record)));
    let count = db.load(upgraded).map_err(io::Error::other)?;
    match records.end {
        Some(Ok(())) => Ok((meta, count)),
        Some(Err(e)) => Err(e),
        None => Err(invalid("the snapshot ends before its last record")),
    }
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0u8; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_be_bytes(bytes))
}

/// The records of a snapshot, one at a time; `end` says how the stream ended.
struct Records<'a, R> {
    input: &'a mut R,
    count: u64,
    end: Option<io::Result<()>>,
}

use crate::state::tables::RawRecord as Record;

impl<R: Read> Records<'_, R> {
    fn next_record(&mut self) -> io::Result<Option<Record>> {
        let mut table = [0u8; 1];
        self.input.read_exact(&mut table)?;
        if table[0] == END {
            let mut count = [0u8; 8];
            self.input.read_exact(&mut count)?;
            let count = u64::from_be_bytes(count);
            if count != self.count {
                return Err(invalid(format!(
                    "the snapshot says it holds {count} records, and {} came",
                    self.count
                )));
            }
            return Ok(None);
        }
        let mut part = || -> io::Result<Vec<u8>> {
            let len = read_u32(self.input)? as usize;
            let mut bytes = vec![0u8; len];
            self.input.read_exact(&mut bytes)?;
            Ok(bytes)
        };
        let key = part()?;
        let value = part()?;
        self.count += 1;
        Ok(Some((usize::from(table[0]), key, value)))
    }
}

impl<R: Read> Iterator for Records<'_, R> {
    type Item = crate::state::tables::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.end.is_some() {
            return None;
        }
        match self.next_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.end = Some(Ok(()));
                None
            }
            Err(e) => {
                self.end = Some(Err(io::Error::new(e.kind(), e.to_string())));
                Some(Err(crate::state::StoreError::Database(redb::Error::Io(e))))
            }
        }
    }
}
