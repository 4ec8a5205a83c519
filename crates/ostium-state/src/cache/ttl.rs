//! How long a cache entry may live: never longer than the record it copies
//! (docs/architecture.md §5), so that Redis forgets a token no later than the token
//! dies. Record times are
//! whole seconds since the Unix epoch (written by the Raft proposer); TTLs are set in
//! milliseconds so that an entry does not outlive its record by up to a second.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// This node's clock in milliseconds since the Unix epoch. A clock before the epoch
/// reads as 0, which only makes TTLs longer than they should be if the clock is that
/// wrong, and such a node has worse problems.
pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The time left until `expires_at` (seconds since the epoch), or `None` when the
/// entry has expired already and must not be written at all.
pub(crate) fn time_left(expires_at: u64, now_millis: u64) -> Option<Duration> {
    let left = expires_at.saturating_mul(1000).checked_sub(now_millis)?;
    (left > 0).then(|| Duration::from_millis(left))
}

/// A TTL in whole milliseconds for `PX`/`PEXPIRE`; at least 1, which Redis requires.
pub(crate) fn as_px(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_is_never_longer_than_the_lifetime() {
        assert_eq!(time_left(100, 40_500), Some(Duration::from_millis(59_500)));
        assert_eq!(time_left(100, 99_999), Some(Duration::from_millis(1)));
        assert_eq!(time_left(100, 100_000), None);
        assert_eq!(time_left(100, 200_000), None);
        assert_eq!(time_left(0, 0), None);
    }

    #[test]
    fn px_is_at_least_one_millisecond() {
        assert_eq!(as_px(Duration::from_micros(10)), 1);
        assert_eq!(as_px(Duration::from_millis(1500)), 1500);
    }
}
