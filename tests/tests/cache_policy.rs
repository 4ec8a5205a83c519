//! A Redis that may evict keys is never trusted with the hot cache
//! (docs/architecture.md §5): a node refuses to start on one, saying what to set;
//! `serve --dev` warns and serves; and a Redis that turns evicting while the node runs
//! is no longer vouched for until it keeps every key again.

use std::time::Duration;

use ostium_e2e::fixture::config;
use ostium_e2e::redis::Redis;
use ostium_e2e::{Node, TestDir, free_port, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

/// Launches a single node with `[cache]` on `redis`, in a namespace named after
/// the test, with `args` for `ostium serve`; does not wait for it.
fn launch_with_cache(name: &str, redis: &Redis, args: &[&str]) -> (TestDir, Node) {
    let dir = TestDir::new(name);
    let port = free_port();
    let cache = format!(
        "[cache]\nredis_url = \"{}\"\nnamespace = \"{name}\"\n",
        redis.url()
    );
    let node = Node::launch_with_args(
        dir.path(),
        &config(port, dir.path(), "ES256", &cache),
        &format!("http://127.0.0.1:{port}"),
        &[],
        args,
    );
    (dir, node)
}

#[test]
fn a_node_refuses_a_redis_that_may_evict_and_says_what_to_set() {
    let redis = Redis::start_with(&["--maxmemory-policy", "allkeys-lru"]);
    let (_dir, mut node) = launch_with_cache("evicting", &redis, &[]);
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
    let (_dir, mut node) = launch_with_cache("evicting-dev", &redis, &["--dev"]);
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
    let (_dir, mut node) = launch_with_cache("turns", &redis, &[]);
    node.wait_ready();
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
