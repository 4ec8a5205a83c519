//! The configuration file's shape, exactly as serde reads it from TOML.
//!
//! Every struct refuses unknown fields, so a misspelt field is an error rather than a
//! silently applied default. Checking what the values mean is `mod.rs`'s job.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ostium_protocol::{AccessTokenType, RefreshTokenExpiration, RefreshTokenUsage};
use ostium_tokens::SigningAlgorithm;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) server: ServerSection,
    #[serde(default)]
    pub(super) signing: SigningSection,
    #[serde(default)]
    pub(super) api_scopes: Vec<ApiScopeSection>,
    #[serde(default)]
    pub(super) api_resources: Vec<ApiResourceSection>,
    #[serde(default)]
    pub(super) identity_resources: Vec<IdentityResourceSection>,
    #[serde(default)]
    pub(super) clients: Vec<ClientSection>,
    #[serde(default)]
    pub(super) users: Vec<UserSection>,
    pub(super) cluster: Option<ClusterSection>,
    pub(super) cache: Option<CacheSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CacheSection {
    pub(super) redis_url: String,
    /// Names the key namespace `ostium:{namespace}:` in Redis.
    #[serde(default = "default_namespace")]
    pub(super) namespace: String,
}

pub(super) fn default_namespace() -> String {
    "default".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterSection {
    pub(super) node_id: u64,
    #[serde(default = "core_role")]
    pub(super) role: String,
    pub(super) raft_listen: Option<String>,
    pub(super) secret_file: PathBuf,
    /// Raft address of every core node, by node id (TOML keys are strings).
    pub(super) peers: BTreeMap<String, String>,
}

pub(super) fn core_role() -> String {
    "core".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerSection {
    pub(super) issuer: String,
    pub(super) listen: String,
    pub(super) data_dir: PathBuf,
    pub(super) workers: Option<usize>,
    #[serde(default = "default_max_body_bytes")]
    pub(super) max_body_bytes: usize,
}

pub(super) fn default_max_body_bytes() -> usize {
    16 * 1024
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SigningSection {
    #[serde(default)]
    pub(super) algorithm: SigningAlgorithm,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiScopeSection {
    pub(super) name: String,
    #[allow(dead_code)]
    pub(super) display_name: Option<String>,
    #[allow(dead_code)]
    pub(super) description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiResourceSection {
    pub(super) name: String,
    #[allow(dead_code)]
    pub(super) display_name: Option<String>,
    #[serde(default)]
    pub(super) scopes: Vec<String>,
    #[serde(default)]
    pub(super) api_secrets: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IdentityResourceSection {
    pub(super) name: String,
    #[allow(dead_code)]
    pub(super) display_name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) user_claims: Vec<String>,
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a preset name such as \"client_credentials\" or a list of grant type names"
)]
pub(super) enum GrantTypesField {
    Preset(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientSection {
    pub(super) client_id: String,
    pub(super) client_name: Option<String>,
    #[serde(default = "yes")]
    pub(super) enabled: bool,
    #[serde(default)]
    pub(super) client_secrets: Vec<String>,
    #[serde(default = "yes")]
    pub(super) require_client_secret: bool,
    pub(super) allowed_grant_types: GrantTypesField,
    #[serde(default)]
    pub(super) allowed_scopes: Vec<String>,
    #[serde(default = "default_access_token_lifetime")]
    pub(super) access_token_lifetime: u32,
    #[serde(default)]
    pub(super) access_token_type: AccessTokenType,
    #[serde(default)]
    pub(super) allow_offline_access: bool,
    pub(super) refresh_token_usage: Option<RefreshTokenUsage>,
    pub(super) refresh_token_expiration: Option<RefreshTokenExpiration>,
    pub(super) absolute_refresh_token_lifetime: Option<u32>,
    pub(super) sliding_refresh_token_lifetime: Option<u32>,
    pub(super) refresh_token_grace_period: Option<u32>,
}

pub(super) fn yes() -> bool {
    true
}

pub(super) fn default_access_token_lifetime() -> u32 {
    3600
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserSection {
    pub(super) subject: String,
    pub(super) username: String,
    pub(super) password_hash: String,
    #[serde(default)]
    pub(super) claims: BTreeMap<String, toml::Value>,
}
