//! Hot-cache tests against a real `redis-server` (started on a free loopback port by
//! each test): what edges may conclude from the cache and when, TTLs as Redis reports
//! them, namespaces, FLUSHALL, and Redis being killed, paused and restarted. Test names carry `cache` so that
//! `cargo nextest run -p ostium-state cache` selects them.

mod api;
mod eviction;
mod redis_cache;
mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ostium_state::record::Rotation;
use ostium_state::{
    FamilyId, ReferenceTokenRecord, RefreshTokenRecord, TokenDigest, TokenExpiration, TokenUsage,
};

/// Seconds since the epoch, as the records carry time.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// When the test records say they were issued; only what they expire by matters.
pub const ISSUED_AT: u64 = 1_700_000_000;

pub fn d(handle: &str) -> TokenDigest {
    TokenDigest::of_handle(handle)
}

pub fn refresh(handle: &str, expires_at: u64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        digest: d(handle),
        family: FamilyId("fam-1".into()),
        client_id: "app".into(),
        subject: "alice".into(),
        scope: "openid offline_access".into(),
        audiences: vec!["api".into()],
        usage: TokenUsage::OneTimeOnly,
        expiration: TokenExpiration::Sliding,
        issued_at: ISSUED_AT,
        absolute_expires_at: expires_at + 1000,
        sliding_lifetime: Some(600),
        expires_at,
        rotation: Some(Rotation {
            successor: d("next"),
            rotated_at: ISSUED_AT,
        }),
        auth_time: None,
        amr: None,
    }
}

/// A refresh token that has not been rotated.
pub fn live_refresh(handle: &str, expires_at: u64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        rotation: None,
        ..refresh(handle, expires_at)
    }
}

pub fn reference(handle: &str, expires_at: u64) -> ReferenceTokenRecord {
    ReferenceTokenRecord {
        digest: d(handle),
        client_id: "app".into(),
        subject: Some("alice".into()),
        scope: "api".into(),
        audiences: vec!["api".into()],
        issued_at: ISSUED_AT,
        expires_at,
        family: None,
    }
}

/// The bound under which every cache call must have returned, Redis up or down: a
/// correctness bound (a request is never held up for long), not a benchmark.
pub const PROMPT: Duration = Duration::from_secs(2);

/// Runs `f` and fails the test if it does not finish within [`PROMPT`].
pub async fn promptly<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(PROMPT, f).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not return within {PROMPT:?}"),
    }
}
