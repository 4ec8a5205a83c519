//! Redis key names: everything Ostium caches lives under `ostium:{cluster}:`, so that
//! several clusters (or a staging and a production one) can share one Redis without
//! seeing each other's entries.

use crate::cache::CacheError;
use crate::digest::TokenDigest;
use crate::record::FamilyId;

#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// `ostium:{cluster}:`
    prefix: String,
}

impl Keys {
    /// The cluster name is limited to characters that cannot end the namespace early
    /// (no `:`) or be confused by an operator reading `redis-cli` output (no spaces).
    pub(crate) fn new(cluster: &str) -> Result<Self, CacheError> {
        let clean = !cluster.is_empty()
            && cluster.len() <= 64
            && cluster
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !clean {
            return Err(CacheError::Config(format!(
                "cluster name {cluster:?} must be 1 to 64 of A-Z a-z 0-9 - _ ."
            )));
        }
        Ok(Self {
            prefix: format!("ostium:{cluster}:"),
        })
    }

    pub(crate) fn refresh(&self, digest: &TokenDigest) -> String {
        format!("{}rt:{}", self.prefix, digest.to_hex())
    }

    pub(crate) fn family(&self, family: &FamilyId) -> String {
        format!("{}fam:{}", self.prefix, family.0)
    }

    pub(crate) fn reference(&self, digest: &TokenDigest) -> String {
        format!("{}ref:{}", self.prefix, digest.to_hex())
    }

    pub(crate) fn revoked(&self, token_id: &str) -> String {
        format!("{}revoked:{token_id}", self.prefix)
    }

    pub(crate) fn watermark(&self) -> String {
        format!("{}watermark", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_by_cluster() {
        let keys = Keys::new("prod-1").unwrap();
        let d = TokenDigest::of_handle("abc");
        assert_eq!(keys.refresh(&d), format!("ostium:prod-1:rt:{}", d.to_hex()));
        assert_eq!(
            keys.reference(&d),
            format!("ostium:prod-1:ref:{}", d.to_hex())
        );
        assert_eq!(keys.family(&FamilyId("f1".into())), "ostium:prod-1:fam:f1");
        assert_eq!(keys.revoked("jti:1"), "ostium:prod-1:revoked:jti:1");
        assert_eq!(keys.watermark(), "ostium:prod-1:watermark");
    }

    #[test]
    fn cluster_names_that_would_blur_the_namespace_are_refused() {
        for bad in ["", "a:b", "a b", "ä", &"x".repeat(65)] {
            assert!(Keys::new(bad).is_err(), "{bad:?}");
        }
    }
}
