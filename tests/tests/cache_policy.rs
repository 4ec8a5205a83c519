//! A Redis that may evict keys is never trusted with the hot cache
//! (docs/architecture.md §5): a node refuses to start on one, saying what to set;
//! `serve --dev` warns and serves; and a Redis that turns evicting while the node runs
//! is no longer vouched for until it keeps every key again.

use std::time::Duration;

use ostium_e2e::fixture::config;
use ostium_e2e::redis::Redis;
use ostium_e2e::{Node, TestDir, free_port, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

/// A single node's configuration with `[cache]` on `redis`, in `namespace`.
fn with_cache(dir: &TestDir, port: u16, redis: &Redis, namespace: &str) -> String {
    let cache = format!(
        "[cache]\nredis_url = \"{}\"\nnamespace = \"{namespace}\"\n",
        redis.url()
    );
    config(port, dir.path(), "ES256", &cache)
}

#[test]
fn a_node_refuses_a_redis_that_may_evict_and_says_what_to_set() {
    let redis = Redis::start_with(&["--maxmemory-policy", "allkeys-lru"]);
    let dir = TestDir::new("evicting-redis");
    let port = free_port();
    let mut node = Node::launch(
        dir.path(),
        &with_cache(&dir, port, &redis, "evicting"),
        &format!("http://127.0.0.1:{port}"),
        &[],
    );
    let status = node.wait_exit(SETTLE);
    assert!(!status.success(), "the node served");
    let log = node.log_text();
    assert!(
        log.contains("`maxmemory-policy allkeys-lru`") && log.contains("noeviction"),
        "the refusal names the policy and the fix:\n{log}"
    );
    assert!(log.contains("--dev"), "{log}");
}

#[test]
fn development_mode_warns_about_a_redis_that_may_evict_and_serves() {
    let redis = Redis::start_with(&["--maxmemory-policy", "volatile-lru"]);
    let dir = TestDir::new("evicting-redis-dev");
    let port = free_port();
    let mut node = Node::launch_with_args(
        dir.path(),
        &with_cache(&dir, port, &redis, "evicting-dev"),
        &format!("http://127.0.0.1:{port}"),
        &[],
        &["--dev"],
    );
    node.wait_ready();
    let log = node.log_text();
    assert!(
        log.contains("WARN") && log.contains("`maxmemory-policy volatile-lru`"),
        "{log}"
    );
}

#[test]
fn a_redis_that_turns_evicting_is_not_vouched_for_until_it_keeps_every_key() {
    let redis = Redis::start_with(&["--maxmemory-policy", "noeviction"]);
    let dir = TestDir::new("turns-evicting");
    let port = free_port();
    let node = Node::start(
        dir.path(),
        &with_cache(&dir, port, &redis, "turns"),
        &format!("http://127.0.0.1:{port}"),
    );
    let watermark = || {
        redis
            .command(&["EXISTS", "ostium:turns:watermark"])
            .as_deref()
            == Some(":1")
    };
    wait_until("the leader vouches for the cache", SETTLE, watermark);

    let set = |policy| redis.command(&["CONFIG", "SET", "maxmemory-policy", policy]);
    assert_eq!(set("allkeys-lru").as_deref(), Some("+OK"));
    redis.flush_all();
    wait_until("the node refuses the cache", SETTLE, || {
        node.log_text().contains("the hot cache is not used")
    });
    assert!(!watermark(), "no watermark in a Redis that may evict");

    assert_eq!(set("noeviction").as_deref(), Some("+OK"));
    wait_until("the leader vouches for the cache again", SETTLE, watermark);
}
