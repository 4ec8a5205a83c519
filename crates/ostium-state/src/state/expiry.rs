//! When each record of the state expires, in one table ordered by time, so that a
//! purge takes the oldest entries first and stops after a bounded batch: a purge
//! never walks the live records, and never holds up the log for long.
//!
//! An entry names a record by its kind and key. A record whose expiry moves later
//! (a sliding refresh token used again, a code exchanged) gets a new entry; the old
//! one is dropped when the purge reaches it and finds the record still live.
//! A refresh token's successor that expires with it has no entry: it goes with
//! the token before it (`RefreshTokens::purge`).

use super::tables::{self, KeyBytes, Result, Table, Writable};

/// What an expiry entry points at. The numbers are stored: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    RefreshToken = 1,
    RefreshFamily = 2,
    DenyListEntry = 3,
    ReferenceToken = 4,
    RevokedReference = 5,
    AuthorizationCode = 6,
    ReplayedFamily = 7,
    Consent = 8,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::RefreshToken,
            2 => Self::RefreshFamily,
            3 => Self::DenyListEntry,
            4 => Self::ReferenceToken,
            5 => Self::RevokedReference,
            6 => Self::AuthorizationCode,
            7 => Self::ReplayedFamily,
            8 => Self::Consent,
            _ => return None,
        })
    }
}

/// One record due to expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub at: u64,
    pub kind: Kind,
    pub key: Vec<u8>,
}

pub struct Expiry<T> {
    entries: Table<T, [u8], ()>,
}

fn entry_key(at: u64, kind: Kind, key: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(9 + key.len());
    bytes.extend_from_slice(&at.to_be_bytes());
    bytes.push(kind as u8);
    bytes.extend_from_slice(key);
    bytes
}

impl<T> Expiry<T> {
    pub fn new(raw: T) -> Self {
        Self {
            entries: Table::new(raw, tables::EXPIRY),
        }
    }
}

impl<T: redb::ReadableTable<&'static [u8], &'static [u8]>> Expiry<T> {
    /// Up to `limit` records that expire at or before `at`, the oldest first.
    pub fn due(&self, at: u64, limit: usize) -> Result<Vec<Due>> {
        let mut due = Vec::new();
        self.entries.scan(|key, ()| {
            let Some((time, rest)) = key.split_first_chunk::<8>() else {
                return Ok(true);
            };
            let time = u64::from_be_bytes(*time);
            if time > at || due.len() >= limit {
                return Ok(false);
            }
            if let Some((kind, record)) = rest.split_first()
                && let Some(kind) = Kind::from_byte(*kind)
            {
                due.push(Due {
                    at: time,
                    kind,
                    key: record.to_vec(),
                });
            }
            Ok(true)
        })?;
        Ok(due)
    }
}

impl Expiry<Writable<'_>> {
    /// Notes that the record `kind`/`key` expires at `at`.
    pub fn add(&mut self, at: u64, kind: Kind, key: &(impl KeyBytes + ?Sized)) -> Result<()> {
        self.entries
            .insert(&entry_key(at, kind, &key.key_bytes()), &())
    }

    /// Drops an entry the purge has dealt with.
    pub fn remove(&mut self, due: &Due) -> Result<()> {
        self.entries
            .remove(&entry_key(due.at, due.kind, &due.key))
            .map(drop)
    }
}
