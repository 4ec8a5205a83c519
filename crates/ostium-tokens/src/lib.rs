//! Signing keys and the tokens Ostium mints with them.
//!
//! Access tokens are JWTs per RFC 9068 (`typ: at+jwt`), signed with ES256 by
//! default, or EdDSA, PS256 or RS256. Keys are aws-lc-rs key pairs parsed once and
//! kept in a [`KeyRing`] that also serves the JWKS document; they are kept, sealed by
//! a [`KeySealer`], in the replicated state, so every node of a cluster signs with the
//! same keys and tokens stay verifiable across restarts.
//! Grants never put a JWT together themselves: they describe the token in an
//! [`AccessTokenGrant`] and hand it to an [`AccessTokenStrategy`].
//!
//! Layout:
//! - [`algorithm`]: the supported JWS algorithms.
//! - [`key`]: one signing key: generate, load, sign, describe as a JWK.
//! - [`key_ring`]: the signing key and the published set (JWKS), replaced whole when
//!   the keys change.
//! - [`sealing`]: private keys sealed for the replicated state.
//! - [`jws`]: compact JWS serialization.
//! - [`access_token`]: RFC 9068 claims and the JWT access-token strategy.
//! - [`id_token`]: OpenID Connect ID tokens and their `at_hash`/`c_hash`/`s_hash`.
//! - `verified`: access tokens this node has verified already.
//! - [`browser_session`]: signed session cookies and CSRF tokens for the pages.
//! - [`handle`]: random identifiers, opaque handles and refresh-token successors.

pub mod access_token;
pub mod algorithm;
pub mod browser_session;
pub mod handle;
pub mod id_token;
pub mod jws;
pub mod key;
pub mod key_ring;
pub mod sealing;
mod verified;

pub use access_token::{AccessTokenClaims, AccessTokenGrant, AccessTokenStrategy, JwtAccessTokens};
pub use algorithm::SigningAlgorithm;
pub use browser_session::{BrowserSessions, LoginSession};
pub use id_token::{IdTokenClaims, IdTokenGrant, IdTokens};
pub use key::SigningKey;
pub use key_ring::{KeyRing, KeySet, SealedKey};
pub use sealing::KeySealer;

/// Why a key could not be made, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the cryptographic library refused the operation")]
    Crypto,
    #[error("signing key {kid} is not usable: {reason}")]
    InvalidKey { kid: String, reason: String },
    /// Every signing key of the configured algorithm was withdrawn or retired and no
    /// new one is loaded yet.
    #[error("no signing key is in use")]
    NoSigningKey,
    #[error("could not encode token claims: {0}")]
    Encode(#[from] serde_json::Error),
}
