//! Redis key names: everything Ostium caches lives under `ostium:{cluster}:`, so that
//! several clusters (or a staging and a production one) can share one Redis without
//! seeing each other's entries.

use crate::cache::CacheError;
use crate::digest::TokenDigest;
use crate::record::Denial;

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

    pub(crate) fn reference(&self, digest: &TokenDigest) -> String {
        format!("{}ref:{}", self.prefix, digest.to_hex())
    }

    pub(crate) fn denial(&self, denial: &Denial) -> String {
        let prefix = &self.prefix;
        match denial {
            Denial::Token(id) => format!("{prefix}deny:tok:{id}"),
            Denial::Family(family) => format!("{prefix}deny:fam:{}", family.0),
            Denial::Spent(digest) => format!("{prefix}deny:spent:{}", digest.to_hex()),
            Denial::Reference(digest) => format!("{prefix}deny:ref:{}", digest.to_hex()),
        }
    }

    /// The pub/sub channel on which cores announce a change of the signing keys.
    pub(crate) fn key_changes(&self) -> String {
        format!("{}keys", self.prefix)
    }

    pub(crate) fn watermark(&self) -> String {
        format!("{}watermark", self.prefix)
    }

    /// A counter shared by the nodes (`name` is the caller's, such as a digest of a
    /// username whose failed logins are counted).
    pub(crate) fn counter(&self, name: &str) -> String {
        format!("{}count:{name}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::FamilyId;

    #[test]
    fn keys_are_namespaced_by_cluster() {
        let keys = Keys::new("prod-1").unwrap();
        let d = TokenDigest::of_handle("abc");
        assert_eq!(keys.refresh(&d), format!("ostium:prod-1:rt:{}", d.to_hex()));
        assert_eq!(
            keys.reference(&d),
            format!("ostium:prod-1:ref:{}", d.to_hex())
        );
        assert_eq!(
            keys.denial(&Denial::Family(FamilyId("f1".into()))),
            "ostium:prod-1:deny:fam:f1"
        );
        assert_eq!(
            keys.denial(&Denial::Token("j1".into())),
            "ostium:prod-1:deny:tok:j1"
        );
        assert_eq!(
            keys.denial(&Denial::Spent(d)),
            format!("ostium:prod-1:deny:spent:{}", d.to_hex())
        );
        assert_eq!(keys.watermark(), "ostium:prod-1:watermark");
    }

    #[test]
    fn cluster_names_that_would_blur_the_namespace_are_refused() {
        for bad in ["", "a:b", "a b", "ä", &"x".repeat(65)] {
            assert!(Keys::new(bad).is_err(), "{bad:?}");
        }
    }
}
