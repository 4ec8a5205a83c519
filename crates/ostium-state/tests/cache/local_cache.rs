//! The in-process cache: the shared API checks, and what is its own — the bound on
//! entries, "unknown" rather than "not revoked", and the watermark's TTL.

use std::time::Duration;

use ostium_state::cache::LocalCache;
use ostium_state::{CacheConfig, HotCache};

use crate::{api, d, now, refresh};

fn local() -> HotCache {
    HotCache::from_config(&CacheConfig::new("test")).unwrap()
}

#[tokio::test]
async fn local_cache_round_trips_every_record_kind() {
    let cache = local();
    assert_eq!(cache.kind(), "local");
    api::round_trips(&cache).await;
}

#[tokio::test]
async fn local_cache_does_not_write_expired_entries() {
    api::expired_entries_are_not_written(&local()).await;
}

#[tokio::test]
async fn local_cache_entries_expire_with_their_records() {
    api::entries_expire_with_their_records(&local()).await;
}

#[tokio::test]
async fn local_cache_counts_hits_misses_and_writes() {
    api::stats_count_hits_misses_and_writes(&local()).await;
}

#[tokio::test]
async fn local_cache_works_from_any_runtime() {
    // No runtime is needed to create it; any one can use it.
    let cache = std::thread::spawn(local).join().unwrap();
    api::works(&cache, "local").await;
}

#[tokio::test]
async fn local_cache_stays_within_its_bound() {
    let max = 64;
    let cache = HotCache::Local(LocalCache::new(max, Duration::from_secs(10)));
    let HotCache::Local(inner) = &cache else {
        unreachable!()
    };
    let exp = now() + 600;
    for n in 0..10 * max {
        cache
            .put_refresh(&refresh(&format!("rt-{n}"), exp))
            .await
            .unwrap();
        assert!(
            inner.len() <= max,
            "{} entries after {n} writes",
            inner.len()
        );
    }
    // The newest entry is always there: room is made before it is written.
    let last = format!("rt-{}", 10 * max - 1);
    assert!(cache.get_refresh(&d(&last)).await.is_some());
}

#[tokio::test]
async fn local_cache_never_claims_not_revoked() {
    // It may have evicted the entry, so holding none proves nothing.
    let cache = local();
    assert_eq!(cache.is_revoked("never-seen").await, None);
    cache.put_revoked("seen", now() + 60).await.unwrap();
    assert_eq!(cache.is_revoked("seen").await, Some(true));
}

#[tokio::test]
async fn local_cache_watermark_lapses_after_its_ttl() {
    let cache = HotCache::Local(LocalCache::new(10, Duration::from_millis(100)));
    cache.set_watermark(5, 5).await.unwrap();
    assert!(cache.watermark().await.is_some());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(cache.watermark().await, None);
}
