//! The snapshot the releases before the tables wrote (format 1): every aggregate's
//! maps side by side in one JSON object, each refresh token a full copy of its
//! grant. A node upgraded in place finds its last one in the log's database and
//! turns it into records once, at start ([`records`]); the log replays from there.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::expiry::Kind;
use super::refresh::StoredToken;
use super::tables::{self, Definition, KeyBytes, RawRecord, composite};
use crate::digest::TokenDigest;
use crate::record::{
    AuthorizationCodeRecord, ConsentRecord, FamilyId, ReferenceTokenRecord, RefreshFamily,
    RefreshTokenRecord, SigningKeyRecord,
};

/// A family as format 1 kept it: the grant's facts were in each token.
#[derive(Deserialize)]
struct Family {
    client_id: String,
    current: TokenDigest,
    absolute_expires_at: u64,
    revoked_at: Option<u64>,
}

#[derive(Deserialize)]
struct Snapshot {
    refresh_tokens: BTreeMap<TokenDigest, RefreshTokenRecord>,
    families: BTreeMap<FamilyId, Family>,
    revoked: BTreeMap<String, u64>,
    reference_tokens: BTreeMap<TokenDigest, ReferenceTokenRecord>,
    #[serde(default)]
    revoked_references: BTreeMap<TokenDigest, u64>,
    #[serde(default)]
    signing_keys: BTreeMap<String, SigningKeyRecord>,
    #[serde(default)]
    authorization_codes: BTreeMap<TokenDigest, AuthorizationCodeRecord>,
    #[serde(default)]
    replayed_families: BTreeMap<FamilyId, u64>,
    #[serde(default)]
    consents: BTreeMap<String, BTreeMap<String, ConsentRecord>>,
}

#[derive(Default)]
struct Records(Vec<RawRecord>);

impl Records {
    fn put(
        &mut self,
        table: Definition,
        key: &(impl KeyBytes + ?Sized),
        value: &impl serde::Serialize,
    ) {
        let number = tables::number(table);
        // postcard cannot fail on these records: no maps with non-string keys, no
        // skipped fields.
        if let Ok(value) = postcard::to_stdvec(value) {
            self.0.push((number, key.key_bytes().into_owned(), value));
        }
    }

    fn expires(&mut self, at: u64, kind: Kind, key: &(impl KeyBytes + ?Sized)) {
        let mut entry = at.to_be_bytes().to_vec();
        entry.push(kind as u8);
        entry.extend_from_slice(&key.key_bytes());
        self.put(tables::EXPIRY, entry.as_slice(), &());
    }
}

/// The records a format-1 snapshot holds, as the tables keep them.
pub fn records(json: &[u8]) -> Result<Vec<RawRecord>, serde_json::Error> {
    let old: Snapshot = serde_json::from_slice(json)?;
    let mut out = Records::default();
    for (id, family) in &old.families {
        // The grant's facts come from the family's current token, or any other.
        let token = old
            .refresh_tokens
            .get(&family.current)
            .or_else(|| old.refresh_tokens.values().find(|t| &t.family == id));
        let Some(token) = token else {
            // Every token of it expired: only its revocation still matters.
            out.put(
                tables::FAMILIES,
                id,
                &RefreshFamily {
                    client_id: family.client_id.clone(),
                    subject: String::new(),
                    scope: String::new(),
                    audiences: Vec::new(),
                    usage: crate::record::TokenUsage::OneTimeOnly,
                    expiration: crate::record::TokenExpiration::Absolute,
                    absolute_expires_at: family.absolute_expires_at,
                    sliding_lifetime: None,
                    auth_time: None,
                    amr: None,
                    revoked_at: family.revoked_at,
                },
            );
            out.expires(family.absolute_expires_at, Kind::RefreshFamily, id);
            continue;
        };
        let new = RefreshFamily {
            client_id: family.client_id.clone(),
            subject: token.subject.clone(),
            scope: token.scope.clone(),
            audiences: token.audiences.clone(),
            usage: token.usage,
            expiration: token.expiration,
            absolute_expires_at: family.absolute_expires_at,
            sliding_lifetime: token.sliding_lifetime,
            auth_time: token.auth_time,
            amr: token.amr.clone(),
            revoked_at: family.revoked_at,
        };
        let family_id = id.0.as_bytes();
        out.put(
            tables::FAMILIES_BY_SUBJECT,
            composite(&[new.subject.as_bytes(), family_id]).as_slice(),
            &(),
        );
        out.put(
            tables::FAMILIES_BY_CLIENT,
            composite(&[new.client_id.as_bytes(), family_id]).as_slice(),
            &(),
        );
        out.put(tables::FAMILIES, id, &new);
        out.expires(new.absolute_expires_at, Kind::RefreshFamily, id);
    }
    for (digest, token) in &old.refresh_tokens {
        let stored = StoredToken {
            family: token.family.clone(),
            issued_at: token.issued_at,
            expires_at: token.expires_at,
            rotation: token.rotation.clone(),
        };
        out.put(tables::REFRESH_TOKENS, digest, &stored);
        out.expires(token.expires_at, Kind::RefreshToken, digest);
    }
    for (id, until) in &old.revoked {
        out.put(tables::DENY_LIST, id.as_str(), until);
        out.expires(*until, Kind::DenyListEntry, id.as_str());
    }
    for (digest, token) in &old.reference_tokens {
        out.put(tables::REFERENCE_TOKENS, digest, token);
        out.expires(token.expires_at, Kind::ReferenceToken, digest);
    }
    for (digest, until) in &old.revoked_references {
        out.put(tables::REVOKED_REFERENCES, digest, until);
        out.expires(*until, Kind::RevokedReference, digest);
    }
    for (kid, key) in &old.signing_keys {
        out.put(tables::SIGNING_KEYS, kid.as_str(), key);
    }
    for (digest, code) in &old.authorization_codes {
        out.put(tables::AUTHORIZATION_CODES, digest, code);
        out.expires(code.kept_until(), Kind::AuthorizationCode, digest);
    }
    for (family, until) in &old.replayed_families {
        out.put(tables::REPLAYED_FAMILIES, family, until);
        out.expires(*until, Kind::ReplayedFamily, family);
    }
    for (subject, clients) in &old.consents {
        for (client, consent) in clients {
            let key = composite(&[subject.as_bytes(), client.as_bytes()]);
            out.put(tables::CONSENTS, key.as_slice(), consent);
            if let Some(expires_at) = consent.expires_at {
                out.expires(expires_at, Kind::Consent, key.as_slice());
            }
        }
    }
    // Grouped by table, as a load wants them.
    out.0.sort_by_key(|(table, _, _)| *table);
    Ok(out.0)
}
