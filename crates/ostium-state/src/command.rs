//! The write vocabulary of the replicated state (docs/architecture.md §4): every change
//! to it is one `StateCommand` appended to the Raft log, answered by one
//! `StateResponse`. Each command is a struct of its own, applied by the aggregate of
//! the state it changes (`state/`).
//!
//! Versioning: each variant is written under a name that carries its version
//! (`issue_refresh_token/v1`). A log written by an older binary must still decode, so a
//! command's fields never change once released; a changed command is a new variant
//! (`…/v2`) and `State::apply` keeps handling the old one. `state/testdata/v1.json` is
//! a log and snapshot written by the first release, and must keep loading.
//!
//! Time always comes from the command (`at`, seconds since the Unix epoch, written by
//! the proposer), never from the clock of the node that applies it, so every node
//! reaches the same state and clock skew cannot extend a token
//! (docs/architecture.md §4, the state machine).
//!
//! Only `ostium-state` builds commands: the rest of Ostium goes through the storage
//! API of [`crate::token_store`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::digest::TokenDigest;
use crate::record::{
    AuthorizationCodeRecord, FamilyId, RefreshTokenRecord, TokenExpiration, TokenUsage,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateCommand {
    /// As written before refresh tokens kept `auth_time` and `amr`: read from older
    /// logs, applied as `IssueRefreshToken` without them, never proposed.
    #[serde(rename = "issue_refresh_token/v1")]
    IssueRefreshTokenV1(IssueRefreshToken),
    #[serde(rename = "issue_refresh_token/v2")]
    IssueRefreshToken(IssueRefreshToken),
    #[serde(rename = "redeem_refresh_token/v1")]
    RedeemRefreshToken(RedeemRefreshToken),
    #[serde(rename = "revoke_refresh_family/v1")]
    RevokeRefreshFamily(RevokeRefreshFamily),
    #[serde(rename = "revoke_token/v1")]
    RevokeToken(RevokeToken),
    /// As written before reference tokens knew their refresh-token family: read from
    /// older logs, never proposed.
    #[serde(rename = "store_reference_token/v1")]
    StoreReferenceTokenV1(StoreReferenceToken),
    #[serde(rename = "store_reference_token/v2")]
    StoreReferenceToken(StoreReferenceToken),
    #[serde(rename = "revoke_reference_token/v1")]
    RevokeReferenceToken(RevokeReferenceToken),
    #[serde(rename = "purge/v1")]
    Purge(Purge),
    /// As written before keys rotated: read from older logs, applied without a
    /// lifecycle (the key signs from the start and replaces none), never proposed.
    #[serde(rename = "add_signing_key/v1")]
    AddSigningKeyV1(AddSigningKey),
    #[serde(rename = "add_signing_key/v2")]
    AddSigningKey(AddSigningKey),
    #[serde(rename = "withdraw_signing_key/v1")]
    WithdrawSigningKey(WithdrawSigningKey),
    #[serde(rename = "revoke_subject/v1")]
    RevokeSubject(RevokeSubject),
    #[serde(rename = "revoke_client/v1")]
    RevokeClient(RevokeClient),
    #[serde(rename = "store_authorization_code/v1")]
    StoreAuthorizationCode(StoreAuthorizationCode),
    #[serde(rename = "redeem_authorization_code/v1")]
    RedeemAuthorizationCode(RedeemAuthorizationCode),
    #[serde(rename = "remember_consent/v1")]
    RememberConsent(RememberConsent),
    #[serde(rename = "forget_consent/v1")]
    ForgetConsent(ForgetConsent),
}

/// Records a new refresh token, the first of a new family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRefreshToken {
    pub family: FamilyId,
    pub digest: TokenDigest,
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    pub audiences: Vec<String>,
    pub usage: TokenUsage,
    pub expiration: TokenExpiration,
    pub absolute_expires_at: u64,
    pub sliding_lifetime: Option<u32>,
    pub at: u64,
    /// Since v2: when and how the user authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<String>,
}

/// Redeems a refresh token (RFC 6749 §6): the compare-and-set behind invariant 1.
/// `successor` is derived by the proposer from the presented handle, so a retry of
/// the same redemption proposes the same successor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemRefreshToken {
    pub digest: TokenDigest,
    pub client_id: String,
    pub successor: TokenDigest,
    pub grace_period: u32,
    pub at: u64,
}

/// Revokes every token of a refresh-token family (RFC 7009 §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeRefreshFamily {
    pub family: FamilyId,
    pub at: u64,
}

/// Puts a self-contained token (a JWT `jti`, a Biscuit revocation id, or a digest in
/// hex) on the deny list until it would have expired anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeToken {
    pub token_id: String,
    pub expires_at: u64,
    pub at: u64,
}

/// Records a reference access token so that introspection can find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreReferenceToken {
    pub digest: TokenDigest,
    pub client_id: String,
    pub subject: Option<String>,
    pub scope: String,
    pub audiences: Vec<String>,
    pub expires_at: u64,
    pub at: u64,
    /// Since v2: the refresh-token family it was issued with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<FamilyId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeReferenceToken {
    pub digest: TokenDigest,
    pub at: u64,
}

/// Drops what has expired by `at`, the oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purge {
    pub at: u64,
    /// At most this many records go (the oldest first), so that one purge never
    /// holds up the log. Absent in purges written before the limit: those take
    /// everything that expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// Adds a signing key, its private part sealed with the cluster's key-encryption key,
/// so that every node signs with the same keys and verifies every token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddSigningKey {
    pub kid: String,
    /// JWS `alg` name.
    pub alg: String,
    /// Nonce, ciphertext and tag (AES-256-GCM) of the PKCS#8 document.
    pub sealed: Vec<u8>,
    pub at: u64,
    /// Since v2: when the key starts signing (`at` plus the propagation delay, or
    /// `at`). Every key of the algorithm that has not been replaced yet stops signing
    /// then, and retires `retire_after` seconds later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signs_from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_after: Option<u64>,
    /// Since v2: the key is added only if the state still needs it, so that two
    /// nodes that decided at once add one key between them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unless: Option<AddUnless>,
}

/// When an `AddSigningKey` changes nothing (answered `Duplicate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddUnless {
    /// A key of the algorithm signs at `at` or will from later, not stopped by then
    /// (a node adding the first key at start, while another node may have just
    /// added one with its clock ahead).
    Signing,
    /// The key with this kid, which signed when the proposer decided, has been
    /// replaced (or withdrawn) since (a scheduled rotation).
    Replaced(String),
}

/// Withdraws a signing key (compromised): it stops signing and verifying at once.
/// If it was signing, the next key waiting takes over at `at`; if none waits,
/// `replacement` (added by the proposer for that case) is added, signing at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawSigningKey {
    pub kid: String,
    pub at: u64,
    pub replacement: Option<AddSigningKey>,
}

/// Revokes every refresh-token family of a user (an operator's `ostium tokens
/// revoke --subject`, or the user removed from the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeSubject {
    pub subject: String,
    pub at: u64,
}

/// Revokes every refresh-token family of a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeClient {
    pub client_id: String,
    pub at: u64,
}

/// Records an authorization code before its handle is sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreAuthorizationCode {
    pub digest: TokenDigest,
    pub client_id: String,
    pub subject: String,
    pub redirect_uri: String,
    pub scope: String,
    pub audiences: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub session_id: String,
    pub auth_time: u64,
    pub amr: String,
    pub expires_at: u64,
    pub at: u64,
}

/// Exchanges an authorization code (RFC 6749 §4.1.3): the compare-and-set behind
/// invariant 3. `family` is chosen by the proposer once per token request, so a
/// retry of the same exchange carries the same family and is told apart from a
/// replay, which carries another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemAuthorizationCode {
    pub digest: TokenDigest,
    pub client_id: String,
    pub family: FamilyId,
    /// When the last token minted from the code expires.
    pub tokens_expire_at: u64,
    /// The refresh token issued with the exchange, in the same step; applied with
    /// `family` and `at` of the redemption, whatever it carries.
    pub refresh: Option<IssueRefreshToken>,
    pub at: u64,
}

/// Remembers what a user allowed a client, replacing what they allowed it before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberConsent {
    pub subject: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<u64>,
    pub at: u64,
}

/// Forgets what a user allowed a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetConsent {
    pub subject: String,
    pub client_id: String,
    pub at: u64,
}

/// One line for Raft's logs: the command and the digests or ids it is about, which are
/// safe to log; never subjects or scopes.
impl StateCommand {
    /// When the proposer made the command: the only clock `apply` knows.
    pub fn at(&self) -> u64 {
        match self {
            Self::IssueRefreshTokenV1(c) | Self::IssueRefreshToken(c) => c.at,
            Self::RedeemRefreshToken(c) => c.at,
            Self::RevokeRefreshFamily(c) => c.at,
            Self::RevokeToken(c) => c.at,
            Self::StoreReferenceTokenV1(c) | Self::StoreReferenceToken(c) => c.at,
            Self::RevokeReferenceToken(c) => c.at,
            Self::Purge(c) => c.at,
            Self::AddSigningKeyV1(c) | Self::AddSigningKey(c) => c.at,
            Self::WithdrawSigningKey(c) => c.at,
            Self::RevokeSubject(c) => c.at,
            Self::RevokeClient(c) => c.at,
            Self::StoreAuthorizationCode(c) => c.at,
            Self::RedeemAuthorizationCode(c) => c.at,
            Self::RememberConsent(c) => c.at,
            Self::ForgetConsent(c) => c.at,
        }
    }

    /// The command's kind as the log names it (`redeem_refresh_token/v1`): for spans,
    /// which must not carry digests or ids.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::IssueRefreshTokenV1(_) => "issue_refresh_token/v1",
            Self::IssueRefreshToken(_) => "issue_refresh_token/v2",
            Self::RedeemRefreshToken(_) => "redeem_refresh_token/v1",
            Self::RevokeRefreshFamily(_) => "revoke_refresh_family/v1",
            Self::RevokeToken(_) => "revoke_token/v1",
            Self::StoreReferenceTokenV1(_) => "store_reference_token/v1",
            Self::StoreReferenceToken(_) => "store_reference_token/v2",
            Self::RevokeReferenceToken(_) => "revoke_reference_token/v1",
            Self::Purge(_) => "purge/v1",
            Self::AddSigningKeyV1(_) => "add_signing_key/v1",
            Self::AddSigningKey(_) => "add_signing_key/v2",
            Self::WithdrawSigningKey(_) => "withdraw_signing_key/v1",
            Self::RevokeSubject(_) => "revoke_subject/v1",
            Self::RevokeClient(_) => "revoke_client/v1",
            Self::StoreAuthorizationCode(_) => "store_authorization_code/v1",
            Self::RedeemAuthorizationCode(_) => "redeem_authorization_code/v1",
            Self::RememberConsent(_) => "remember_consent/v1",
            Self::ForgetConsent(_) => "forget_consent/v1",
        }
    }

    /// Whether the command revokes something (a token, a family, a reference token,
    /// a user's or a client's tokens).
    pub fn is_revocation(&self) -> bool {
        matches!(
            self,
            Self::RevokeRefreshFamily(_)
                | Self::RevokeToken(_)
                | Self::RevokeReferenceToken(_)
                | Self::RevokeSubject(_)
                | Self::RevokeClient(_)
        )
    }

    /// Whether the command changes the signing keys, which every node then loads
    /// again.
    pub fn changes_signing_keys(&self) -> bool {
        matches!(
            self,
            Self::AddSigningKey(_) | Self::AddSigningKeyV1(_) | Self::WithdrawSigningKey(_)
        )
    }
}

impl fmt::Display for StateCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IssueRefreshToken(c) | Self::IssueRefreshTokenV1(c) => write!(
                f,
                "issue_refresh_token(family={}, digest={}, at={})",
                c.family.0, c.digest, c.at
            ),
            Self::RedeemRefreshToken(c) => write!(
                f,
                "redeem_refresh_token(digest={}, successor={}, at={})",
                c.digest, c.successor, c.at
            ),
            Self::RevokeRefreshFamily(c) => {
                write!(
                    f,
                    "revoke_refresh_family(family={}, at={})",
                    c.family.0, c.at
                )
            }
            Self::RevokeToken(c) => write!(f, "revoke_token(at={})", c.at),
            Self::StoreReferenceToken(c) | Self::StoreReferenceTokenV1(c) => {
                write!(f, "store_reference_token(digest={}, at={})", c.digest, c.at)
            }
            Self::RevokeReferenceToken(c) => {
                write!(
                    f,
                    "revoke_reference_token(digest={}, at={})",
                    c.digest, c.at
                )
            }
            Self::Purge(c) => write!(f, "purge(at={})", c.at),
            Self::AddSigningKey(c) | Self::AddSigningKeyV1(c) => {
                write!(
                    f,
                    "add_signing_key(kid={}, alg={}, at={})",
                    c.kid, c.alg, c.at
                )
            }
            Self::WithdrawSigningKey(c) => {
                write!(f, "withdraw_signing_key(kid={}, at={})", c.kid, c.at)
            }
            // Subjects and client ids are not secrets, but they name people and
            // partners: the operator knows whom they revoked.
            Self::RevokeSubject(c) => write!(f, "revoke_subject(at={})", c.at),
            Self::RevokeClient(c) => write!(f, "revoke_client(at={})", c.at),
            Self::StoreAuthorizationCode(c) => write!(
                f,
                "store_authorization_code(digest={}, at={})",
                c.digest, c.at
            ),
            Self::RedeemAuthorizationCode(c) => write!(
                f,
                "redeem_authorization_code(digest={}, family={}, at={})",
                c.digest, c.family.0, c.at
            ),
            Self::RememberConsent(c) => write!(f, "remember_consent(at={})", c.at),
            Self::ForgetConsent(c) => write!(f, "forget_consent(at={})", c.at),
        }
    }
}

/// The outcome of applying one log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateResponse {
    /// A refresh or reference token, a signing key, an authorization code or a
    /// consent was recorded.
    Issued,
    /// The digest (or key id) is already in use; nothing changed.
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
    /// The revocation took effect (or the token was already revoked); a consent was
    /// forgotten (or there was none).
    Revoked,
    /// How many expired entries a purge dropped.
    Purged { removed: u64 },
    /// The families a revocation by subject or client revoked, with when each
    /// family's denial lapses.
    FamiliesRevoked { families: Vec<(FamilyId, u64)> },
    /// The authorization code was exchanged by this redemption (first, or again by a
    /// retry of the same one); `record` says what it was issued for.
    CodeRedeemed { record: AuthorizationCodeRecord },
    /// A redeemed authorization code was presented again: `family` is denied until
    /// `until`.
    CodeReplayed { family: FamilyId, until: u64 },
    /// Answer to log entries that carry no command (blank and membership entries).
    Empty,
}
