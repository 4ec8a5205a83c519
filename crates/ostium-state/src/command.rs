//! The write vocabulary of the replicated state (DESIGN §4): every change to it is one
//! `StateCommand` appended to the Raft log, answered by one `StateResponse`.
//!
//! Versioning: each variant is written under a name that carries its version
//! (`issue_refresh_token/v1`). A log written by an older binary must still decode, so a
//! variant's fields never change once released; a changed command is a new variant
//! (`…/v2`) and `State::apply` keeps handling the old one.
//!
//! Time always comes from the command (`at`, seconds since the Unix epoch, written by
//! the proposer), never from the clock of the node that applies it, so every node
//! reaches the same state and clock skew cannot extend a token (DESIGN §9).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::digest::TokenDigest;
use crate::record::{FamilyId, RefreshTokenRecord, TokenExpiration, TokenUsage};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateCommand {
    /// Records a new refresh token, the first of a new family.
    #[serde(rename = "issue_refresh_token/v1")]
    IssueRefreshToken {
        family: FamilyId,
        digest: TokenDigest,
        client_id: String,
        subject: String,
        scope: String,
        audiences: Vec<String>,
        usage: TokenUsage,
        expiration: TokenExpiration,
        absolute_expires_at: u64,
        sliding_lifetime: Option<u32>,
        at: u64,
    },
    /// Redeems a refresh token (RFC 6749 §6): the compare-and-set behind invariant 1.
    /// `successor` is derived by the proposer from the presented handle, so a retry of
    /// the same redemption proposes the same successor.
    #[serde(rename = "redeem_refresh_token/v1")]
    RedeemRefreshToken {
        digest: TokenDigest,
        client_id: String,
        successor: TokenDigest,
        grace_period: u32,
        at: u64,
    },
    /// Revokes every token of a refresh-token family (RFC 7009 §2.1).
    #[serde(rename = "revoke_refresh_family/v1")]
    RevokeRefreshFamily { family: FamilyId, at: u64 },
    /// Puts a self-contained token (a JWT `jti`, a Biscuit revocation id, or a digest in
    /// hex) on the deny list until it would have expired anyway.
    #[serde(rename = "revoke_token/v1")]
    RevokeToken {
        token_id: String,
        expires_at: u64,
        at: u64,
    },
    /// Records a reference access token so that introspection can find it.
    #[serde(rename = "store_reference_token/v1")]
    StoreReferenceToken {
        digest: TokenDigest,
        client_id: String,
        subject: Option<String>,
        scope: String,
        audiences: Vec<String>,
        expires_at: u64,
        at: u64,
    },
    #[serde(rename = "revoke_reference_token/v1")]
    RevokeReferenceToken { digest: TokenDigest, at: u64 },
    /// Drops everything that has expired by `at`.
    #[serde(rename = "purge/v1")]
    Purge { at: u64 },
    /// Adds a signing key, its private part sealed with the cluster's key-encryption
    /// key, so that every node signs with the same keys and verifies every token.
    #[serde(rename = "add_signing_key/v1")]
    AddSigningKey {
        kid: String,
        /// JWS `alg` name.
        alg: String,
        /// Nonce, ciphertext and tag (AES-256-GCM) of the PKCS#8 document.
        sealed: Vec<u8>,
        at: u64,
    },
}

/// One line for Raft's logs: the command and the digests or ids it is about, which are
/// safe to log; never subjects or scopes.
impl fmt::Display for StateCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IssueRefreshToken {
                family, digest, at, ..
            } => {
                write!(
                    f,
                    "issue_refresh_token(family={}, digest={digest}, at={at})",
                    family.0
                )
            }
            Self::RedeemRefreshToken {
                digest,
                successor,
                at,
                ..
            } => {
                write!(
                    f,
                    "redeem_refresh_token(digest={digest}, successor={successor}, at={at})"
                )
            }
            Self::RevokeRefreshFamily { family, at } => {
                write!(f, "revoke_refresh_family(family={}, at={at})", family.0)
            }
            Self::RevokeToken { at, .. } => write!(f, "revoke_token(at={at})"),
            Self::StoreReferenceToken { digest, at, .. } => {
                write!(f, "store_reference_token(digest={digest}, at={at})")
            }
            Self::RevokeReferenceToken { digest, at } => {
                write!(f, "revoke_reference_token(digest={digest}, at={at})")
            }
            Self::Purge { at } => write!(f, "purge(at={at})"),
            Self::AddSigningKey { kid, alg, at, .. } => {
                write!(f, "add_signing_key(kid={kid}, alg={alg}, at={at})")
            }
        }
    }
}

/// The outcome of applying one log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateResponse {
    /// A refresh or reference token was recorded.
    Issued,
    /// The digest is already in use; nothing changed.
    Duplicate,
    /// The token was current and is now spent; `record` is its successor, now current.
    Rotated { record: RefreshTokenRecord },
    /// A retry of a rotation within the grace period: the same successor as before.
    AlreadyRotated { record: RefreshTokenRecord },
    /// A re-usable token was redeemed; `record` is the token with its new expiry.
    Reused { record: RefreshTokenRecord },
    /// A rotated token was presented again: its whole family is now revoked.
    ReuseDetected { family: FamilyId },
    /// Unknown, expired, revoked, or another client's token; nothing changed.
    Invalid,
    /// The revocation took effect (or the token was already revoked).
    Revoked,
    /// How many expired entries a purge dropped.
    Purged { removed: u64 },
    /// Answer to log entries that carry no command (blank and membership entries).
    Empty,
}
