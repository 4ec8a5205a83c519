//! `[state]`: how a node keeps the replicated state's records on disk.

use serde::Deserialize;

/// `[state]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StateSection {
    cache_mb: Option<u64>,
}

/// How much memory the state's records may take, whatever their number: redb's
/// page cache over `records.redb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSettings {
    pub cache_bytes: usize,
}

const DEFAULT_CACHE_MB: u64 = 64;
/// Below this, every read of a hot record goes to the disk.
const MIN_CACHE_MB: u64 = 4;

pub(super) fn check(section: StateSection) -> Result<StateSettings, String> {
    let mb = section.cache_mb.unwrap_or(DEFAULT_CACHE_MB);
    if mb < MIN_CACHE_MB {
        return Err(format!(
            "[state] cache_mb: {mb} is too small; give at least {MIN_CACHE_MB}"
        ));
    }
    let cache_bytes = mb
        .checked_mul(1024 * 1024)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| {
            format!("[state] cache_mb: {mb} is more memory than this machine can address")
        })?;
    Ok(StateSettings { cache_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StateSettings, String> {
        check(toml::from_str(text).map_err(|e| e.to_string())?)
    }

    #[test]
    fn the_cache_defaults_to_64_mb_and_refuses_too_little() {
        assert_eq!(parse("").unwrap().cache_bytes, 64 << 20);
        assert_eq!(parse("cache_mb = 256").unwrap().cache_bytes, 256 << 20);
        assert!(
            parse("cache_mb = 1")
                .unwrap_err()
                .contains("[state] cache_mb")
        );
        assert!(
            parse("cache_size = 1").is_err(),
            "unknown fields are refused"
        );
    }
}
