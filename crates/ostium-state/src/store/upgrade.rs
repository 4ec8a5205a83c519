//! Records an older release wrote, brought to this release's format: in place when a
//! node opens its records, and record by record when a snapshot of an older format
//! is installed. The format of the records on disk is kept in META under `format`
//! (docs/architecture.md §4 "Records on disk").
//!
//! Format 2 gave each refresh-token family the digest of its current token. The
//! current token is always the one token of the family not rotated yet, so format 3
//! leaves it out, and a rotation no longer rewrites its family's record.

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle,
};
use serde::Deserialize;

use crate::digest::TokenDigest;
use crate::record::{RefreshFamily, TokenExpiration, TokenUsage};
use crate::state::tables::{self, RawRecord, Result, StoreError, Table};

/// The format this release writes.
pub const FORMAT: u32 = 3;
/// The oldest format this release reads.
pub const OLDEST: u32 = 2;

/// The META key of the records' format, a postcard `u32`. Records without one are
/// of format 2, the last written before it was recorded.
const FORMAT_KEY: &str = "format";

/// Families rewritten per transaction, so that no transaction holds them all.
const BATCH: usize = 50_000;

/// A refresh-token family as format 2 wrote it.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct FamilyV2 {
    client_id: String,
    subject: String,
    scope: String,
    audiences: Vec<String>,
    usage: TokenUsage,
    expiration: TokenExpiration,
    absolute_expires_at: u64,
    sliding_lifetime: Option<u32>,
    auth_time: Option<u64>,
    amr: Option<String>,
    #[allow(dead_code)]
    current: TokenDigest,
    revoked_at: Option<u64>,
}

impl From<FamilyV2> for RefreshFamily {
    fn from(f: FamilyV2) -> Self {
        Self {
            client_id: f.client_id,
            subject: f.subject,
            scope: f.scope,
            audiences: f.audiences,
            usage: f.usage,
            expiration: f.expiration,
            absolute_expires_at: f.absolute_expires_at,
            sliding_lifetime: f.sliding_lifetime,
            auth_time: f.auth_time,
            amr: f.amr,
            revoked_at: f.revoked_at,
        }
    }
}

/// A format-2 family's value, in format 3.
fn family_from_v2(value: &[u8]) -> Result<Vec<u8>> {
    let corrupt = |source| StoreError::Corrupt {
        table: tables::FAMILIES.name().to_owned(),
        source,
    };
    let family: FamilyV2 = postcard::from_bytes(value).map_err(corrupt)?;
    postcard::to_stdvec(&RefreshFamily::from(family)).map_err(corrupt)
}

/// `record` of a snapshot of `format`, in this release's format.
pub fn record(format: u32, record: RawRecord) -> Result<RawRecord> {
    let (number, key, value) = record;
    if format == 2 && number == tables::number(tables::FAMILIES) {
        return Ok((number, key, family_from_v2(&value)?));
    }
    Ok((number, key, value))
}

fn format_table<T>(raw: T) -> Table<T, str, u32> {
    Table::new(raw, tables::META)
}

/// Brings the records in `db` to [`FORMAT`]; new records are written in it at
/// once. Records of a later format are refused, named.
pub fn in_place(db: &Database) -> Result<()> {
    let (format, recorded) = {
        let tx = db.begin_read()?;
        let meta = tx.open_table(tables::META)?;
        let empty = meta.is_empty()?;
        match format_table(meta).get(FORMAT_KEY)? {
            Some(format) => (format, true),
            None if empty => (FORMAT, false),
            None => (2, false),
        }
    };
    if recorded && format == FORMAT {
        return Ok(());
    }
    if format > FORMAT {
        return Err(super::records::invalid(format!(
            "records of format {format}; this release reads formats {OLDEST} to {FORMAT}"
        )));
    }
    if format == 2 {
        families_from_v2(db)?;
    }
    let mut tx = db.begin_write()?;
    tx.set_durability(Durability::Immediate)
        .map_err(|e| redb::Error::Io(std::io::Error::other(e)))?;
    format_table(tx.open_table(tables::META)?).insert(FORMAT_KEY, &FORMAT)?;
    tx.commit()?;
    Ok(())
}

/// Rewrites every family in format 3, [`BATCH`] at a time.
fn families_from_v2(db: &Database) -> Result<()> {
    let mut after: Option<Vec<u8>> = None;
    loop {
        let tx = db.begin_write()?;
        let mut done = 0;
        {
            let mut families = tx.open_table(tables::FAMILIES)?;
            let mut rewritten = Vec::with_capacity(BATCH);
            {
                let range = match &after {
                    Some(key) => families.range::<&[u8]>((
                        std::ops::Bound::Excluded(key.as_slice()),
                        std::ops::Bound::Unbounded,
                    ))?,
                    None => families.range::<&[u8]>(..)?,
                };
                for entry in range.take(BATCH) {
                    let (key, value) = entry?;
                    rewritten.push((key.value().to_vec(), family_from_v2(value.value())?));
                }
            }
            for (key, value) in &rewritten {
                families.insert(key.as_slice(), value.as_slice())?;
            }
            done += rewritten.len();
            after = rewritten.pop().map(|(key, _)| key);
        }
        tx.commit()?;
        if done < BATCH {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::FamilyId;

    fn v2(i: u32) -> FamilyV2 {
        FamilyV2 {
            client_id: "app".into(),
            subject: "alice".into(),
            scope: "openid offline_access".into(),
            audiences: vec!["orders".into()],
            usage: TokenUsage::OneTimeOnly,
            expiration: TokenExpiration::Absolute,
            absolute_expires_at: 1_000 + u64::from(i),
            sliding_lifetime: Some(60),
            auth_time: Some(5),
            amr: Some("pwd".into()),
            current: TokenDigest::of_handle(&format!("rt{i}")),
            revoked_at: i.is_multiple_of(2).then_some(7),
        }
    }

    /// Family `i` as format 2 wrote it.
    fn v2_family(i: u32) -> Vec<u8> {
        postcard::to_stdvec(&v2(i)).unwrap()
    }

    /// Family `i` as this release reads it: all but its current token.
    fn expected(i: u32) -> RefreshFamily {
        RefreshFamily::from(v2(i))
    }

    fn family_id(i: u32) -> FamilyId {
        FamilyId(format!("f{i:06}"))
    }

    #[test]
    fn records_of_format_2_are_rewritten_in_place_across_batches() {
        let db = redb::Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        let count = BATCH as u32 + 3;
        let tx = db.begin_write().unwrap();
        {
            let mut meta = tx.open_table(tables::META).unwrap();
            meta.insert("applied".as_bytes(), "{}".as_bytes()).unwrap();
            let mut families = tx.open_table(tables::FAMILIES).unwrap();
            for i in 0..count {
                families
                    .insert(family_id(i).0.as_bytes(), v2_family(i).as_slice())
                    .unwrap();
            }
        }
        tx.commit().unwrap();

        in_place(&db).unwrap();
        let tx = db.begin_read().unwrap();
        let families: Table<_, FamilyId, RefreshFamily> =
            Table::new(tx.open_table(tables::FAMILIES).unwrap(), tables::FAMILIES);
        for i in [0, 1, BATCH as u32 - 1, BATCH as u32, count - 1] {
            assert_eq!(families.get(&family_id(i)).unwrap(), Some(expected(i)));
        }
        let format = format_table(tx.open_table(tables::META).unwrap());
        assert_eq!(format.get(FORMAT_KEY).unwrap(), Some(FORMAT));
        drop(tx);
        // Once upgraded, opening again changes nothing.
        in_place(&db).unwrap();
    }

    #[test]
    fn a_snapshot_of_format_2_is_read_in_format_3() {
        let families = tables::number(tables::FAMILIES);
        let (_, _, value) = record(2, (families, b"f".to_vec(), v2_family(4))).unwrap();
        assert_eq!(
            postcard::from_bytes::<RefreshFamily>(&value).unwrap(),
            expected(4)
        );
        let other = (tables::number(tables::CLOCK), b"k".to_vec(), vec![1, 2]);
        assert_eq!(record(2, other.clone()).unwrap(), other);
        let current = (families, b"f".to_vec(), value.clone());
        assert_eq!(record(3, current.clone()).unwrap(), current);
    }

    #[test]
    fn records_of_a_later_format_are_refused() {
        let db = redb::Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        let tx = db.begin_write().unwrap();
        format_table(tx.open_table(tables::META).unwrap())
            .insert(FORMAT_KEY, &(FORMAT + 1))
            .unwrap();
        tx.commit().unwrap();
        let refused = in_place(&db).unwrap_err();
        let mut messages = Vec::new();
        let mut cause: Option<&dyn std::error::Error> = Some(&refused);
        while let Some(error) = cause {
            messages.push(error.to_string());
            cause = error.source();
        }
        let messages = messages.join(": ");
        assert!(messages.contains("format 4"), "{messages}");
    }
}
