//! Signing keys and the tokens Ostium mints with them.
//!
//! Access tokens are JWTs per RFC 9068 (`typ: at+jwt`), signed with ES256 by
//! default, or EdDSA, PS256 or RS256. Keys are aws-lc-rs key pairs parsed once and
//! kept in a [`KeyRing`] that also serves the JWKS document; a [`KeyStore`] keeps
//! them in the data directory so that tokens stay verifiable across restarts.
//! Grants never put a JWT together themselves: they describe the token in an
//! [`AccessTokenGrant`] and hand it to an [`AccessTokenStrategy`].
//!
//! Layout:
//! - [`algorithm`]: the supported JWS algorithms.
//! - [`key`]: one signing key: generate, load, sign, describe as a JWK.
//! - [`key_ring`]: the active key and the published set (JWKS).
//! - [`key_store`]: keys on disk in the data directory.
//! - [`jws`]: compact JWS serialization.
//! - [`access_token`]: RFC 9068 claims and the JWT access-token strategy.
//! - [`handle`]: random identifiers, opaque handles and refresh-token successors.

pub mod access_token;
pub mod algorithm;
pub mod handle;
pub mod jws;
pub mod key;
pub mod key_ring;
pub mod key_store;

pub use access_token::{AccessTokenClaims, AccessTokenGrant, AccessTokenStrategy, JwtAccessTokens};
pub use algorithm::SigningAlgorithm;
pub use key::SigningKey;
pub use key_ring::KeyRing;
pub use key_store::KeyStore;

/// Why a key could not be made, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the cryptographic library refused the operation")]
    Crypto,
    #[error("key file {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is not a valid Ostium key: {reason}")]
    Corrupt {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("could not encode token claims: {0}")]
    Encode(#[from] serde_json::Error),
}
