//! What a node learns of Redis's `maxmemory-policy` (docs/architecture.md §5): only
//! `noeviction` is safe; the policy is read from `CONFIG GET`, else from `INFO
//! memory`; a Redis that answers neither is not trusted, and one that does not
//! answer at all is told apart.

use ostium_state::{CacheConfig, EvictionCheck, HotCache, UnsafeCache};

use crate::support::{RedisServer, free_port};

async fn evicting_policy(cache: &HotCache) -> String {
    match cache.check_eviction().await {
        EvictionCheck::Unsafe(UnsafeCache::Evicting { policy }) => policy,
        other => panic!("expected an evicting policy, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_eviction_only_noeviction_is_safe() {
    let redis = RedisServer::start_with(free_port(), &["--maxmemory-policy", "noeviction"]);
    let cache = redis.cache("policy");
    assert!(matches!(cache.check_eviction().await, EvictionCheck::Safe));

    let mut raw = redis.raw().await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(evicting_policy(&cache).await, "allkeys-lru");
    assert!(!cache.tolerates_eviction(), "refused unless told otherwise");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_eviction_is_read_from_info_where_config_is_refused() {
    // As managed Redis services do: CONFIG is not available.
    let redis = RedisServer::start_with(
        free_port(),
        &[
            "--maxmemory-policy",
            "volatile-lru",
            "--rename-command",
            "CONFIG",
            "",
        ],
    );
    assert_eq!(
        evicting_policy(&redis.cache("renamed")).await,
        "volatile-lru"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_eviction_unknown_when_redis_answers_neither_and_unreachable_apart() {
    let redis = RedisServer::start();
    let mut raw = redis.raw().await;
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("ostium")
        .arg("on")
        .arg(">ostium-password")
        .arg("~*")
        .arg("+@all")
        .arg("-config")
        .arg("-info")
        .query_async(&mut raw)
        .await
        .unwrap();
    let url = redis
        .url()
        .replace("redis://", "redis://ostium:ostium-password@");
    let limited = HotCache::connect(&CacheConfig::new(url, "acl")).unwrap();
    match limited.check_eviction().await {
        EvictionCheck::Unsafe(unverifiable @ UnsafeCache::Unverifiable { .. }) => {
            let message = unverifiable.to_string();
            assert!(message.contains("+info"), "{message}");
        }
        other => panic!("expected an unverifiable policy, got {other:?}"),
    }

    let nobody = HotCache::connect(&CacheConfig::new(
        format!("redis://127.0.0.1:{}/", free_port()),
        "down",
    ))
    .unwrap();
    assert!(matches!(
        nobody.check_eviction().await,
        EvictionCheck::Unreachable(_)
    ));
}
