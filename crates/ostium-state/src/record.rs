//! What the replicated state remembers about each token: refresh-token records and
//! their families, and reference (opaque, introspected) access tokens (RFC 7662).
//!
//! Every time is in seconds since the Unix epoch and was written by the proposer of a
//! command, never read from the clock of the node that applies it.

use serde::{Deserialize, Serialize};

use crate::digest::TokenDigest;

/// Identifies a refresh-token family: the first token issued by a grant and every
/// token rotated from it. Reuse of a rotated token revokes the whole family.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FamilyId(pub String);

/// `refresh_token_usage` (IdentityServer's `RefreshTokenUsage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenUsage {
    /// Each redemption rotates the token: the presented one is spent, a successor issued.
    OneTimeOnly,
    /// The same token is redeemed again and again until it expires.
    ReUse,
}

/// `refresh_token_expiration` (IdentityServer's `TokenExpiration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenExpiration {
    /// Expires at the family's absolute expiry, however often it is used.
    Absolute,
    /// Each use pushes expiry out by the sliding lifetime, never past the absolute expiry.
    Sliding,
}

/// A rotated refresh token remembers what replaced it, so that a retry within the
/// grace period gets the same answer and a later reuse can be recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub successor: TokenDigest,
    pub rotated_at: u64,
}

/// One refresh token, by the digest of its handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenRecord {
    pub digest: TokenDigest,
    pub family: FamilyId,
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    pub audiences: Vec<String>,
    pub usage: TokenUsage,
    pub expiration: TokenExpiration,
    pub issued_at: u64,
    /// No token of the family is valid at or after this time.
    pub absolute_expires_at: u64,
    pub sliding_lifetime: Option<u32>,
    /// When this token stops being valid (equal to `absolute_expires_at` unless sliding).
    pub expires_at: u64,
    pub rotation: Option<Rotation>,
    /// When and how the user authenticated for the grant that started the family
    /// (RFC 9068 §2.2.1): access tokens from every rotation carry them on. Absent in
    /// records written before they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<String>,
}

impl RefreshTokenRecord {
    /// The expiry of a token of this kind used (or issued) at `at`.
    pub(crate) fn expiry_if_used_at(&self, at: u64) -> u64 {
        expiry(
            self.expiration,
            self.absolute_expires_at,
            self.sliding_lifetime,
            at,
        )
    }
}

/// Expiry of a refresh token issued or last used at `at`.
pub(crate) fn expiry(
    expiration: TokenExpiration,
    absolute_expires_at: u64,
    sliding_lifetime: Option<u32>,
    at: u64,
) -> u64 {
    match (expiration, sliding_lifetime) {
        (TokenExpiration::Sliding, Some(lifetime)) => {
            absolute_expires_at.min(at.saturating_add(u64::from(lifetime)))
        }
        // Sliding without a sliding lifetime has nothing to slide by.
        (TokenExpiration::Sliding, None) | (TokenExpiration::Absolute, _) => absolute_expires_at,
    }
}

/// The family a refresh token belongs to: what the grant that started it decided,
/// and whether the family was revoked (by the client, an administrator, or reuse
/// detection). Its tokens' records hold only their own times and successor;
/// everything else is read from here. The family's current token is its one token
/// not rotated yet: the family does not name it, so that a rotation writes only
/// its tokens' records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshFamily {
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    pub audiences: Vec<String>,
    pub usage: TokenUsage,
    pub expiration: TokenExpiration,
    /// No token of the family is valid at or after this time.
    pub absolute_expires_at: u64,
    pub sliding_lifetime: Option<u32>,
    pub auth_time: Option<u64>,
    pub amr: Option<String>,
    pub revoked_at: Option<u64>,
}

/// A reference access token: the token is an opaque handle, its claims live here and
/// are handed out by introspection (RFC 7662 §2.2).
///
/// Records kept in the state's tables are postcard, which has no field names: no
/// field of one may be skipped when serialized (`skip_serializing_if`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceTokenRecord {
    pub digest: TokenDigest,
    pub client_id: String,
    pub subject: Option<String>,
    pub scope: String,
    pub audiences: Vec<String>,
    pub issued_at: u64,
    pub expires_at: u64,
    /// The refresh-token family the token was issued with, if any: revoking the
    /// family revokes it too (RFC 7009 §2.1).
    #[serde(default)]
    pub family: Option<FamilyId>,
}

/// A signing key shared by the cluster. The private key is sealed; only nodes that
/// hold the cluster secret can open it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub sealed: Vec<u8>,
    pub created_at: u64,
    /// Position among the keys, in the order they were added: among keys of an
    /// algorithm that start signing at the same time, the first signs.
    pub order: u64,
    /// Since `add_signing_key/v2`: when the key starts signing (published from
    /// `created_at` on). 0 for keys added before rotation, which sign from the start.
    #[serde(default)]
    pub signs_from: u64,
    /// When a newer key of the algorithm takes over: from then on this key only
    /// verifies.
    #[serde(default)]
    pub stops_signing_at: Option<u64>,
    /// When the key leaves the JWKS and stops verifying.
    #[serde(default)]
    pub retire_at: Option<u64>,
    /// When an operator withdrew the key: it neither signs nor verifies any more.
    #[serde(default)]
    pub withdrawn_at: Option<u64>,
}

/// Something that stopped being valid before its time, and stays so until it would
/// have expired anyway. Denials only ever accumulate, which is what lets a copy of
/// them (the hot cache) be refilled from the state at any time without ordering
/// concerns: a missing denial is the only dangerous kind of staleness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Denial {
    /// A self-contained token (a JWT `jti`) on the deny list.
    Token(String),
    /// A refresh-token family revoked by its client or by reuse detection.
    Family(FamilyId),
    /// A refresh token rotated away: redeeming it again is reuse.
    Spent(TokenDigest),
    /// A reference access token revoked by its client.
    Reference(TokenDigest),
}

impl Denial {
    /// The denials of revoked families, each until the family's absolute expiry (no
    /// token of a family, access tokens included, outlives it).
    pub fn of_families(families: Vec<(FamilyId, u64)>) -> Vec<(Denial, u64)> {
        families
            .into_iter()
            .map(|(family, until)| (Denial::Family(family), until))
            .collect()
    }
}

/// What the state knows of an opaque token at one moment: the answer a node reading
/// its own state gives, and the answer an edge assembles from the hot cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFacts {
    /// The reference access token with this digest, if it is active.
    pub reference: Option<ReferenceTokenRecord>,
    /// The refresh token with this digest, spent or not.
    pub refresh: Option<RefreshTokenRecord>,
    /// Whether that refresh token can still be redeemed: not spent, its family not
    /// revoked, not expired.
    pub refresh_live: bool,
}

/// An authorization code (RFC 6749 §4.1.2), by the digest of its handle: what the
/// authorization request decided, kept for the token request that exchanges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationCodeRecord {
    pub client_id: String,
    pub subject: String,
    pub redirect_uri: String,
    pub scope: String,
    pub audiences: Vec<String>,
    /// OpenID Connect Core §3.1.2.1: repeated in the ID token.
    pub nonce: Option<String>,
    /// PKCE (RFC 7636 §4.3).
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub session_id: String,
    pub auth_time: u64,
    pub amr: String,
    pub issued_at: u64,
    /// The code cannot be exchanged at or after this time.
    pub expires_at: u64,
    /// Set by the one exchange that succeeded; a later presentation is a replay.
    #[serde(default)]
    pub redeemed: Option<CodeExchange>,
}

/// What exchanging an authorization code issued: enough to switch it all off when
/// the code is presented again (RFC 6749 §4.1.2, §10.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeExchange {
    /// The family every token minted from the code carries (`fam` in a JWT, the
    /// family of a reference or refresh token).
    pub family: FamilyId,
    /// No token minted from the code lives at or after this time (the refresh
    /// token's absolute expiry included).
    pub tokens_expire_at: u64,
    pub redeemed_at: u64,
}

impl AuthorizationCodeRecord {
    /// Until when the record is kept: a redeemed code outlives its own expiry for as
    /// long as what it issued lives, so that a replay still revokes it.
    pub fn kept_until(&self) -> u64 {
        match &self.redeemed {
            Some(exchange) => self.expires_at.max(exchange.tokens_expire_at),
            None => self.expires_at,
        }
    }
}

/// What a user allowed a client, remembered so that the next authorization request
/// for no more than these scopes skips the consent screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub scopes: Vec<String>,
    pub granted_at: u64,
    /// `None`: until the user (or an operator) withdraws it.
    pub expires_at: Option<u64>,
}

impl ConsentRecord {
    pub fn is_live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}
