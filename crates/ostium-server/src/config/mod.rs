//! The configuration file (TOML): reading it, and the order in which its sections
//! are checked before serving.
//!
//! Field names follow IdentityServer's client model in snake_case. Unknown fields
//! are errors, so a typo never silently falls back to a default. Every error names
//! the file, the entry (client, resource or user) and the field, so that an
//! operator can fix it without reading our source. Each section has its own module,
//! with its shape as serde reads it and what its values must mean.

mod clients;
mod cluster;
mod login;
mod resources;
mod secret_files;
mod server;
mod state;
mod users;

use std::collections::HashSet;
use std::path::Path;

use ostium_protocol::{Client, ResourceCatalog, SecretDigest};
use ostium_tokens::SigningAlgorithm;
use serde::Deserialize;

pub use cluster::{ClusterSettings, NodeRole, RaftTiming};
pub use login::SessionSettings;
pub use resources::ApiResourceSettings;
pub use server::{KeyRotation, ServerSettings, TlsFiles};
pub use state::StateSettings;
pub use users::UserSettings;

/// A configuration error, naming where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

/// A validated configuration, ready to serve.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    pub signing_algorithm: SigningAlgorithm,
    /// `[signing]`: when keys rotate and retire.
    pub key_rotation: KeyRotation,
    pub clients: Vec<Client>,
    pub catalog: ResourceCatalog,
    pub api_resources: Vec<ApiResourceSettings>,
    pub users: Vec<UserSettings>,
    /// `None`: a single node, a cluster of one.
    pub cluster: Option<ClusterSettings>,
    /// `[cache]`: the Redis hot cache shared by the cluster's nodes.
    pub cache: Option<ostium_state::CacheConfig>,
    /// `[login]`: brute-force protection for password logins.
    pub login: ostium_grants::LoginLimits,
    /// `[login]`: how long the browser's login session lasts.
    pub session: SessionSettings,
    /// `[state]`: the memory the replicated state's records may take.
    pub state: StateSettings,
    /// Things worth an operator's attention that do not stop the server.
    pub warnings: Vec<String>,
}

/// How strict to be about secrets given in plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretPolicy {
    /// Only `sha256:<hex>` digests.
    DigestsOnly,
    /// Plain-text secrets are accepted with a warning (`--dev`).
    AllowPlainText,
}

/// The whole file, exactly as serde reads it. Every struct of the shape refuses
/// unknown fields, so a misspelt field is an error rather than a silently applied
/// default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    server: server::ServerSection,
    #[serde(default)]
    signing: server::SigningSection,
    #[serde(default)]
    api_scopes: Vec<resources::ApiScopeSection>,
    #[serde(default)]
    api_resources: Vec<resources::ApiResourceSection>,
    #[serde(default)]
    identity_resources: Vec<resources::IdentityResourceSection>,
    #[serde(default)]
    clients: Vec<clients::ClientSection>,
    #[serde(default)]
    users: Vec<users::UserSection>,
    cluster: Option<cluster::ClusterSection>,
    cache: Option<cluster::CacheSection>,
    #[serde(default)]
    login: login::LoginSection,
    #[serde(default)]
    state: state::StateSection,
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path, secrets: SecretPolicy) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: name.clone(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &name, secrets)
    }

    /// Parses and checks configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &str, secrets: SecretPolicy) -> Result<Self, ConfigError> {
        let error = |message: String| ConfigError {
            file: file.to_owned(),
            message,
        };
        let parsed: File = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        let mut checker = Checker {
            secrets,
            warnings: Vec::new(),
        };
        checker.check(parsed).map_err(error)
    }
}

/// What the sections' checks share: the secret policy, and the warnings gathered.
struct Checker {
    secrets: SecretPolicy,
    warnings: Vec<String>,
}

impl Checker {
    /// Sections that others refer to come first: clients name resources' scopes, and
    /// the cluster's Raft address must differ from the server's.
    fn check(&mut self, file: File) -> Result<Config, String> {
        let server = server::check(file.server)?;
        let (catalog, api_resources) = self.check_resources(
            &file.api_scopes,
            &file.api_resources,
            &file.identity_resources,
        )?;
        let clients = self.check_clients(file.clients, &catalog)?;
        let users = users::check(file.users)?;
        let (cluster, cache) = cluster::check(file.cluster, file.cache, server.listen)?;
        if let Some(ClusterSettings {
            role: NodeRole::Core { raft_listen },
            ..
        }) = &cluster
            && server.management_listen == Some(*raft_listen)
        {
            return Err(
                "[server] management_listen: must differ from [cluster] raft_listen".into(),
            );
        }
        let key_rotation = file.signing.rotation()?;
        let session = login::check_session(&file.login)?;
        let login = login::check(file.login)?;
        let state = state::check(file.state)?;
        Ok(Config {
            server,
            signing_algorithm: file.signing.algorithm,
            key_rotation,
            clients,
            catalog,
            api_resources,
            users,
            cluster,
            cache,
            login,
            session,
            state,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    /// Parses secrets: `sha256:<hex>` digests, or plain text where the policy allows.
    fn secrets(&mut self, owner: &str, values: &[String]) -> Result<Vec<SecretDigest>, String> {
        values
            .iter()
            .map(|value| match SecretDigest::parse(value) {
                Ok(digest) => Ok(digest),
                Err(_) if self.secrets == SecretPolicy::AllowPlainText && !value.is_empty() => {
                    self.warnings.push(format!(
                        "{owner}: a secret is given in plain text; outside development store \
                         the sha256: form printed by `ostium hash-secret`"
                    ));
                    Ok(SecretDigest::of(value))
                }
                // Plain text, as a first try usually has it: say where it is allowed.
                Err(e) if !value.starts_with("sha256:") => Err(format!(
                    "{e}; a plain-text secret is accepted only in development \
                     (`serve --dev`, `check-config --dev`)"
                )),
                Err(e) => Err(e.to_string()),
            })
            .collect()
    }
}

/// Checks that each name in `names` is unique, naming the kind of entry otherwise.
fn unique<'a>(kind: &str, names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = HashSet::new();
    for name in names {
        if name.is_empty() {
            return Err(format!("{kind}: name must not be empty"));
        }
        if !seen.insert(name) {
            return Err(format!("{kind} `{name}` is defined more than once"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small valid file, without clients, that each section's tests vary.
    pub(super) const BASE: &str = r#"
[server]
issuer = "https://id.example.com"
listen = "0.0.0.0:8080"
data_dir = "/var/lib/ostium"

[[api_scopes]]
name = "orders.read"

[[api_resources]]
name = "urn:orders"
scopes = ["orders.read"]
api_secrets = ["sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]

[[identity_resources]]
name = "openid"
"#;

    pub(super) const SECRET: &str =
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    /// `BASE` with one confidential client, `billing-worker`.
    pub(super) fn with_client(grant_types: &str) -> String {
        format!(
            "{BASE}\n[[clients]]\nclient_id = \"billing-worker\"\nclient_secrets = [\"{SECRET}\"]\n\
             allowed_grant_types = {grant_types}\nallowed_scopes = [\"orders.read\"]\n\
             redirect_uris = [\"https://app.example.com/callback\"]\n"
        )
    }

    pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "ostium.toml", SecretPolicy::DigestsOnly)
    }

    #[test]
    fn the_documented_example_loads() {
        let config = parse(&with_client("\"client_credentials\"")).unwrap();
        assert_eq!(config.server.issuer, "https://id.example.com");
        assert_eq!(config.clients[0].client_id, "billing-worker");
        assert_eq!(config.signing_algorithm, SigningAlgorithm::ES256);
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn keys_rotate_every_90_days_unless_configured_otherwise() {
        let config = parse(&with_client("\"client_credentials\"")).unwrap();
        let day = 24 * 60 * 60;
        assert_eq!(
            config.key_rotation,
            KeyRotation {
                rotation_interval: 90 * day,
                publish_ahead: 2 * day,
                retire_after: 14 * day,
            }
        );
        let with = |signing: &str| {
            parse(&format!(
                "{}\n[signing]\n{signing}\n",
                with_client("\"client_credentials\"")
            ))
        };
        let short = with("rotation_interval = 6\npublish_ahead = 2\nretire_after = 3").unwrap();
        assert_eq!(short.key_rotation.rotation_interval, 6);
        let err = with("rotation_interval = 6\npublish_ahead = 6")
            .unwrap_err()
            .to_string();
        assert!(err.contains("publish_ahead"), "{err}");
        let err = with("retire_after = 0").unwrap_err().to_string();
        assert!(err.contains("retire_after"), "{err}");
    }

    #[test]
    fn unknown_fields_are_errors() {
        let text = with_client("\"client_credentials\"").replace("allowed_scopes", "allowed_scope");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("unknown field `allowed_scope`"), "{err}");
    }

    #[test]
    fn plain_text_secrets_only_in_development() {
        let text = with_client("\"client_credentials\"").replace(
            &format!("client_secrets = [\"{SECRET}\"]"),
            "client_secrets = [\"not-a-digest\"]",
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("client `billing-worker`: client_secrets: expected `sha256:`"),
            "{err}"
        );
        assert!(
            err.contains("`serve --dev`"),
            "says where plain text goes: {err}"
        );
        let malformed = text.replace("not-a-digest", "sha256:abc");
        let err = parse(&malformed).unwrap_err().to_string();
        assert!(
            !err.contains("--dev"),
            "a malformed digest is not plain text: {err}"
        );
        let config = Config::parse(&text, "dev", SecretPolicy::AllowPlainText).unwrap();
        assert!(config.clients[0].secrets[0].matches("not-a-digest"));
        assert!(
            config.warnings[0].contains("client `billing-worker`"),
            "{:?}",
            config.warnings
        );
    }
}
