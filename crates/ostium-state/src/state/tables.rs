//! The state's tables in redb (docs/architecture.md §4 "Records on disk"): every table
//! maps bytes to bytes, and [`Table`] gives each a typed face. Keys are encoded so
//! that byte order is the order a scan needs (digests as their 32 bytes, times as
//! big-endian integers, composite keys length-prefixed); values are postcard, compact
//! and versioned by the snapshot format that carries them.
//!
//! An aggregate holds [`Table`]s over any redb table type: over a write transaction's
//! tables while `apply` runs, over a read transaction's for reads, so that the reads
//! `apply` makes and the reads a request makes are one piece of code.

use std::borrow::Cow;
use std::marker::PhantomData;

use redb::{ReadableTable, TableDefinition, TableHandle};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How every state table is declared: bytes to bytes.
pub type Definition = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// A write transaction's table.
pub type Writable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;
/// A read transaction's table.
pub type Readable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// Every table of the state, in the order a snapshot writes them. The position in
/// this list is the table's number in a snapshot: append, never reorder.
pub const ALL: [Definition; 14] = [
    META,
    REFRESH_TOKENS,
    FAMILIES,
    FAMILIES_BY_SUBJECT,
    FAMILIES_BY_CLIENT,
    DENY_LIST,
    REFERENCE_TOKENS,
    REVOKED_REFERENCES,
    SIGNING_KEYS,
    AUTHORIZATION_CODES,
    REPLAYED_FAMILIES,
    CONSENTS,
    EXPIRY,
    CLOCK,
];

/// The applied position, the membership, and the state's own counters.
pub const META: Definition = TableDefinition::new("meta");
pub const REFRESH_TOKENS: Definition = TableDefinition::new("refresh_tokens");
pub const FAMILIES: Definition = TableDefinition::new("refresh_families");
pub const FAMILIES_BY_SUBJECT: Definition = TableDefinition::new("refresh_families_by_subject");
pub const FAMILIES_BY_CLIENT: Definition = TableDefinition::new("refresh_families_by_client");
pub const DENY_LIST: Definition = TableDefinition::new("deny_list");
pub const REFERENCE_TOKENS: Definition = TableDefinition::new("reference_tokens");
pub const REVOKED_REFERENCES: Definition = TableDefinition::new("revoked_references");
pub const SIGNING_KEYS: Definition = TableDefinition::new("signing_keys");
pub const AUTHORIZATION_CODES: Definition = TableDefinition::new("authorization_codes");
pub const REPLAYED_FAMILIES: Definition = TableDefinition::new("replayed_families");
pub const CONSENTS: Definition = TableDefinition::new("consents");
/// When each record expires: the purge walks it from the oldest.
pub const EXPIRY: Definition = TableDefinition::new("expiry");
/// The cluster's time as the log tells it (`state/clock.rs`): one entry.
pub const CLOCK: Definition = TableDefinition::new("clock");

/// Why a table could not be read or written: the disk, or a record that does not
/// decode (a corrupt file, or one written by a release this one cannot read).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state database failed")]
    Database(#[from] redb::Error),
    #[error("a record in table `{table}` does not decode")]
    Corrupt {
        table: String,
        #[source]
        source: postcard::Error,
    },
}

macro_rules! from_redb {
    ($($e:ty),*) => {$(
        impl From<$e> for StoreError {
            fn from(e: $e) -> Self {
                Self::Database(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A record as a snapshot and a load carry it: table number (its place in [`ALL`]),
/// key and value, encoded.
pub type RawRecord = (usize, Vec<u8>, Vec<u8>);

/// How a key is written in a table.
pub trait KeyBytes {
    fn key_bytes(&self) -> Cow<'_, [u8]>;
}

impl KeyBytes for str {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl KeyBytes for String {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl KeyBytes for [u8] {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

impl KeyBytes for Vec<u8> {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

impl KeyBytes for crate::digest::TokenDigest {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl KeyBytes for crate::record::FamilyId {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.0.as_bytes())
    }
}

/// The digest a key holds: its 32 bytes (`None` for a key of another length, which
/// no table of digests has).
pub fn digest_key(key: &[u8]) -> Option<crate::digest::TokenDigest> {
    <[u8; 32]>::try_from(key)
        .ok()
        .map(crate::digest::TokenDigest::from_bytes)
}

/// The family id a key holds: its UTF-8.
pub fn family_key(key: &[u8]) -> crate::record::FamilyId {
    crate::record::FamilyId(String::from_utf8_lossy(key).into_owned())
}

/// The number of `definition` in snapshots: its place in [`ALL`].
pub fn number(definition: Definition) -> usize {
    ALL.iter()
        .position(|t| t.name() == definition.name())
        .unwrap_or(usize::MAX)
}

/// A table of keys `K` and values `V` over the redb table `T`.
pub struct Table<T, K: ?Sized, V> {
    raw: T,
    definition: Definition,
    kinds: PhantomData<fn(&K) -> V>,
}

impl<T, K: ?Sized, V> Table<T, K, V> {
    pub fn new(raw: T, definition: Definition) -> Self {
        Self {
            raw,
            definition,
            kinds: PhantomData,
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<V>
    where
        V: DeserializeOwned,
    {
        postcard::from_bytes(bytes).map_err(|source| StoreError::Corrupt {
            table: self.definition.name().to_owned(),
            source,
        })
    }
}

impl<T, K, V> Table<T, K, V>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
    K: KeyBytes + ?Sized,
    V: DeserializeOwned,
{
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let key = key.key_bytes();
        match self.raw.get(key.as_ref())? {
            Some(value) => self.decode(value.value()).map(Some),
            None => Ok(None),
        }
    }

    pub fn contains(&self, key: &K) -> Result<bool> {
        Ok(self.raw.get(key.key_bytes().as_ref())?.is_some())
    }

    /// Calls `visit` with each entry whose key starts with `prefix`, in key order,
    /// until it returns `false`.
    pub fn scan_prefix(
        &self,
        prefix: &[u8],
        mut visit: impl FnMut(&[u8], V) -> Result<bool>,
    ) -> Result<()> {
        for entry in self.raw.range::<&[u8]>(prefix..)? {
            let (key, value) = entry?;
            if !key.value().starts_with(prefix) {
                break;
            }
            if !visit(key.value(), self.decode(value.value())?)? {
                break;
            }
        }
        Ok(())
    }

    /// Calls `visit` with every entry, in key order, until it returns `false`.
    pub fn scan(&self, visit: impl FnMut(&[u8], V) -> Result<bool>) -> Result<()> {
        self.scan_prefix(&[], visit)
    }

    /// How many entries the table holds.
    pub fn count(&self) -> Result<u64> {
        Ok(self.raw.len()?)
    }
}

impl<K, V> Table<Writable<'_>, K, V>
where
    K: KeyBytes + ?Sized,
    V: Serialize,
{
    pub fn insert(&mut self, key: &K, value: &V) -> Result<()> {
        let value = postcard::to_stdvec(value).map_err(|source| StoreError::Corrupt {
            table: self.definition.name().to_owned(),
            source,
        })?;
        self.raw
            .insert(key.key_bytes().as_ref(), value.as_slice())?;
        Ok(())
    }

    /// Removes the entry; whether there was one.
    pub fn remove(&mut self, key: &K) -> Result<bool> {
        Ok(self.raw.remove(key.key_bytes().as_ref())?.is_some())
    }

    /// Removes the entries whose key starts with `prefix`; how many went.
    pub fn remove_prefix(&mut self, prefix: &[u8]) -> Result<u64> {
        let mut keys = Vec::new();
        for entry in self.raw.range::<&[u8]>(prefix..)? {
            let (key, _) = entry?;
            if !key.value().starts_with(prefix) {
                break;
            }
            keys.push(key.value().to_vec());
        }
        for key in &keys {
            self.raw.remove(key.as_slice())?;
        }
        Ok(keys.len() as u64)
    }
}

/// A composite key: each part length-prefixed, so that no part's bytes can run into
/// the next and a prefix of parts is a prefix of the key.
pub fn composite(parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for part in parts {
        key.extend_from_slice(&(part.len() as u32).to_be_bytes());
        key.extend_from_slice(part);
    }
    key
}

/// The parts of a [`composite`] key.
pub fn parts(mut key: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    while let Some((len, rest)) = key.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let Some((part, rest)) = rest.split_at_checked(len) else {
            break;
        };
        parts.push(part);
        key = rest;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_keys_split_back_and_keep_prefixes_apart() {
        let key = composite(&[b"ab", b"c"]);
        assert_eq!(parts(&key), [b"ab".as_slice(), b"c"]);
        // ("a", "bc") must not share the prefix of ("ab", ...).
        assert!(!composite(&[b"a", b"bc"]).starts_with(&composite(&[b"ab"])));
        assert!(key.starts_with(&composite(&[b"ab"])));
    }
}
