//! The behaviour every hot cache must have, whichever backs it; run against Redis in
//! `redis_cache` and against the in-process cache in `local_cache`.

use std::time::Duration;

use ostium_state::{FamilyId, HotCache};

use crate::{d, family, now, promptly, reference, refresh};

/// Each record kind comes back as it was written; unknown keys are misses.
pub async fn round_trips(cache: &HotCache) {
    let exp = now() + 3600;

    let rt = refresh("rt-1", exp);
    cache.put_refresh(&rt).await.unwrap();
    assert_eq!(cache.get_refresh(&d("rt-1")).await, Some(rt.clone()));
    assert_eq!(cache.get_refresh(&d("rt-other")).await, None);
    // A later write of the same token (say, once rotated) replaces the first.
    let rotated = refresh("rt-1", exp + 10);
    cache.put_refresh(&rotated).await.unwrap();
    assert_eq!(cache.get_refresh(&d("rt-1")).await, Some(rotated));

    let id = FamilyId("fam:1".into());
    let fam = family(exp);
    cache.put_family(&id, &fam).await.unwrap();
    assert_eq!(cache.get_family(&id).await, Some(fam));
    assert_eq!(cache.get_family(&FamilyId("fam:2".into())).await, None);

    let rf = reference("ref-1", exp);
    cache.put_reference(&rf).await.unwrap();
    assert_eq!(cache.get_reference(&d("ref-1")).await, Some(rf));
    cache.remove_reference(&d("ref-1")).await.unwrap();
    assert_eq!(cache.get_reference(&d("ref-1")).await, None);
    // Removing what is not there is no error.
    cache.remove_reference(&d("ref-1")).await.unwrap();

    cache.put_revoked("jti:1", exp).await.unwrap();
    assert_eq!(cache.is_revoked("jti:1").await, Some(true));
    assert_ne!(cache.is_revoked("jti:2").await, Some(true));

    assert_eq!(cache.watermark().await, None);
    cache.set_watermark(41, 1_000).await.unwrap();
    cache.set_watermark(42, 2_000).await.unwrap();
    let mark = cache.watermark().await.unwrap();
    assert_eq!((mark.applied_index, mark.at_millis), (42, 2_000));
}

/// A record that has expired (or expires this very second) is not written.
pub async fn expired_entries_are_not_written(cache: &HotCache) {
    let t = now();
    for (n, exp) in [t.saturating_sub(100), t.saturating_sub(1), t, 0]
        .into_iter()
        .enumerate()
    {
        let handle = format!("expired-{n}");
        cache.put_refresh(&refresh(&handle, exp)).await.unwrap();
        assert_eq!(cache.get_refresh(&d(&handle)).await, None, "{exp}");
        let id = FamilyId(handle.clone());
        cache.put_family(&id, &family(exp)).await.unwrap();
        assert_eq!(cache.get_family(&id).await, None, "{exp}");
        cache.put_reference(&reference(&handle, exp)).await.unwrap();
        assert_eq!(cache.get_reference(&d(&handle)).await, None, "{exp}");
        cache.put_revoked(&handle, exp).await.unwrap();
        assert_ne!(cache.is_revoked(&handle).await, Some(true), "{exp}");
    }
    assert_eq!(
        cache.stats().writes,
        0,
        "nothing expired may count as written"
    );
}

/// Entries are gone once their record expires, and a second revocation of the same
/// id with an earlier expiry does not shorten the first.
pub async fn entries_expire_with_their_records(cache: &HotCache) {
    let t = now();
    cache.put_revoked("long", t + 100).await.unwrap();
    cache.put_revoked("long", t + 1).await.unwrap();
    cache.put_revoked("short", t + 1).await.unwrap();
    cache
        .put_refresh(&refresh("short-rt", t + 1))
        .await
        .unwrap();
    cache
        .put_reference(&reference("short-ref", t + 1))
        .await
        .unwrap();
    while now() <= t + 1 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cache.is_revoked("long").await, Some(true));
    assert_ne!(cache.is_revoked("short").await, Some(true));
    assert_eq!(cache.get_refresh(&d("short-rt")).await, None);
    assert_eq!(cache.get_reference(&d("short-ref")).await, None);
}

/// Hits, misses and writes are counted.
pub async fn stats_count_hits_misses_and_writes(cache: &HotCache) {
    let before = cache.stats();
    cache
        .put_refresh(&refresh("s-1", now() + 60))
        .await
        .unwrap();
    assert!(cache.get_refresh(&d("s-1")).await.is_some());
    assert!(cache.get_refresh(&d("s-2")).await.is_none());
    assert!(cache.get_reference(&d("s-3")).await.is_none());
    let after = cache.stats();
    assert_eq!(after.writes - before.writes, 1);
    assert_eq!(after.hits - before.hits, 1);
    assert_eq!(after.misses - before.misses, 2);
    assert_eq!(after.errors, before.errors);
}

/// Writes one entry of each kind and reads them all back, every call bounded by
/// [`crate::PROMPT`]; used to show that a cache works (again).
pub async fn works(cache: &HotCache, tag: &str) {
    let exp = now() + 600;
    let rt = refresh(&format!("{tag}-rt"), exp);
    promptly("put_refresh", cache.put_refresh(&rt))
        .await
        .unwrap();
    assert_eq!(
        promptly("get_refresh", cache.get_refresh(&rt.digest)).await,
        Some(rt)
    );
    let id = FamilyId(format!("{tag}-fam"));
    promptly("put_family", cache.put_family(&id, &family(exp)))
        .await
        .unwrap();
    assert_eq!(
        promptly("get_family", cache.get_family(&id)).await,
        Some(family(exp))
    );
    let rf = reference(&format!("{tag}-ref"), exp);
    promptly("put_reference", cache.put_reference(&rf))
        .await
        .unwrap();
    assert_eq!(
        promptly("get_reference", cache.get_reference(&rf.digest)).await,
        Some(rf)
    );
    promptly("put_revoked", cache.put_revoked(tag, exp))
        .await
        .unwrap();
    assert_eq!(
        promptly("is_revoked", cache.is_revoked(tag)).await,
        Some(true)
    );
    promptly("set_watermark", cache.set_watermark(7, 7))
        .await
        .unwrap();
    assert!(promptly("watermark", cache.watermark()).await.is_some());
}
