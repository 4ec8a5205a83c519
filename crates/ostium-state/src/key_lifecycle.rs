//! Where a signing key stands at a given time (docs/architecture.md, signing keys):
//! next (published, not signing yet), signing, retiring (verifies only), retired or
//! withdrawn. Read from the times the proposer wrote into each [`SigningKeyRecord`],
//! so `apply` uses the command's time and every node (and `ostium keys list`) its
//! own clock, with the same rules.

use std::fmt;

use serde::Serialize;

use crate::record::SigningKeyRecord;

/// A key's place in its life at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPhase {
    /// Published in the JWKS ahead of signing, so that relying parties that cache the
    /// JWKS know it before the first token it signs reaches them.
    Next,
    /// Signs every new token of its algorithm.
    Signing,
    /// Replaced by a newer key: still published and verifying until `retire_at`.
    Retiring,
    /// Past `retire_at`: not published, verifies nothing.
    Retired,
    /// Withdrawn by an operator: not published, verifies nothing.
    Withdrawn,
    /// Published and verifying, but not signing: a key of another algorithm than the
    /// one asked about, or a spare added before rotation existed.
    Published,
}

impl fmt::Display for KeyPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Next => "next",
            Self::Signing => "signing",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
            Self::Withdrawn => "withdrawn",
            Self::Published => "published",
        })
    }
}

impl SigningKeyRecord {
    /// Whether it is in the JWKS and verifies tokens at `now`.
    pub fn verifies_at(&self, now: u64) -> bool {
        self.withdrawn_at.is_none() && self.retire_at.is_none_or(|retire| now < retire)
    }

    /// Whether it may sign at `now`: started, not replaced, not withdrawn.
    fn may_sign_at(&self, now: u64) -> bool {
        self.withdrawn_at.is_none()
            && self.signs_from <= now
            && self.stops_signing_at.is_none_or(|stop| now < stop)
    }

    /// Whether it waits to sign after `now`, nothing having replaced it yet.
    pub fn waits_at(&self, now: u64) -> bool {
        self.withdrawn_at.is_none() && self.stops_signing_at.is_none() && now < self.signs_from
    }

    /// Since when it signs: keys added before rotation sign from when they were added.
    pub fn signs_since(&self) -> u64 {
        self.signs_from.max(self.created_at)
    }

    /// Its phase at `now`, `signer` being the kid that signs for the algorithm asked.
    pub fn phase_at(&self, now: u64, signer: Option<&str>) -> KeyPhase {
        if self.withdrawn_at.is_some() {
            KeyPhase::Withdrawn
        } else if !self.verifies_at(now) {
            KeyPhase::Retired
        } else if signer == Some(self.kid.as_str()) {
            KeyPhase::Signing
        } else if self.stops_signing_at.is_some_and(|stop| stop <= now) {
            KeyPhase::Retiring
        } else if self.waits_at(now) {
            KeyPhase::Next
        } else {
            KeyPhase::Published
        }
    }
}

/// The key that signs tokens of `alg` at `now`: of those that may sign, the one that
/// started last, the first added among equals (keys added before rotation all start
/// at 0, and the first of them signed).
pub fn signer<'a>(
    keys: impl IntoIterator<Item = &'a SigningKeyRecord>,
    alg: &str,
    now: u64,
) -> Option<&'a SigningKeyRecord> {
    keys.into_iter()
        .filter(|k| k.alg == alg && k.may_sign_at(now))
        .max_by(|a, b| a.signs_from.cmp(&b.signs_from).then(b.order.cmp(&a.order)))
}

/// The next time after `now` at which some key changes phase: when a node must look
/// at its keys again even if nothing was written.
pub fn next_change<'a>(
    keys: impl IntoIterator<Item = &'a SigningKeyRecord>,
    now: u64,
) -> Option<u64> {
    keys.into_iter()
        .filter(|k| k.withdrawn_at.is_none())
        .flat_map(|k| [Some(k.signs_from), k.stops_signing_at, k.retire_at])
        .flatten()
        .filter(|&at| at > now)
        .min()
}

/// Whether the next key of `alg` is due at `now`: there is no signing key at all, or
/// the signing key has signed for `rotation_interval - publish_ahead` and no key is
/// waiting to take over.
pub fn rotation_due<'a, I>(
    keys: I,
    alg: &str,
    now: u64,
    rotation_interval: u64,
    publish_ahead: u64,
) -> bool
where
    I: IntoIterator<Item = &'a SigningKeyRecord>,
    I::IntoIter: Clone,
{
    let keys = keys.into_iter();
    let Some(signing) = signer(keys.clone(), alg, now) else {
        return true;
    };
    let waiting = keys.clone().any(|k| k.alg == alg && k.waits_at(now));
    let age = now.saturating_sub(signing.signs_since());
    !waiting && age >= rotation_interval.saturating_sub(publish_ahead)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, order: u64, signs_from: u64) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            alg: "ES256".into(),
            sealed: vec![],
            created_at: signs_from.saturating_sub(10),
            order,
            signs_from,
            stops_signing_at: None,
            retire_at: None,
            withdrawn_at: None,
        }
    }

    #[test]
    fn a_key_goes_from_next_to_signing_to_retiring_to_retired() {
        let mut old = key("old", 0, 100);
        old.stops_signing_at = Some(200);
        old.retire_at = Some(300);
        let new = key("new", 1, 200);
        let keys = [old.clone(), new.clone()];
        let phases = |now| {
            let signer = signer(&keys, "ES256", now).map(|k| k.kid.as_str());
            (old.phase_at(now, signer), new.phase_at(now, signer))
        };
        assert_eq!(phases(150), (KeyPhase::Signing, KeyPhase::Next));
        assert_eq!(phases(200), (KeyPhase::Retiring, KeyPhase::Signing));
        assert_eq!(phases(299), (KeyPhase::Retiring, KeyPhase::Signing));
        assert_eq!(phases(300), (KeyPhase::Retired, KeyPhase::Signing));
        assert!(old.verifies_at(299) && !old.verifies_at(300));
        assert_eq!(next_change(&keys, 150), Some(200));
        assert_eq!(next_change(&keys, 200), Some(300));
        assert_eq!(next_change(&keys, 300), None);
        assert!(signer(&keys, "RS256", 250).is_none());
    }

    #[test]
    fn keys_added_before_rotation_keep_the_first_one_signing() {
        let keys = [key("first", 0, 0), key("second", 1, 0)];
        assert_eq!(signer(&keys, "ES256", 5).unwrap().kid, "first");
        let mut withdrawn = keys.clone();
        withdrawn[0].withdrawn_at = Some(3);
        assert_eq!(signer(&withdrawn, "ES256", 5).unwrap().kid, "second");
        assert_eq!(
            withdrawn[0].phase_at(5, Some("second")),
            KeyPhase::Withdrawn
        );
        assert!(!withdrawn[0].verifies_at(5));
    }

    #[test]
    fn rotation_is_due_ahead_of_the_interval_unless_a_key_waits() {
        let keys = [key("k", 0, 1000)];
        // Interval 100, published 20 ahead: due once the key has signed for 80.
        assert!(!rotation_due(&keys, "ES256", 1079, 100, 20));
        assert!(rotation_due(&keys, "ES256", 1080, 100, 20));
        let waiting = [key("k", 0, 1000), key("next", 1, 1100)];
        assert!(!rotation_due(&waiting, "ES256", 1080, 100, 20));
        assert!(rotation_due(&[], "ES256", 0, 100, 20), "no key at all");
    }
}
