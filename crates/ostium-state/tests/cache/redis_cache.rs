//! The hot cache against a real `redis-server`: what an edge may conclude and when,
//! TTLs as Redis reports them, namespaces, FLUSHALL, and Redis killed, paused,
//! restarted, or not there at all when the cache is created.

use std::time::{Duration, Instant};

use ostium_state::cache::CacheWrite;
use ostium_state::{CacheConfig, CacheError, Denial, FamilyId, HotCache};

use crate::api::MARK;
use crate::support::{RedisServer, free_port, url};
use crate::{api, d, live_refresh, now, promptly, reference};

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
    redis_cache_answers_edges_only_under_the_watermark,
    |redis| async move {
        api::answers_only_under_the_watermark(&redis.cache("test")).await;
        // The records above share a family, now revoked: check the rest elsewhere.
        api::works(&redis.cache("other"), "again").await;
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
    redis_cache_ttls_never_outlive_their_records,
    |redis| async move {
        let cache = redis.cache("ttl");
        let t = now();
        let jti = Denial::Token("jti".into());
        cache
            .write(&[
                CacheWrite::Refresh(live_refresh("rt", t + 300)),
                CacheWrite::Reference(reference("ref", t + 60)),
                CacheWrite::Deny {
                    denial: Denial::Family(FamilyId("fam".into())),
                    until: t + 900,
                },
                CacheWrite::Deny {
                    denial: jti.clone(),
                    until: t + 120,
                },
            ])
            .await
            .unwrap();
        // A second revocation with an earlier expiry must not shorten the first.
        cache
            .write(&[CacheWrite::Deny {
                denial: jti,
                until: t + 5,
            }])
            .await
            .unwrap();
        cache.create_watermark(MARK).await.unwrap();

        let mut raw = redis.raw().await;
        let expected = [
            (format!("ostium:ttl:rt:{}", d("rt").to_hex()), 300),
            (format!("ostium:ttl:ref:{}", d("ref").to_hex()), 60),
            ("ostium:ttl:deny:fam:fam".to_string(), 900),
            ("ostium:ttl:deny:tok:jti".to_string(), 120),
            // CacheConfig's default watermark TTL.
            ("ostium:ttl:watermark".to_string(), 2),
        ];
        for (key, lifetime) in expected {
            let pttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut raw)
                .await
                .unwrap();
            // The lifetime counts from the whole second `t`; some of it has passed.
            let most = lifetime * 1000;
            let least = most - 1_500;
            assert!(
                (least..=most).contains(&pttl),
                "{key}: PTTL {pttl} ms, expected within [{least}, {most}]"
            );
        }
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(keys.len(), 5, "{keys:?}");
    }
);

redis_test!(
    redis_cache_fills_never_overwrite_write_through,
    |redis| async move {
        let cache = redis.cache("fill");
        let exp = now() + 600;
        let current = live_refresh("rt", exp);
        let stale = crate::refresh("rt", exp);
        cache
            .write(&[CacheWrite::Refresh(current.clone())])
            .await
            .unwrap();
        // An edge's fill with what a core told it earlier must not replace it.
        cache
            .fill(&CacheWrite::Refresh(stale.clone()))
            .await
            .unwrap();
        cache.create_watermark(MARK).await.unwrap();
        assert_eq!(
            cache.facts(&current.digest, now()).await.unwrap().refresh,
            Some(current)
        );
        // Write-through does replace: it copies the state in log order.
        cache
            .write(&[CacheWrite::Refresh(stale.clone())])
            .await
            .unwrap();
        assert_eq!(
            cache.facts(&stale.digest, now()).await.unwrap().refresh,
            Some(stale)
        );
    }
);

redis_test!(
    redis_cache_clusters_do_not_see_each_other,
    |redis| async move {
        let a = redis.cache("cluster-a");
        let b = redis.cache("cluster-b");
        api::works(&a, "shared-tag").await;
        assert_eq!(b.watermark().await, None);
        assert_eq!(b.is_denied(&Denial::Token("shared-tag".into())).await, None);
        b.create_watermark(MARK).await.unwrap();
        assert_eq!(
            b.is_denied(&Denial::Token("shared-tag".into())).await,
            Some(false)
        );
        assert_eq!(b.facts(&d("shared-tag-rt"), now()).await, None);
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
    redis_cache_after_flushall_is_not_trusted_until_vouched_for_again,
    |redis| async move {
        let cache = redis.cache("flush");
        api::works(&cache, "before").await;
        redis::cmd("FLUSHALL")
            .exec_async(&mut redis.raw().await)
            .await
            .unwrap();
        // The denial is gone, and so is the watermark: "not denied" is no answer.
        assert_eq!(cache.is_denied(&Denial::Token("before".into())).await, None);
        assert_eq!(cache.facts(&d("before-rt"), now()).await, None);
        // The leader's renewal notices, so that it refills before vouching again.
        assert!(!cache.renew_watermark(MARK).await.unwrap());
        assert_eq!(cache.stats().errors, 0);
        api::works(&cache, "after").await;
        assert!(cache.renew_watermark(MARK).await.unwrap());
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
            let started = Instant::now();
            let write = CacheWrite::Refresh(live_refresh("down", now() + 600));
            assert!(
                promptly("write", cache.write(std::slice::from_ref(&write)))
                    .await
                    .is_err()
            );
            assert!(promptly("fill", cache.fill(&write)).await.is_err());
            api::cannot_answer(&cache).await;
            assert!(
                promptly("create", cache.create_watermark(MARK))
                    .await
                    .is_err()
            );
            assert_eq!(promptly("watermark", cache.watermark()).await, None);
            eprintln!("round {round} with Redis down took {:?}", started.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(cache.stats().errors >= errors_before + 21);

        redis.restart();
        wait_until_it_works(&cache).await;
        // A restarted Redis without persistence is empty: no watermark, no answers.
        assert_eq!(cache.is_denied(&Denial::Token("up".into())).await, None);
        api::works(&cache, "again").await;
    }
);

redis_test!(
    redis_cache_gives_up_on_a_redis_that_does_not_answer,
    |redis| async move {
        let cache = redis.cache("hang");
        api::works(&cache, "up").await;
        redis.pause();
        let timeout = CacheConfig::new("redis://x", "x").command_timeout;
        let started = Instant::now();
        api::cannot_answer(&cache).await;
        let took = started.elapsed();
        // Each call gives up at the command timeout, not at some longer redis default.
        assert!(took < 3 * timeout + Duration::from_millis(200), "{took:?}");
        redis.resume();
        wait_until_it_works(&cache).await;
        api::works(&cache, "resumed").await;
    }
);

redis_test!(
    redis_cache_publishing_a_denial_waits_out_the_watermark_when_redis_is_down,
    |redis| async move {
        let mut redis = redis;
        let cache = redis.cache("publish");
        let ttl = CacheConfig::new("redis://x", "x").watermark_ttl;
        let started = Instant::now();
        cache
            .publish_denials(vec![(Denial::Token("a".into()), now() + 60)])
            .await;
        assert!(started.elapsed() < ttl, "written at once while Redis is up");
        assert_eq!(
            cache.is_denied(&Denial::Token("a".into())).await,
            Some(true)
        );
        redis.kill();
        let started = Instant::now();
        let many = (0..20)
            .map(|i| (Denial::Token(format!("b{i}")), now() + 60))
            .collect();
        cache.publish_denials(many).await;
        // Any watermark written before the failure has lapsed by now; and it was
        // waited for once, not once per denial.
        let took = started.elapsed();
        assert!(took >= ttl, "returned after {took:?}");
        assert!(took < 3 * ttl, "waited {took:?} for 20 denials");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_starts_while_redis_is_down_and_connects_later() {
    let port = free_port();
    let cache = HotCache::connect(&CacheConfig::new(url(port), "late"))
        .expect("created without connecting");
    assert_eq!(promptly("facts", cache.facts(&d("x"), now())).await, None);
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
    let with = |url: &str, cluster: &str| HotCache::connect(&CacheConfig::new(url, cluster));
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
    let config = CacheConfig::new("redis://:hunter2@127.0.0.1:6379/", "c");
    assert!(!format!("{config:?}").contains("hunter2"));
}

/// Cache futures can be spawned on a multi-thread runtime.
#[allow(dead_code)]
fn cache_futures_are_send(cache: &HotCache) {
    fn send<T: Send>(_: T) {}
    send(cache.write(&[]));
    send(cache.facts(&d("x"), 0));
    send(cache.is_denied(&Denial::Token("x".into())));
    send(cache.watermark());
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<HotCache>();
}

/// Polls until a write goes through: the connection manager reconnects by itself,
/// but the first calls after Redis returns may still see the failed attempt.
async fn wait_until_it_works(cache: &HotCache) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let probe = CacheWrite::Deny {
        denial: Denial::Token("probe".into()),
        until: now() + 60,
    };
    loop {
        if cache.write(std::slice::from_ref(&probe)).await.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cache did not reconnect within 5 s of Redis coming back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
