//! Reloading the configuration while the node serves (`SIGHUP`, `ostium reload`).
//!
//! The caller has already read and checked the whole file ([`Config::load`]); what
//! is left to fail (a user's password hash) is tried before anything changes. Then
//! the users and the [`Directory`] (clients, scopes, resources) are swapped: a
//! request that started before keeps the directory it read, every later one sees
//! the new. Settings read only at start (listeners, data directory, cluster, cache,
//! signing, login limits) are reported as needing a restart, not applied.
//!
//! A client or user the new file no longer lists can get no new token from this
//! node; its refresh tokens are also revoked across the cluster, as `ostium tokens
//! revoke` would, so that the access tokens already issued from them stop being
//! active at every node. Every node that reloads asks for the same revocation; a
//! family revoked twice stays revoked from the first time.

use std::sync::Arc;

use ostium_grants::password_validator::UserError;
use ostium_grants::{Argon2PasswordValidator, ConfiguredUsers, GrantContext, User};

use crate::config::Config;
use crate::directory::Directory;
use crate::state::{Shared, prepare_metrics};

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The fingerprint of the client configuration now served.
    pub fingerprint: String,
    /// Settings that differ from the running ones but take effect only at start.
    pub needs_restart: Vec<&'static str>,
    pub clients_removed: Vec<String>,
    pub users_removed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("users")]
    Users(#[source] UserError),
}

/// The built-in user stores a reload replaces the users of: whichever of them the
/// node uses (an embedding server may have plugged in its own).
pub(crate) struct ConfiguredUserStores {
    pub validator: Arc<Argon2PasswordValidator>,
    pub users: Arc<ConfiguredUsers>,
}

/// Swaps in the directory and users of `next`, which `running` (the configuration
/// the node started with) is compared against for what needs a restart.
pub(crate) fn reload(
    running: &Config,
    next: &Config,
    shared: &Shared,
    stores: &ConfiguredUserStores,
) -> Result<Reloaded, ReloadError> {
    let users: Vec<User> = next.users.iter().map(|u| u.user.clone()).collect();
    // The only check `Config::load` leaves: if it fails, nothing has changed yet.
    stores
        .validator
        .replace_users(&users)
        .map_err(ReloadError::Users)?;
    let users_removed = stores.users.replace(&users);
    // The issuer is the running one: tokens carry it until a restart.
    let directory = Directory::new(next, &shared.issuer, &shared.grants);
    let context = &shared.grant_context;
    prepare_metrics(&context.metrics, &shared.grants, &next.clients);
    context.store.report_configuration(&directory.fingerprint);
    let previous = shared.directory.swap(Arc::new(directory));
    let current = shared.directory.load();
    let reloaded = Reloaded {
        fingerprint: current.fingerprint.clone(),
        needs_restart: needs_restart(running, next),
        clients_removed: previous.clients_gone_from(&current),
        users_removed,
    };
    revoke_removed(context.clone(), &reloaded);
    Ok(reloaded)
}

/// The sections of `next` that differ from `running` and are read only at start.
fn needs_restart(running: &Config, next: &Config) -> Vec<&'static str> {
    [
        ("[server]", running.server != next.server),
        (
            "[signing]",
            running.signing_algorithm != next.signing_algorithm,
        ),
        ("[cluster]", running.cluster != next.cluster),
        ("[cache]", running.cache != next.cache),
        ("[login]", running.login != next.login),
    ]
    .into_iter()
    .filter_map(|(section, differs)| differs.then_some(section))
    .collect()
}

/// Revokes, in the background, the refresh tokens of what `reloaded` removed. A
/// revocation that fails (no quorum now) is logged with the command that retries it.
fn revoke_removed(context: Arc<GrantContext>, reloaded: &Reloaded) {
    let (clients, users) = (
        reloaded.clients_removed.clone(),
        reloaded.users_removed.clone(),
    );
    if clients.is_empty() && users.is_empty() {
        return;
    }
    actix_web::rt::spawn(async move {
        let refresh = context.store.refresh();
        let at = context.clock.now();
        for client in &clients {
            match refresh.revoke_client(client, at).await {
                Ok(families) => {
                    tracing::info!(client_id = ?client, families, "revoked the refresh tokens of a client the configuration no longer lists")
                }
                Err(e) => {
                    tracing::error!(client_id = ?client, error = %ostium_protocol::Causes(&e), "could not revoke the refresh tokens of a removed client; run `ostium tokens revoke --client` once the cluster can write")
                }
            }
        }
        for subject in &users {
            match refresh.revoke_subject(subject, at).await {
                Ok(families) => {
                    tracing::info!(subject = ?subject, families, "revoked the refresh tokens of a user the configuration no longer lists")
                }
                Err(e) => {
                    tracing::error!(subject = ?subject, error = %ostium_protocol::Causes(&e), "could not revoke the refresh tokens of a removed user; run `ostium tokens revoke --subject` once the cluster can write")
                }
            }
        }
    });
}
