//! The Redis cache against a real `redis-server`: the shared API checks, then TTLs as
//! Redis reports them, namespaces, FLUSHALL, and Redis killed, restarted, or not
//! there at all when the cache is created.

use std::time::{Duration, Instant};

use ostium_state::{CacheConfig, CacheError, FamilyId, HotCache};

use crate::support::{RedisServer, free_port, url};
use crate::{api, d, family, now, promptly, reference, refresh};

/// Tests run on a multi-thread runtime, as Ostium runs the cache.
macro_rules! redis_test {
    ($name:ident, $body:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let redis = RedisServer::start();
            let f: fn(RedisServer) -> _ = $body;
            f(redis).await;
        }
    };
}

redis_test!(
    redis_cache_round_trips_every_record_kind,
    |redis| async move {
        let cache = redis.cache("test");
        assert_eq!(cache.kind(), "redis");
        api::round_trips(&cache).await;
    }
);

redis_test!(
    redis_cache_does_not_write_expired_entries,
    |redis| async move {
        api::expired_entries_are_not_written(&redis.cache("test")).await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut redis.raw().await)
            .await
            .unwrap();
        assert!(keys.is_empty(), "written although expired: {keys:?}");
    }
);

redis_test!(
    redis_cache_entries_expire_with_their_records,
    |redis| async move {
        api::entries_expire_with_their_records(&redis.cache("test")).await;
    }
);

redis_test!(
    redis_cache_counts_hits_misses_and_writes,
    |redis| async move {
        api::stats_count_hits_misses_and_writes(&redis.cache("test")).await;
    }
);

redis_test!(
    redis_cache_ttls_never_outlive_their_records,
    |redis| async move {
        let cache = redis.cache("ttl");
        let t = now();
        cache.put_refresh(&refresh("rt", t + 300)).await.unwrap();
        cache
            .put_family(&FamilyId("fam".into()), &family(t + 900))
            .await
            .unwrap();
        cache
            .put_reference(&reference("ref", t + 60))
            .await
            .unwrap();
        cache.put_revoked("jti", t + 120).await.unwrap();
        // A second revocation with an earlier expiry must not shorten the first.
        cache.put_revoked("jti", t + 5).await.unwrap();
        cache.set_watermark(1, 1).await.unwrap();

        let mut raw = redis.raw().await;
        let expected = [
            (format!("ostium:ttl:rt:{}", d("rt").to_hex()), 300),
            ("ostium:ttl:fam:fam".to_string(), 900),
            (format!("ostium:ttl:ref:{}", d("ref").to_hex()), 60),
            ("ostium:ttl:revoked:jti".to_string(), 120),
            // CacheConfig's default watermark TTL.
            ("ostium:ttl:watermark".to_string(), 10),
        ];
        for (key, lifetime) in expected {
            let pttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut raw)
                .await
                .unwrap();
            // The lifetime counts from the whole second `t`; some of it has passed.
            let most = lifetime * 1000;
            let least = most - 5_000;
            assert!(
                (least..=most).contains(&pttl),
                "{key}: PTTL {pttl} ms, expected within [{least}, {most}]"
            );
        }
        // Every key the cache wrote has a TTL.
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(keys.len(), 5, "{keys:?}");
        for key in keys {
            let pttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut raw)
                .await
                .unwrap();
            assert!(pttl > 0, "{key} has no TTL ({pttl})");
        }
    }
);

redis_test!(
    redis_cache_clusters_do_not_see_each_other,
    |redis| async move {
        let a = redis.cache("cluster-a");
        let b = redis.cache("cluster-b");
        api::works(&a, "shared-tag").await;
        assert_eq!(b.get_refresh(&d("shared-tag-rt")).await, None);
        assert_eq!(b.get_family(&FamilyId("shared-tag-fam".into())).await, None);
        assert_eq!(b.get_reference(&d("shared-tag-ref")).await, None);
        assert_eq!(b.is_revoked("shared-tag").await, Some(false));
        assert_eq!(b.watermark().await, None);
        // And b's writes leave a's entries alone.
        api::works(&b, "shared-tag").await;
        b.remove_reference(&d("shared-tag-ref")).await.unwrap();
        assert!(a.get_reference(&d("shared-tag-ref")).await.is_some());

        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut redis.raw().await)
            .await
            .unwrap();
        for key in &keys {
            assert!(
                key.starts_with("ostium:cluster-a:") || key.starts_with("ostium:cluster-b:"),
                "{key} is outside both namespaces"
            );
        }
    }
);

redis_test!(
    redis_cache_after_flushall_misses_then_refills,
    |redis| async move {
        let cache = redis.cache("flush");
        api::works(&cache, "before").await;
        redis::cmd("FLUSHALL")
            .exec_async(&mut redis.raw().await)
            .await
            .unwrap();
        assert_eq!(cache.get_refresh(&d("before-rt")).await, None);
        assert_eq!(cache.get_family(&FamilyId("before-fam".into())).await, None);
        assert_eq!(cache.get_reference(&d("before-ref")).await, None);
        // Redis answered, and holds nothing: only the watermark can say whether to trust
        // that, and it is gone too.
        assert_eq!(cache.is_revoked("before").await, Some(false));
        assert_eq!(cache.watermark().await, None);
        assert_eq!(cache.stats().errors, 0);
        api::works(&cache, "after").await;
    }
);

redis_test!(
    redis_cache_survives_redis_being_killed_and_restarted,
    |redis| async move {
        let mut redis = redis;
        let cache = redis.cache("outage");
        api::works(&cache, "up").await;

        redis.kill();
        let errors_before = cache.stats().errors;
        // Several rounds: the first calls find the dropped connection, later ones find
        // reconnection attempts failing or under way; none may hang.
        for round in 0..3 {
            let exp = now() + 600;
            let started = Instant::now();
            assert!(
                promptly("put_refresh", cache.put_refresh(&refresh("down", exp)))
                    .await
                    .is_err()
            );
            assert_eq!(
                promptly("get_refresh", cache.get_refresh(&d("up-rt"))).await,
                None
            );
            assert!(
                promptly(
                    "put_family",
                    cache.put_family(&FamilyId("f".into()), &family(exp))
                )
                .await
                .is_err()
            );
            assert_eq!(
                promptly("get_family", cache.get_family(&FamilyId("up-fam".into()))).await,
                None
            );
            assert!(
                promptly(
                    "put_reference",
                    cache.put_reference(&reference("down", exp))
                )
                .await
                .is_err()
            );
            assert_eq!(
                promptly("get_reference", cache.get_reference(&d("up-ref"))).await,
                None
            );
            assert!(
                promptly("remove_reference", cache.remove_reference(&d("up-ref")))
                    .await
                    .is_err()
            );
            assert!(
                promptly("put_revoked", cache.put_revoked("down", exp))
                    .await
                    .is_err()
            );
            assert_eq!(promptly("is_revoked", cache.is_revoked("up")).await, None);
            assert!(
                promptly("set_watermark", cache.set_watermark(1, 1))
                    .await
                    .is_err()
            );
            assert_eq!(promptly("watermark", cache.watermark()).await, None);
            eprintln!("round {round} with Redis down took {:?}", started.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(cache.stats().errors >= errors_before + 33);

        redis.restart();
        wait_until_it_works(&cache).await;
        api::works(&cache, "again").await;
        // A restarted Redis without persistence is empty: misses, not errors.
        assert_eq!(cache.get_refresh(&d("up-rt")).await, None);
    }
);

redis_test!(
    redis_cache_gives_up_on_a_redis_that_does_not_answer,
    |redis| async move {
        let cache = redis.cache("hang");
        api::works(&cache, "up").await;
        redis.pause();
        let timeout = CacheConfig::new("x").command_timeout;
        let started = Instant::now();
        assert_eq!(
            promptly("get_refresh", cache.get_refresh(&d("up-rt"))).await,
            None
        );
        assert!(
            promptly("put_revoked", cache.put_revoked("hang", now() + 60))
                .await
                .is_err()
        );
        assert_eq!(promptly("is_revoked", cache.is_revoked("up")).await, None);
        assert_eq!(promptly("watermark", cache.watermark()).await, None);
        let took = started.elapsed();
        // Each call gives up at the command timeout, not at some longer redis default.
        assert!(took < 4 * timeout + Duration::from_millis(200), "{took:?}");
        redis.resume();
        wait_until_it_works(&cache).await;
        api::works(&cache, "resumed").await;
        // What was written before the pause is still there.
        assert!(cache.get_refresh(&d("up-rt")).await.is_some());
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_starts_while_redis_is_down_and_connects_later() {
    let port = free_port();
    let mut config = CacheConfig::new("late");
    config.redis_url = Some(url(port));
    let cache = HotCache::from_config(&config).expect("created without connecting");
    assert_eq!(
        promptly("get_refresh", cache.get_refresh(&d("x"))).await,
        None
    );
    assert!(
        promptly("put_revoked", cache.put_revoked("x", now() + 60))
            .await
            .is_err()
    );
    assert_eq!(promptly("is_revoked", cache.is_revoked("x")).await, None);

    let _redis = RedisServer::start_on(port);
    wait_until_it_works(&cache).await;
    api::works(&cache, "late").await;
}

/// Ostium creates the cache on its multi-thread runtime and uses it from actix
/// workers, each a current-thread runtime of its own.
#[test]
fn redis_cache_works_from_a_current_thread_runtime_of_another_thread() {
    let redis = RedisServer::start();
    let main = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache = main.block_on(async { redis.cache("threads") });
    let worker = std::thread::spawn(move || {
        let local = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        local.block_on(api::works(&cache, "worker"));
        cache
    });
    let cache = worker.join().expect("the worker's calls succeed");
    main.block_on(api::works(&cache, "main"));
}

#[test]
fn redis_cache_refuses_bad_configuration() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let with = |url: &str, cluster: &str| {
        let mut config = CacheConfig::new(cluster);
        config.redis_url = Some(url.into());
        HotCache::from_config(&config)
    };
    runtime.block_on(async {
        let secret_url = "not a url, with hunter2 in it";
        let err = with(secret_url, "c").unwrap_err();
        assert!(matches!(err, CacheError::Config(_)), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(matches!(
            with("redis://127.0.0.1:1/", "a:b"),
            Err(CacheError::Config(_))
        ));
    });
    // Outside any runtime: an error, not a panic.
    assert!(matches!(
        with("redis://127.0.0.1:1/", "c"),
        Err(CacheError::NoRuntime)
    ));
}

#[test]
fn the_configuration_does_not_print_the_redis_password() {
    let mut config = CacheConfig::new("c");
    config.redis_url = Some("redis://:hunter2@127.0.0.1:6379/".into());
    assert!(!format!("{config:?}").contains("hunter2"));
}

/// Cache futures can be spawned on a multi-thread runtime.
#[allow(dead_code)]
fn cache_futures_are_send(cache: &HotCache) {
    fn send<T: Send>(_: T) {}
    send(cache.put_refresh(&refresh("x", 0)));
    send(cache.get_refresh(&d("x")));
    send(cache.put_revoked("x", 0));
    send(cache.is_revoked("x"));
    send(cache.watermark());
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<HotCache>();
}

/// Polls until a write goes through: the connection manager reconnects by itself,
/// but the first calls after Redis returns may still see the failed attempt.
async fn wait_until_it_works(cache: &HotCache) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if cache.put_revoked("probe", now() + 60).await.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cache did not reconnect within 5 s of Redis coming back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
