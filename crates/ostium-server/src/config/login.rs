//! `[login]`: brute-force protection for password logins (RFC 6749 §4.3.2): how many
//! failures a username or a client address may have within a window before its
//! logins are refused, and how many checks one address may have running and waiting;
//! and how long the browser's login session lasts.

use std::time::Duration;

use ostium_grants::LoginLimits;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginSection {
    max_failures_per_username: Option<u32>,
    max_failures_per_address: Option<u32>,
    /// Seconds.
    failure_window: Option<u64>,
    max_concurrent_per_address: Option<usize>,
    max_waiting_per_address: Option<usize>,
    /// Seconds.
    cookie_lifetime: Option<u64>,
    sliding: Option<bool>,
}

/// The login session's cookie (IdentityServer's authentication cookie options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Seconds a session lasts from the login, or from its last use when sliding.
    pub cookie_lifetime: u64,
    /// Whether each use of the session renews its lifetime.
    pub sliding: bool,
}

impl Default for SessionSettings {
    /// IdentityServer's: ten hours, sliding.
    fn default() -> Self {
        Self {
            cookie_lifetime: 36_000,
            sliding: true,
        }
    }
}

pub(super) fn check_session(section: &LoginSection) -> Result<SessionSettings, String> {
    let defaults = SessionSettings::default();
    let settings = SessionSettings {
        cookie_lifetime: section.cookie_lifetime.unwrap_or(defaults.cookie_lifetime),
        sliding: section.sliding.unwrap_or(defaults.sliding),
    };
    if !(60..=31_536_000).contains(&settings.cookie_lifetime) {
        return Err("[login] cookie_lifetime: between 60 and 31536000 seconds (a year)".into());
    }
    Ok(settings)
}

pub(super) fn check(section: LoginSection) -> Result<LoginLimits, String> {
    let defaults = LoginLimits::default();
    let limits = LoginLimits {
        failures_per_username: section
            .max_failures_per_username
            .unwrap_or(defaults.failures_per_username),
        failures_per_address: section
            .max_failures_per_address
            .unwrap_or(defaults.failures_per_address),
        window: section
            .failure_window
            .map_or(defaults.window, Duration::from_secs),
        concurrent_per_address: section
            .max_concurrent_per_address
            .unwrap_or(defaults.concurrent_per_address),
        waiting_per_address: section
            .max_waiting_per_address
            .unwrap_or(defaults.waiting_per_address),
    };
    if limits.failures_per_username == 0 || limits.failures_per_address == 0 {
        return Err(
            "[login] max_failures_per_username and max_failures_per_address: at least 1".into(),
        );
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&limits.window) {
        return Err("[login] failure_window: between 1 and 86400 seconds".into());
    }
    if !(1..=4096).contains(&limits.concurrent_per_address) {
        return Err("[login] max_concurrent_per_address: between 1 and 4096".into());
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{BASE, parse};

    #[test]
    fn defaults_and_limits() {
        let config = parse(BASE).unwrap();
        assert_eq!(config.login.failures_per_username, 5);
        assert_eq!(config.login.failures_per_address, 50);
        let set = parse(&format!(
            "{BASE}\n[login]\nmax_failures_per_username = 3\nfailure_window = 60\n\
             max_concurrent_per_address = 2\nmax_waiting_per_address = 0\n"
        ))
        .unwrap();
        assert_eq!(set.login.failures_per_username, 3);
        assert_eq!(set.login.window.as_secs(), 60);
        assert_eq!(set.login.concurrent_per_address, 2);
        assert_eq!(set.login.waiting_per_address, 0);
        for (field, expected) in [
            ("max_failures_per_username = 0", "at least 1"),
            ("failure_window = 0", "failure_window"),
            (
                "max_concurrent_per_address = 0",
                "max_concurrent_per_address",
            ),
            ("lockout = 5", "unknown field `lockout`"),
        ] {
            let err = parse(&format!("{BASE}\n[login]\n{field}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{field}: {err}");
        }
    }
}
