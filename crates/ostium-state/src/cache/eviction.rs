//! Whether the Redis behind the hot cache may evict Ostium's keys.
//!
//! Every key Ostium writes has a TTL, so a Redis with any evicting
//! `maxmemory-policy` (the `volatile-*` ones included) may drop a denial when it is
//! full, and the watermark cannot reveal that: an edge would take the missing denial
//! for "not revoked". Only `noeviction` is safe (a full Redis then refuses writes,
//! which Ostium treats as Redis being down).
//!
//! The policy is asked with `CONFIG GET maxmemory-policy`. Managed Redis services and
//! ACL users often refuse `CONFIG`; `INFO memory` (whose `maxmemory_policy` line
//! says the same) is asked then. A Redis that answers neither is not trusted either:
//! nothing else tells, and the operator can allow one of the two commands.

use std::collections::HashMap;

use crate::cache::{CacheError, HotCache};

/// The one policy that never drops a key.
const NO_EVICTION: &str = "noeviction";

/// What was learnt of Redis's policy.
#[derive(Debug)]
pub enum EvictionCheck {
    /// `noeviction`.
    Safe,
    /// Redis may drop keys, or will not say whether it does.
    Unsafe(UnsafeCache),
    /// Redis did not answer at all.
    Unreachable(CacheError),
}

/// Why a Redis cannot be trusted with Ostium's denials.
#[derive(Debug, thiserror::Error)]
pub enum UnsafeCache {
    #[error(
        "the Redis of [cache] runs with `maxmemory-policy {policy}`, which may evict keys \
         when its memory is full: an evicted revocation would let a revoked token through. \
         Set `maxmemory-policy noeviction` (in redis.conf, or `CONFIG SET \
         maxmemory-policy noeviction`)"
    )]
    Evicting { policy: String },
    #[error(
        "the Redis of [cache] does not say which maxmemory-policy it runs with (it refused \
         `CONFIG GET maxmemory-policy` and `INFO memory`), so it may evict keys: allow one \
         of them to the user Ostium connects as (ACL `+config|get` or `+info`), and run it \
         with `maxmemory-policy noeviction`"
    )]
    Unverifiable {
        /// What `INFO memory` got (`CONFIG GET` was refused first).
        #[source]
        source: CacheError,
    },
}

impl HotCache {
    /// Asks Redis for its `maxmemory-policy`.
    pub async fn check_eviction(&self) -> EvictionCheck {
        let config: Result<HashMap<String, String>, CacheError> = self
            .run(|mut con| async move {
                redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("maxmemory-policy")
                    .query_async(&mut con)
                    .await
            })
            .await;
        let refused = match config {
            Ok(reply) => match reply.get("maxmemory-policy") {
                Some(policy) => return judge(policy),
                // An empty answer: a Redis that hides the parameter.
                None => CacheError::Config("CONFIG GET named no maxmemory-policy".into()),
            },
            Err(e) if unreachable(&e) => return EvictionCheck::Unreachable(e),
            Err(refused) => refused,
        };
        tracing::debug!(error = %refused, "CONFIG GET refused; asking INFO memory");
        let info: Result<String, CacheError> =
            self.run(|mut con| async move {
                redis::cmd("INFO").arg("memory").query_async(&mut con).await
            })
            .await;
        match info {
            Ok(info) => match policy_in_info(&info) {
                Some(policy) => judge(policy),
                None => EvictionCheck::Unsafe(UnsafeCache::Unverifiable {
                    source: CacheError::Config("INFO memory has no maxmemory_policy".into()),
                }),
            },
            Err(e) if unreachable(&e) => EvictionCheck::Unreachable(e),
            Err(source) => EvictionCheck::Unsafe(UnsafeCache::Unverifiable { source }),
        }
    }
}

fn judge(policy: &str) -> EvictionCheck {
    if policy.eq_ignore_ascii_case(NO_EVICTION) {
        EvictionCheck::Safe
    } else {
        EvictionCheck::Unsafe(UnsafeCache::Evicting {
            policy: policy.to_owned(),
        })
    }
}

/// The `maxmemory_policy:` line of `INFO memory`.
fn policy_in_info(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|line| line.strip_prefix("maxmemory_policy:"))
        .map(str::trim)
}

/// Whether a failure means Redis did not answer, rather than refused the question.
fn unreachable(error: &CacheError) -> bool {
    match error {
        CacheError::Redis(e) => {
            e.is_io_error()
                || e.is_timeout()
                || e.is_connection_refusal()
                || e.is_connection_dropped()
        }
        CacheError::Timeout(_) | CacheError::Stopped => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_noeviction_is_safe() {
        assert!(matches!(judge("noeviction"), EvictionCheck::Safe));
        for policy in [
            "allkeys-lru",
            "volatile-ttl",
            "volatile-lru",
            "allkeys-random",
        ] {
            match judge(policy) {
                EvictionCheck::Unsafe(UnsafeCache::Evicting { policy: named }) => {
                    assert_eq!(named, policy)
                }
                other => panic!("{policy}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_policy_is_read_from_info_memory() {
        let info = "# Memory\r\nused_memory:1024\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\nmem_fragmentation_ratio:1.2\r\n";
        assert_eq!(policy_in_info(info), Some("allkeys-lru"));
        assert_eq!(policy_in_info("# Memory\r\nused_memory:1024\r\n"), None);
    }

    #[test]
    fn the_message_says_what_to_set() {
        let message = UnsafeCache::Evicting {
            policy: "allkeys-lru".into(),
        }
        .to_string();
        assert!(
            message.contains("`maxmemory-policy allkeys-lru`"),
            "{message}"
        );
        assert!(message.contains("noeviction"), "{message}");
    }
}
