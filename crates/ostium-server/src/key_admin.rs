//! `ostium keys …`: an operator lists, rotates and withdraws the cluster's signing
//! keys (docs/operations.md, rotating and withdrawing keys), through the nodes a
//! configuration file names, as `ostium cluster` does. New keys are generated and
//! sealed here, with the cluster secret the file names, and proposed to the leader.

use ostium_grants::{Clock, SystemClock};
use ostium_state::key_lifecycle::{self, KeyPhase};
use ostium_state::token_store::signing_keys::{Addition, addition_command, withdrawal_command};
use serde::Serialize;

use crate::cluster_admin::{Admin, AdminError};
use crate::config::Config;
use crate::signing_keys::new_key;

/// One key as `ostium keys list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: KeyPhase,
    pub created_at: u64,
    /// When it signs (or signed) from; keys added before rotation: when added.
    pub signs_from: u64,
    pub stops_signing_at: Option<u64>,
    pub retire_at: Option<u64>,
    pub withdrawn_at: Option<u64>,
}

/// What `ostium keys withdraw` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdrawn {
    Withdrawn { kid: String },
    NoSuchKey { kid: String },
}

pub struct KeyAdmin<'a> {
    admin: Admin,
    config: &'a Config,
}

impl<'a> KeyAdmin<'a> {
    pub fn for_config(config: &'a Config) -> Result<Self, AdminError> {
        Ok(Self {
            admin: Admin::for_config(config)?,
            config,
        })
    }

    /// Every key, in the order they were added, with its state now for the
    /// configured algorithm.
    pub async fn list(&self) -> Result<Vec<KeyRow>, AdminError> {
        let records = self.admin.signing_keys().await?;
        let now = SystemClock.now();
        let alg = self.config.signing_algorithm.name();
        let signer = key_lifecycle::signer(&records, alg, now).map(|k| k.kid.clone());
        Ok(records
            .iter()
            .map(|r| KeyRow {
                kid: r.kid.clone(),
                alg: r.alg.clone(),
                state: r.phase_at(now, signer.as_deref()),
                created_at: r.created_at,
                signs_from: r.signs_since(),
                stops_signing_at: r.stops_signing_at,
                retire_at: r.retire_at,
                withdrawn_at: r.withdrawn_at,
            })
            .collect())
    }

    /// Adds the next key: published at once, signing after `[signing] publish_ahead`,
    /// or at once with `now`. Returns its kid.
    pub async fn rotate(&self, now: bool) -> Result<String, AdminError> {
        let rotation = &self.config.key_rotation;
        let delay = if now { 0 } else { rotation.publish_ahead };
        let key = new_key(
            &self.admin.sealer,
            self.config.signing_algorithm,
            rotation,
            SystemClock.now(),
            delay,
        )
        .map_err(|e| AdminError::Refused(e.to_string()))?;
        let kid = key.kid.clone();
        self.admin
            .propose_key_change(addition_command(key, Addition::Always))
            .await?;
        Ok(kid)
    }

    /// Withdraws `kid`. If it signs and no key waits to take over, a new key comes
    /// with the withdrawal and signs at once.
    pub async fn withdraw(&self, kid: &str) -> Result<Withdrawn, AdminError> {
        let at = SystemClock.now();
        let replacement = new_key(
            &self.admin.sealer,
            self.config.signing_algorithm,
            &self.config.key_rotation,
            at,
            0,
        )
        .map_err(|e| AdminError::Refused(e.to_string()))?;
        let known = self
            .admin
            .propose_key_change(withdrawal_command(kid, at, Some(replacement)))
            .await?;
        Ok(match known {
            true => Withdrawn::Withdrawn { kid: kid.into() },
            false => Withdrawn::NoSuchKey { kid: kid.into() },
        })
    }
}
