//! Authentication of Raft traffic with the cluster secret (docs/architecture.md §4
//! "Network"): every request carries `x-ostium-cluster-auth`, the hex HMAC-SHA256 (RFC
//! 2104) under the cluster secret of the RPC's name and its body. The secret itself
//! never crosses the wire, a tag for one RPC cannot be replayed as another, and the
//! check is constant-time.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;

/// Name of the header that carries the tag.
pub const CLUSTER_AUTH_HEADER: &str = "x-ostium-cluster-auth";

/// Secrets shorter than this are refused: the secret is the cluster's only credential.
pub const MIN_SECRET_LEN: usize = 16;

/// The secret shared by every node of a cluster, ready to sign and verify.
#[derive(Clone)]
pub struct ClusterSecret {
    // Shared: an aws-lc-rs HMAC key holds a whole HMAC context (over a kilobyte), and
    // every connection and service keeps a copy of the secret.
    key: Arc<hmac::Key>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClusterSecretError {
    #[error("the cluster secret must be at least {MIN_SECRET_LEN} bytes")]
    TooShort,
}

/// Why a request was not authenticated. Deliberately says nothing more specific to
/// the caller than "refused".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing cluster authentication")]
    Missing,
    #[error("cluster authentication refused")]
    Refused,
}

impl ClusterSecret {
    pub fn new(secret: &[u8]) -> Result<Self, ClusterSecretError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(ClusterSecretError::TooShort);
        }
        Ok(Self {
            key: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, secret)),
        })
    }

    /// The header value for a request to `rpc` with `body`.
    pub fn sign(&self, rpc: &str, body: &[u8]) -> String {
        hex::encode(self.tag(rpc, body))
    }

    /// Checks the header value of a request to `rpc` with `body`, in constant time.
    pub fn verify(&self, rpc: &str, body: &[u8], header: Option<&str>) -> Result<(), AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let tag = hex::decode(header).map_err(|_| AuthError::Refused)?;
        // What `hmac::verify` does, without first copying the body into one message
        // with the RPC name: a log append or a snapshot can be large.
        verify_slices_are_equal(self.tag(rpc, body).as_ref(), &tag).map_err(|_| AuthError::Refused)
    }

    fn tag(&self, rpc: &str, body: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.key);
        // The length prefix keeps (rpc, body) pairs from colliding.
        context.update(&(rpc.len() as u64).to_be_bytes());
        context.update(rpc.as_bytes());
        context.update(body);
        context.sign()
    }
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a cluster secret of some length";

    #[test]
    fn a_signed_request_verifies() {
        let secret = ClusterSecret::new(SECRET).unwrap();
        let tag = secret.sign("append", b"{}");
        assert_eq!(tag.len(), 64);
        assert_eq!(secret.verify("append", b"{}", Some(&tag)), Ok(()));
    }

    #[test]
    fn tag_is_rfc_2104_hmac_sha256_over_length_prefixed_rpc_and_body() {
        // Computed independently (Python's hmac module):
        // HMAC-SHA256(key, be64(4) || "vote" || "body").
        let secret = ClusterSecret::new(b"0123456789abcdef").unwrap();
        assert_eq!(
            secret.sign("vote", b"body"),
            "d089c18be233323b5d78871ad684578b13806dcf84c1eb3eff5d57bd3d54e736"
        );
    }

    #[test]
    fn an_uppercase_tag_verifies() {
        let secret = ClusterSecret::new(SECRET).unwrap();
        let tag = secret.sign("append", b"{}").to_uppercase();
        assert_eq!(secret.verify("append", b"{}", Some(&tag)), Ok(()));
    }

    #[test]
    fn wrong_secret_other_rpc_other_body_and_garbage_are_refused() {
        let secret = ClusterSecret::new(SECRET).unwrap();
        let other = ClusterSecret::new(b"another cluster secret entirely").unwrap();
        let tag = secret.sign("append", b"{}");
        let refused = [
            other.verify("append", b"{}", Some(&tag)),
            secret.verify("vote", b"{}", Some(&tag)),
            secret.verify("append", b"{ }", Some(&tag)),
            secret.verify("append", b"{}", Some(&tag[..62])),
            secret.verify("append", b"{}", Some("zz")),
            secret.verify("append", b"{}", Some("")),
        ];
        for result in refused {
            assert_eq!(result, Err(AuthError::Refused));
        }
        assert_eq!(
            secret.verify("append", b"{}", None),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert_eq!(
            ClusterSecret::new(b"short").unwrap_err(),
            ClusterSecretError::TooShort
        );
        let secret = ClusterSecret::new(SECRET).unwrap();
        assert!(!format!("{secret:?}").contains("cluster secret"));
    }
}
