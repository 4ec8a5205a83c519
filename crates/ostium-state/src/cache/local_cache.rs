//! The in-process hot cache, for a node without Redis (the single-node default,
//! DESIGN §5): a bounded map whose entries expire with the records they copy.
//!
//! Expiry is checked on read. When the map is full, expired entries are swept out,
//! and if more than seven eighths of the bound is still in use, arbitrary entries go
//! (in hash order, which is randomly seeded) down to seven eighths: the next eighth of
//! the bound is inserted without another sweep, so inserting stays cheap on average.
//! Because anything may be evicted, this cache never answers "not revoked":
//! an id it holds no entry for is "unknown".

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::cache::stats::{CacheStats, Counters};
use crate::cache::ttl::{now_millis, time_left};
use crate::cache::{CacheError, Watermark};
use crate::digest::TokenDigest;
use crate::record::{FamilyId, ReferenceTokenRecord, RefreshFamily, RefreshTokenRecord};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Refresh(TokenDigest),
    Family(FamilyId),
    Reference(TokenDigest),
    Revoked(String),
}

#[derive(Debug, Clone)]
enum Value {
    Refresh(RefreshTokenRecord),
    Family(RefreshFamily),
    Reference(ReferenceTokenRecord),
    Revoked,
}

#[derive(Debug)]
struct Entry {
    value: Value,
    /// Milliseconds since the epoch at which the entry is gone.
    expires_at_millis: u64,
}

#[derive(Debug, Default)]
struct Map {
    entries: HashMap<Key, Entry>,
    watermark: Option<(Watermark, u64)>,
}

struct Inner {
    map: Mutex<Map>,
    max_entries: usize,
    watermark_ttl: Duration,
    stats: Counters,
}

/// A bounded in-process cache. Cloning shares it.
#[derive(Clone)]
pub struct LocalCache {
    inner: Arc<Inner>,
}

// By hand: the entries hold subjects and scopes, which do not belong in a log.
impl fmt::Debug for LocalCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCache")
            .field("entries", &self.len())
            .field("max_entries", &self.inner.max_entries)
            .finish_non_exhaustive()
    }
}

impl LocalCache {
    /// A cache of at most `max_entries` entries (at least 1), whose watermark lives
    /// for `watermark_ttl` unless written again, as in Redis.
    pub fn new(max_entries: usize, watermark_ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                map: Mutex::new(Map::default()),
                max_entries: max_entries.max(1),
                watermark_ttl,
                stats: Counters::default(),
            }),
        }
    }

    fn map(&self) -> MutexGuard<'_, Map> {
        // A poisoned lock only means a thread panicked while holding it; every change
        // under it is a single map operation, so the map is still consistent.
        self.inner.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, key: Key, value: Value, expires_at: u64) {
        let now = now_millis();
        let Some(left) = time_left(expires_at, now) else {
            return;
        };
        let mut map = self.map();
        self.insert(
            &mut map,
            key,
            value,
            now.saturating_add(duration_millis(left)),
            now,
        );
    }

    fn insert(&self, map: &mut Map, key: Key, value: Value, expires_at_millis: u64, now: u64) {
        if !map.entries.contains_key(&key) && map.entries.len() >= self.inner.max_entries {
            self.make_room(map, now);
        }
        map.entries.insert(
            key,
            Entry {
                value,
                expires_at_millis,
            },
        );
        self.inner.stats.write();
    }

    /// Sweeps, then evicts down to seven eighths of the bound (see the module doc).
    fn make_room(&self, map: &mut Map, now: u64) {
        map.entries.retain(|_, entry| entry.expires_at_millis > now);
        let keep = self.inner.max_entries - self.inner.max_entries.div_ceil(8);
        if map.entries.len() > keep {
            let excess = map.entries.len() - keep;
            let victims: Vec<Key> = map.entries.keys().take(excess).cloned().collect();
            for key in victims {
                map.entries.remove(&key);
            }
        }
    }

    fn get(&self, key: &Key) -> Option<Value> {
        let now = now_millis();
        let mut map = self.map();
        let found = match map.entries.get(key) {
            Some(entry) if entry.expires_at_millis > now => Some(entry.value.clone()),
            Some(_) => {
                map.entries.remove(key);
                None
            }
            None => None,
        };
        drop(map);
        self.inner.stats.read(&found);
        found
    }

    pub(crate) fn put_refresh(&self, record: &RefreshTokenRecord) -> Result<(), CacheError> {
        self.put(
            Key::Refresh(record.digest),
            Value::Refresh(record.clone()),
            record.expires_at,
        );
        Ok(())
    }

    pub(crate) fn get_refresh(&self, digest: &TokenDigest) -> Option<RefreshTokenRecord> {
        match self.get(&Key::Refresh(*digest))? {
            Value::Refresh(record) => Some(record),
            _ => None,
        }
    }

    pub(crate) fn put_family(
        &self,
        id: &FamilyId,
        family: &RefreshFamily,
    ) -> Result<(), CacheError> {
        self.put(
            Key::Family(id.clone()),
            Value::Family(family.clone()),
            family.absolute_expires_at,
        );
        Ok(())
    }

    pub(crate) fn get_family(&self, id: &FamilyId) -> Option<RefreshFamily> {
        match self.get(&Key::Family(id.clone()))? {
            Value::Family(family) => Some(family),
            _ => None,
        }
    }

    pub(crate) fn put_reference(&self, record: &ReferenceTokenRecord) -> Result<(), CacheError> {
        self.put(
            Key::Reference(record.digest),
            Value::Reference(record.clone()),
            record.expires_at,
        );
        Ok(())
    }

    pub(crate) fn get_reference(&self, digest: &TokenDigest) -> Option<ReferenceTokenRecord> {
        match self.get(&Key::Reference(*digest))? {
            Value::Reference(record) => Some(record),
            _ => None,
        }
    }

    pub(crate) fn remove_reference(&self, digest: &TokenDigest) -> Result<(), CacheError> {
        self.map().entries.remove(&Key::Reference(*digest));
        self.inner.stats.write();
        Ok(())
    }

    pub(crate) fn put_revoked(&self, token_id: &str, expires_at: u64) -> Result<(), CacheError> {
        let now = now_millis();
        let Some(left) = time_left(expires_at, now) else {
            return Ok(());
        };
        let key = Key::Revoked(token_id.to_owned());
        let mut map = self.map();
        // A second revocation with an earlier expiry must not shorten the first.
        let mut expires_at_millis = now.saturating_add(duration_millis(left));
        if let Some(entry) = map.entries.get(&key) {
            expires_at_millis = expires_at_millis.max(entry.expires_at_millis);
        }
        self.insert(&mut map, key, Value::Revoked, expires_at_millis, now);
        Ok(())
    }

    pub(crate) fn is_revoked(&self, token_id: &str) -> Option<bool> {
        self.get(&Key::Revoked(token_id.to_owned())).map(|_| true)
    }

    pub(crate) fn set_watermark(&self, mark: Watermark) -> Result<(), CacheError> {
        let expires_at_millis =
            now_millis().saturating_add(duration_millis(self.inner.watermark_ttl));
        self.map().watermark = Some((mark, expires_at_millis));
        self.inner.stats.write();
        Ok(())
    }

    pub(crate) fn watermark(&self) -> Option<Watermark> {
        let now = now_millis();
        let found = self
            .map()
            .watermark
            .filter(|(_, expires_at_millis)| *expires_at_millis > now)
            .map(|(mark, _)| mark);
        self.inner.stats.read(&found);
        found
    }

    pub(crate) fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot()
    }

    /// Entries held now, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.map().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
