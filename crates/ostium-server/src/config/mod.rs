//! The configuration file (TOML): its shape, and the checks made before serving.
//!
//! Field names follow IdentityServer's client model in snake_case. Unknown fields
//! are errors, so a typo never silently falls back to a default. Every error names
//! the file, the entry (client, resource or user) and the field, so that an
//! operator can fix it without reading our source.

mod file;

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ostium_grants::User;
use ostium_protocol::grant_type::GrantType;
use ostium_protocol::scope::{ApiResource, OFFLINE_ACCESS};
use ostium_protocol::{
    AllowedGrantTypes, Client, RefreshTokenPolicy, ResourceCatalog, SecretDigest,
};
use ostium_tokens::SigningAlgorithm;

use file::{
    ApiResourceSection, ApiScopeSection, ClientSection, File, GrantTypesField,
    IdentityResourceSection, ServerSection, UserSection,
};

/// The longest access-token lifetime a client may be given: one day.
const MAX_ACCESS_TOKEN_LIFETIME: u32 = 86_400;

/// The longest window in which a rotated refresh token may be presented again.
const MAX_REFRESH_GRACE_PERIOD: u32 = 300;

/// Grant types this version serves at the token endpoint. Others may be configured
/// (so that a client definition can be written once) but are refused at run time.
const SERVED_GRANT_TYPES: &[GrantType] = &[
    GrantType::ClientCredentials,
    GrantType::Password,
    GrantType::RefreshToken,
];

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
    pub clients: Vec<Client>,
    pub catalog: ResourceCatalog,
    pub api_resources: Vec<ApiResourceSettings>,
    pub users: Vec<UserSettings>,
    /// `None`: a single node, a cluster of one.
    pub cluster: Option<ClusterSettings>,
    /// `[cache]`: the Redis hot cache shared by the cluster's nodes.
    pub cache: Option<ostium_state::CacheConfig>,
    /// Things worth an operator's attention that do not stop the server.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub issuer: String,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// HTTP worker threads; defaults to the number of CPUs this process may use.
    pub workers: Option<usize>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

/// `[cluster]`: this node's place in a cluster of core nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    pub node_id: u64,
    pub role: NodeRole,
    /// A file holding the secret every node of the cluster shares (at least 16
    /// bytes; surrounding whitespace is ignored).
    pub secret_file: PathBuf,
    /// Raft address of every core node, by id (a core node among them).
    pub peers: BTreeMap<u64, String>,
}

/// `[cluster] role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRole {
    /// A Raft member (voter or learner), listening for Raft traffic and the cluster
    /// API at `raft_listen`.
    Core { raft_listen: SocketAddr },
    /// No log and no vote: reads through the hot cache, asks and writes through the
    /// cores.
    Edge,
}

#[derive(Debug, Clone)]
pub struct ApiResourceSettings {
    pub name: String,
    pub scopes: Vec<String>,
    pub api_secrets: Vec<SecretDigest>,
}

#[derive(Debug, Clone)]
pub struct UserSettings {
    pub user: User,
    pub claims: BTreeMap<String, toml::Value>,
}

/// How strict to be about secrets given in plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretPolicy {
    /// Only `sha256:<hex>` digests.
    DigestsOnly,
    /// Plain-text secrets are accepted with a warning (`--dev`).
    AllowPlainText,
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

struct Checker {
    secrets: SecretPolicy,
    warnings: Vec<String>,
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

impl Checker {
    fn check(&mut self, file: File) -> Result<Config, String> {
        let server = check_server(file.server)?;
        let catalog = self.check_resources(
            &file.api_scopes,
            &file.api_resources,
            &file.identity_resources,
        )?;
        let api_resources = file
            .api_resources
            .iter()
            .map(|r| {
                Ok(ApiResourceSettings {
                    name: r.name.clone(),
                    scopes: r.scopes.clone(),
                    api_secrets: self
                        .secrets(&format!("api resource `{}`", r.name), &r.api_secrets)
                        .map_err(|e| format!("api resource `{}`: api_secrets: {e}", r.name))?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        unique("client", file.clients.iter().map(|c| c.client_id.as_str()))?;
        let clients = file
            .clients
            .into_iter()
            .map(|c| {
                let id = c.client_id.clone();
                self.check_client(c, &catalog)
                    .map_err(|e| format!("client `{id}`: {e}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let users = check_users(file.users)?;
        let cluster = file
            .cluster
            .map(|c| check_cluster(c, server.listen))
            .transpose()?;
        let cache = file.cache.map(check_cache).transpose()?;
        if cluster.as_ref().is_some_and(|c| c.role == NodeRole::Edge) && cache.is_none() {
            return Err(
                "[cluster] role: an `edge` node reads through the hot cache; \
                 configure [cache] redis_url"
                    .into(),
            );
        }
        Ok(Config {
            server,
            signing_algorithm: file.signing.algorithm,
            clients,
            catalog,
            api_resources,
            users,
            cluster,
            cache,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    fn check_resources(
        &self,
        api_scopes: &[ApiScopeSection],
        api_resources: &[ApiResourceSection],
        identity_resources: &[IdentityResourceSection],
    ) -> Result<ResourceCatalog, String> {
        unique("api scope", api_scopes.iter().map(|s| s.name.as_str()))?;
        unique(
            "api resource",
            api_resources.iter().map(|r| r.name.as_str()),
        )?;
        unique(
            "identity resource",
            identity_resources.iter().map(|r| r.name.as_str()),
        )?;
        let mut catalog = ResourceCatalog::new();
        for resource in identity_resources {
            check_scope_name("identity resource", &resource.name)?;
            catalog.add_identity_resource(&resource.name);
        }
        for scope in api_scopes {
            if scope.name == OFFLINE_ACCESS || catalog.is_identity_resource(&scope.name) {
                return Err(format!(
                    "api scope `{}`: name is already used by an identity scope",
                    scope.name
                ));
            }
            check_scope_name("api scope", &scope.name)?;
            catalog.add_api_scope(&scope.name);
        }
        for resource in api_resources {
            if let Some(unknown) = resource.scopes.iter().find(|s| !catalog.is_api_scope(s)) {
                return Err(format!(
                    "api resource `{}`: scopes: `{unknown}` is not a configured [[api_scopes]] name",
                    resource.name
                ));
            }
            catalog.add_api_resource(ApiResource {
                name: resource.name.clone(),
                scopes: resource.scopes.clone(),
            });
        }
        Ok(catalog)
    }

    fn check_client(
        &mut self,
        c: ClientSection,
        catalog: &ResourceCatalog,
    ) -> Result<Client, String> {
        let allowed_grant_types = match &c.allowed_grant_types {
            GrantTypesField::Preset(preset) => AllowedGrantTypes::preset(preset),
            GrantTypesField::List(list) => AllowedGrantTypes::list(list.iter().map(String::as_str)),
        }
        .map_err(|e| format!("allowed_grant_types: {e}"))?;
        for grant in allowed_grant_types.iter() {
            if !SERVED_GRANT_TYPES.contains(grant) {
                self.warnings.push(format!(
                    "client `{}`: grant type `{grant}` is not served by this version; \
                     requests using it are refused with unsupported_grant_type",
                    c.client_id
                ));
            }
        }
        let refresh_tokens = self.check_refresh_tokens(&c)?;
        let mut allowed_scopes = c.allowed_scopes.clone();
        for scope in &allowed_scopes {
            if scope == OFFLINE_ACCESS {
                if !c.allow_offline_access {
                    return Err(
                        "allowed_scopes: `offline_access` needs allow_offline_access = true".into(),
                    );
                }
            } else if !catalog.is_known(scope) {
                return Err(format!(
                    "allowed_scopes: `{scope}` is neither an [[api_scopes]] nor an \
                     [[identity_resources]] name"
                ));
            }
        }
        // As in IdentityServer, allow_offline_access is what lets a client ask for it.
        if c.allow_offline_access && !allowed_scopes.iter().any(|s| s == OFFLINE_ACCESS) {
            allowed_scopes.push(OFFLINE_ACCESS.to_owned());
        }
        let secrets = self
            .secrets(&format!("client `{}`", c.client_id), &c.client_secrets)
            .map_err(|e| format!("client_secrets: {e}"))?;
        if c.require_client_secret && secrets.is_empty() {
            return Err(
                "client_secrets: a confidential client needs at least one secret \
                        (or set require_client_secret = false for a public client)"
                    .into(),
            );
        }
        if !c.require_client_secret && !secrets.is_empty() {
            return Err(
                "client_secrets: a public client (require_client_secret = false) \
                        must not have secrets"
                    .into(),
            );
        }
        if c.access_token_lifetime == 0 || c.access_token_lifetime > MAX_ACCESS_TOKEN_LIFETIME {
            return Err(format!(
                "access_token_lifetime: must be between 1 and {MAX_ACCESS_TOKEN_LIFETIME} seconds"
            ));
        }
        Ok(Client {
            client_id: c.client_id,
            client_name: c.client_name,
            enabled: c.enabled,
            secrets,
            require_client_secret: c.require_client_secret,
            allowed_grant_types,
            allowed_scopes,
            access_token_lifetime: c.access_token_lifetime,
            access_token_type: c.access_token_type,
            refresh_tokens,
        })
    }

    /// The refresh-token fields; set without `allow_offline_access` they do nothing,
    /// which deserves a warning rather than silence.
    fn check_refresh_tokens(&mut self, c: &ClientSection) -> Result<RefreshTokenPolicy, String> {
        let defaults = RefreshTokenPolicy::default();
        let policy = RefreshTokenPolicy {
            allow_offline_access: c.allow_offline_access,
            usage: c.refresh_token_usage.unwrap_or(defaults.usage),
            expiration: c.refresh_token_expiration.unwrap_or(defaults.expiration),
            absolute_lifetime: c
                .absolute_refresh_token_lifetime
                .unwrap_or(defaults.absolute_lifetime),
            sliding_lifetime: c
                .sliding_refresh_token_lifetime
                .unwrap_or(defaults.sliding_lifetime),
            grace_period: c
                .refresh_token_grace_period
                .unwrap_or(defaults.grace_period),
        };
        let any_set = c.refresh_token_usage.is_some()
            || c.refresh_token_expiration.is_some()
            || c.absolute_refresh_token_lifetime.is_some()
            || c.sliding_refresh_token_lifetime.is_some()
            || c.refresh_token_grace_period.is_some();
        if any_set && !c.allow_offline_access {
            self.warnings.push(format!(
                "client `{}`: refresh-token settings have no effect without \
                 allow_offline_access = true",
                c.client_id
            ));
        }
        if policy.absolute_lifetime == 0 {
            return Err("absolute_refresh_token_lifetime: must be at least 1 second".into());
        }
        if policy.sliding_lifetime == 0 || policy.sliding_lifetime > policy.absolute_lifetime {
            return Err(
                "sliding_refresh_token_lifetime: must be between 1 second and \
                 absolute_refresh_token_lifetime"
                    .into(),
            );
        }
        if policy.grace_period > MAX_REFRESH_GRACE_PERIOD {
            return Err(format!(
                "refresh_token_grace_period: at most {MAX_REFRESH_GRACE_PERIOD} seconds; a longer \
                 window lets a stolen token be replayed unnoticed"
            ));
        }
        Ok(policy)
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
                Err(e) => Err(e.to_string()),
            })
            .collect()
    }
}

fn check_cluster(c: file::ClusterSection, listen: SocketAddr) -> Result<ClusterSettings, String> {
    if c.node_id == 0 {
        return Err("[cluster] node_id: must be at least 1".into());
    }
    let role = match (c.role.as_str(), c.raft_listen) {
        ("core", Some(raft_listen)) => {
            let raft_listen: SocketAddr = raft_listen.parse().map_err(|_| {
                format!(
                    "[cluster] raft_listen: `{raft_listen}` is not an address and port such as 0.0.0.0:9080"
                )
            })?;
            if raft_listen.port() == listen.port() && raft_listen.ip() == listen.ip() {
                return Err(
                    "[cluster] raft_listen: must differ from [server] listen; Raft traffic never \
                     shares the public port"
                        .into(),
                );
            }
            NodeRole::Core { raft_listen }
        }
        ("core", None) => {
            return Err(
                "[cluster] raft_listen: a `core` node needs the address it listens \
                        on for Raft traffic, such as 0.0.0.0:9080"
                    .into(),
            );
        }
        ("edge", None) => NodeRole::Edge,
        ("edge", Some(_)) => {
            return Err(
                "[cluster] raft_listen: an `edge` node holds no log and takes no \
                        Raft traffic; remove raft_listen"
                    .into(),
            );
        }
        (other, _) => {
            return Err(format!(
                "[cluster] role: `{other}` is not a role; use `core` or `edge`"
            ));
        }
    };
    let mut peers = BTreeMap::new();
    for (id, addr) in c.peers {
        let id: u64 =
            id.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
                format!("[cluster.peers]: `{id}` is not a node id (a number from 1)")
            })?;
        if addr
            .rsplit_once(':')
            .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            return Err(format!(
                "[cluster.peers] {id}: `{addr}` is not a host:port address"
            ));
        }
        peers.insert(id, addr);
    }
    match role {
        NodeRole::Core { .. } if !peers.contains_key(&c.node_id) => {
            return Err(format!(
                "[cluster.peers]: must list this node ({}) with the address other nodes reach it at",
                c.node_id
            ));
        }
        NodeRole::Edge if peers.contains_key(&c.node_id) => {
            return Err(format!(
                "[cluster.peers]: lists the core nodes; this edge node's id ({}) must not be among them",
                c.node_id
            ));
        }
        NodeRole::Edge if peers.is_empty() => {
            return Err("[cluster.peers]: an edge node needs the core nodes to ask".into());
        }
        _ => {}
    }
    if c.secret_file.as_os_str().is_empty() {
        return Err("[cluster] secret_file: must name the file holding the cluster secret".into());
    }
    Ok(ClusterSettings {
        node_id: c.node_id,
        role,
        secret_file: c.secret_file,
        peers,
    })
}

fn check_cache(c: file::CacheSection) -> Result<ostium_state::CacheConfig, String> {
    if !(c.redis_url.starts_with("redis://") || c.redis_url.starts_with("rediss://")) {
        // Not the URL itself: it may carry a password.
        return Err("[cache] redis_url: must be a redis:// or rediss:// URL".into());
    }
    let namespace_ok = !c.namespace.is_empty()
        && c.namespace.len() <= 64
        && c.namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !namespace_ok {
        return Err(format!(
            "[cache] namespace: `{}` must be 1 to 64 of A-Z a-z 0-9 - _ .",
            c.namespace
        ));
    }
    Ok(ostium_state::CacheConfig::new(c.redis_url, c.namespace))
}

/// A scope name must be a single RFC 6749 §3.3 scope token.
fn check_scope_name(kind: &str, name: &str) -> Result<(), String> {
    let single_token = ostium_protocol::ScopeSet::parse(name)
        .is_ok_and(|set| set.iter().eq(std::iter::once(name)));
    if single_token {
        Ok(())
    } else {
        Err(format!(
            "{kind} `{name}`: name must be one scope token (printable ASCII, no spaces, \
             quotes or backslashes)"
        ))
    }
}

fn check_server(s: ServerSection) -> Result<ServerSettings, String> {
    let issuer = check_issuer(&s.issuer).map_err(|e| format!("[server] issuer: {e}"))?;
    let listen = s.listen.parse().map_err(|_| {
        format!(
            "[server] listen: `{}` is not an address and port such as 0.0.0.0:8080",
            s.listen
        )
    })?;
    if s.workers == Some(0) {
        return Err("[server] workers: must be at least 1".into());
    }
    if !(1024..=1024 * 1024).contains(&s.max_body_bytes) {
        return Err("[server] max_body_bytes: must be between 1024 and 1048576".into());
    }
    Ok(ServerSettings {
        issuer,
        listen,
        data_dir: s.data_dir,
        workers: s.workers,
        max_body_bytes: s.max_body_bytes,
    })
}

/// OpenID Connect Discovery §3: an https URL with no query or fragment; plain http is
/// accepted only for loopback hosts, for development and tests.
fn check_issuer(issuer: &str) -> Result<String, String> {
    let rest = if let Some(rest) = issuer.strip_prefix("https://") {
        rest
    } else if let Some(rest) = issuer.strip_prefix("http://") {
        if !is_loopback(rest.split('/').next().unwrap_or_default()) {
            return Err("must use https (http is accepted only for loopback hosts)".into());
        }
        rest
    } else {
        return Err("must be an absolute https URL".into());
    };
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain a query, fragment or whitespace".into());
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err("has no host".into());
    }
    if authority.contains('@') {
        return Err("must not contain user information (`user@`)".into());
    }
    if !path.is_empty() {
        return Err("must not have a path: Ostium serves its endpoints at the root".into());
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}

/// Whether an URL authority (`host[:port]`) names this machine.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_users(users: Vec<UserSection>) -> Result<Vec<UserSettings>, String> {
    unique("user subject", users.iter().map(|u| u.subject.as_str()))?;
    unique("username", users.iter().map(|u| u.username.as_str()))?;
    let users: Vec<UserSettings> = users
        .into_iter()
        .map(|u| UserSettings {
            user: User {
                subject: u.subject,
                username: u.username,
                password_hash: u.password_hash,
            },
            claims: u.claims,
        })
        .collect();
    // Parses every hash now, so that a bad one stops the server at start.
    ostium_grants::Argon2PasswordValidator::new(
        &users.iter().map(|u| u.user.clone()).collect::<Vec<_>>(),
        1,
        0,
    )
    .map_err(|e| e.to_string())?;
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
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

    const SECRET: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn with_client(grant_types: &str) -> String {
        format!(
            "{BASE}\n[[clients]]\nclient_id = \"billing-worker\"\nclient_secrets = [\"{SECRET}\"]\n\
             allowed_grant_types = {grant_types}\nallowed_scopes = [\"orders.read\"]\n"
        )
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
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
    fn every_preset_loads() {
        for (preset, _) in ostium_protocol::grant_type::PRESETS {
            let config = parse(&with_client(&format!("\"{preset}\""))).unwrap();
            assert_eq!(config.clients.len(), 1, "{preset}");
        }
    }

    #[test]
    fn forbidden_combinations_name_file_client_and_rule() {
        for (list, rule) in [
            (
                r#"["implicit", "authorization_code"]"#,
                "`implicit` cannot be combined with `authorization_code`",
            ),
            (
                r#"["hybrid", "implicit"]"#,
                "`implicit` cannot be combined with `hybrid`",
            ),
            (
                r#"["authorization_code", "hybrid"]"#,
                "`authorization_code` cannot be combined with `hybrid`",
            ),
        ] {
            let err = parse(&with_client(list)).unwrap_err().to_string();
            assert!(
                err.starts_with("ostium.toml: client `billing-worker`: allowed_grant_types: "),
                "{err}"
            );
            assert!(err.contains(rule), "{err}");
        }
    }

    #[test]
    fn grant_types_not_served_yet_load_with_a_warning() {
        let config = parse(&with_client("\"hybrid_and_client_credentials\"")).unwrap();
        assert!(
            config.warnings.iter().any(|w| w.contains("`hybrid`")),
            "{:?}",
            config.warnings
        );
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
        let config = Config::parse(&text, "dev", SecretPolicy::AllowPlainText).unwrap();
        assert!(config.clients[0].secrets[0].matches("not-a-digest"));
        assert!(
            config.warnings[0].contains("client `billing-worker`"),
            "{:?}",
            config.warnings
        );
    }

    #[test]
    fn scopes_must_be_configured() {
        let text = with_client("\"client_credentials\"").replace(
            "allowed_scopes = [\"orders.read\"]",
            "allowed_scopes = [\"orders.write\"]",
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("client `billing-worker`: allowed_scopes: `orders.write`"),
            "{err}"
        );
        let text = BASE.replace("scopes = [\"orders.read\"]", "scopes = [\"nope\"]");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("api resource `urn:orders`: scopes: `nope`"),
            "{err}"
        );
    }

    #[test]
    fn confidential_clients_need_a_secret_and_public_ones_none() {
        let text = with_client("\"client_credentials\"").replace(
            &format!("client_secrets = [\"{SECRET}\"]"),
            "client_secrets = []",
        );
        assert!(
            parse(&text)
                .unwrap_err()
                .to_string()
                .contains("needs at least one secret")
        );
        let text = with_client("\"resource_owner_password\"").replace(
            "client_secrets",
            "require_client_secret = false\nclient_secrets",
        );
        assert!(
            parse(&text)
                .unwrap_err()
                .to_string()
                .contains("must not have secrets")
        );
    }

    #[test]
    fn server_section_is_checked() {
        for (from, to, expected) in [
            (
                "https://id.example.com",
                "http://id.example.com",
                "must use https",
            ),
            (
                "https://id.example.com",
                "https://id.example.com/?x=1",
                "must not contain a query",
            ),
            (
                "https://id.example.com",
                "id.example.com",
                "absolute https URL",
            ),
            ("0.0.0.0:8080", "0.0.0.0", "[server] listen"),
        ] {
            let err = parse(&BASE.replace(from, to)).unwrap_err().to_string();
            assert!(err.contains(expected), "{to}: {err}");
        }
        for loopback in [
            "http://127.0.0.1:8080",
            "http://localhost/",
            "http://[::1]:9000",
        ] {
            parse(&BASE.replace("https://id.example.com", loopback)).unwrap();
        }
    }

    #[test]
    fn duplicates_are_errors() {
        let text = format!(
            "{}{}",
            with_client("\"client_credentials\""),
            &with_client("\"client_credentials\"")[BASE.len()..]
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("client `billing-worker` is defined more than once"),
            "{err}"
        );
    }

    #[test]
    fn users_need_argon2_hashes() {
        let text = format!(
            "{BASE}\n[[users]]\nsubject = \"1\"\nusername = \"alice\"\npassword_hash = \"plain\"\n"
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("user `alice`: password_hash"), "{err}");
    }

    #[test]
    fn scope_names_are_single_tokens() {
        let text = format!("{BASE}\n[[identity_resources]]\nname = \"has space\"\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("identity resource `has space`"), "{err}");
        let err = parse(&BASE.replace("name = \"orders.read\"", "name = \"a\\\\b\"")).unwrap_err();
        assert!(err.to_string().contains("api scope"), "{err}");
    }

    #[test]
    fn grant_types_of_the_wrong_type_say_what_is_expected() {
        let err = parse(&with_client("5")).unwrap_err().to_string();
        assert!(err.contains("a preset name"), "{err}");
    }

    #[test]
    fn cluster_section_is_checked() {
        let cluster = |body: &str| parse(&format!("{BASE}\n[cluster]\n{body}"));
        let good = "node_id = 2\nraft_listen = \"0.0.0.0:9080\"\nsecret_file = \"/etc/ostium/secret\"\n\
                    [cluster.peers]\n1 = \"10.0.0.1:9080\"\n2 = \"10.0.0.2:9080\"\n3 = \"10.0.0.3:9080\"";
        let settings = cluster(good).unwrap().cluster.unwrap();
        assert_eq!(settings.node_id, 2);
        assert_eq!(settings.peers.len(), 3);
        assert_eq!(settings.peers[&1], "10.0.0.1:9080");
        for (from, to, expected) in [
            ("node_id = 2", "node_id = 4", "must list this node (4)"),
            (
                "node_id = 2",
                "node_id = 2\nrole = \"edge\"",
                "remove raft_listen",
            ),
            (
                "node_id = 2",
                "node_id = 2\nrole = \"witness\"",
                "`witness` is not a role",
            ),
            (
                "0.0.0.0:9080\"\nsecret",
                "0.0.0.0:8080\"\nsecret",
                "must differ from [server] listen",
            ),
            (
                "1 = \"10.0.0.1:9080\"",
                "one = \"10.0.0.1:9080\"",
                "`one` is not a node id",
            ),
            (
                "1 = \"10.0.0.1:9080\"",
                "1 = \"10.0.0.1\"",
                "not a host:port",
            ),
        ] {
            let err = cluster(&good.replace(from, to)).unwrap_err().to_string();
            assert!(err.contains(expected), "{to}: {err}");
        }
    }

    #[test]
    fn edge_nodes_list_the_cores_and_need_the_hot_cache() {
        let edge = "[cluster]\nnode_id = 10\nrole = \"edge\"\nsecret_file = \"/etc/ostium/secret\"\n\
                    [cluster.peers]\n1 = \"10.0.0.1:9080\"\n2 = \"10.0.0.2:9080\"\n";
        let cache = "[cache]\nredis_url = \"redis://10.0.0.9:6379/\"\nnamespace = \"prod\"\n";
        let config = parse(&format!("{BASE}\n{edge}{cache}")).unwrap();
        assert_eq!(config.cluster.unwrap().role, NodeRole::Edge);
        assert_eq!(config.cache.unwrap().cluster, "prod");
        for (text, expected) in [
            (format!("{BASE}\n{edge}"), "configure [cache] redis_url"),
            (
                format!(
                    "{BASE}\n{}{cache}",
                    edge.replace("node_id = 10", "node_id = 2")
                ),
                "must not be among them",
            ),
            (
                format!("{BASE}\n{edge}{}", cache.replace("redis://", "http://")),
                "must be a redis:// or rediss:// URL",
            ),
            (
                format!("{BASE}\n{edge}{}", cache.replace("prod", "a:b")),
                "[cache] namespace",
            ),
        ] {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn offline_access_comes_with_allow_offline_access() {
        let password = with_client("\"resource_owner_password\"");
        let text = password.replace(
            "allowed_scopes = [\"orders.read\"]",
            "allowed_scopes = [\"orders.read\", \"offline_access\"]",
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("needs allow_offline_access = true"), "{err}");
        let config = parse(&password.replace(
            "allowed_scopes",
            "allow_offline_access = true\nallowed_scopes",
        ))
        .unwrap();
        let client = &config.clients[0];
        assert!(client.allowed_scopes.iter().any(|s| s == "offline_access"));
        assert_eq!(
            client.refresh_tokens,
            RefreshTokenPolicy {
                allow_offline_access: true,
                ..RefreshTokenPolicy::default()
            }
        );
    }

    #[test]
    fn refresh_token_settings_are_read_and_checked() {
        let with = |fields: &str| {
            parse(&with_client("\"resource_owner_password\"").replace(
                "allowed_scopes",
                &format!("allow_offline_access = true\n{fields}\nallowed_scopes"),
            ))
        };
        let config = with(
            "refresh_token_usage = \"re_use\"\nrefresh_token_expiration = \"sliding\"\n\
             absolute_refresh_token_lifetime = 600\nsliding_refresh_token_lifetime = 60\n\
             refresh_token_grace_period = 0",
        )
        .unwrap();
        let policy = config.clients[0].refresh_tokens;
        assert_eq!(policy.usage, ostium_protocol::RefreshTokenUsage::ReUse);
        assert_eq!(
            policy.expiration,
            ostium_protocol::RefreshTokenExpiration::Sliding
        );
        assert_eq!(
            (
                policy.absolute_lifetime,
                policy.sliding_lifetime,
                policy.grace_period
            ),
            (600, 60, 0)
        );
        for (fields, expected) in [
            ("refresh_token_usage = \"twice\"", "unknown variant `twice`"),
            (
                "absolute_refresh_token_lifetime = 60\nsliding_refresh_token_lifetime = 600",
                "sliding_refresh_token_lifetime",
            ),
            (
                "refresh_token_grace_period = 3600",
                "refresh_token_grace_period",
            ),
        ] {
            let err = with(fields).unwrap_err().to_string();
            assert!(err.contains(expected), "{fields}: {err}");
        }
        let ignored = parse(&with_client("\"resource_owner_password\"").replace(
            "allowed_scopes",
            "refresh_token_usage = \"re_use\"\nallowed_scopes",
        ))
        .unwrap();
        assert!(
            ignored.warnings[0].contains("without allow_offline_access"),
            "{:?}",
            ignored.warnings
        );
    }

    #[test]
    fn access_token_types() {
        let text = with_client("\"client_credentials\"").replace(
            "allowed_scopes",
            "access_token_type = \"reference\"\nallowed_scopes",
        );
        assert_eq!(
            parse(&text).unwrap().clients[0].access_token_type,
            ostium_protocol::AccessTokenType::Reference
        );
        let text = with_client("\"client_credentials\"").replace(
            "allowed_scopes",
            "access_token_type = \"biscuit\"\nallowed_scopes",
        );
        assert!(
            parse(&text)
                .unwrap_err()
                .to_string()
                .contains("access_token_type")
        );
    }
}
