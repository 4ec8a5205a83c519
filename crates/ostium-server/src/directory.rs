//! [`Directory`]: who and what a node knows — clients, scopes and resources — the
//! part of the configuration that a reload changes while the node serves, with the
//! users (whose stores are swapped beside it). Each
//! request reads one directory from start to finish, so that a reload never shows it
//! half of one configuration and half of another.
//!
//! Every node of a cluster must know the same directory (a client refused at one
//! node and served at the next is a bug a user cannot diagnose), so each directory
//! has a [`Directory::fingerprint`], shown by `/readyz` and `cluster status`.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::Arc;

use actix_web::web::Bytes;
use ostium_grants::GrantRegistry;
use ostium_protocol::{Client, ResourceCatalog, SecretDigest};
use ostium_state::TokenDigest;

use crate::config::Config;
use crate::routes;

pub(crate) struct Directory {
    pub clients: HashMap<String, Arc<Client>>,
    /// API resources that may introspect, by name, with their secrets.
    pub api_resources: HashMap<String, Vec<SecretDigest>>,
    pub catalog: Arc<ResourceCatalog>,
    /// Every client's `allowed_cors_origins`: the origins whose scripts may call
    /// the CORS endpoints (`cors.rs`).
    pub cors_origins: HashSet<String>,
    /// `/.well-known/openid-configuration` (it lists the scopes).
    pub openid_configuration: Bytes,
    /// `/.well-known/oauth-authorization-server` (RFC 8414).
    pub authorization_server_metadata: Bytes,
    pub fingerprint: String,
}

impl Directory {
    /// The directory of `config`, whose discovery documents name `issuer`.
    pub fn new(config: &Config, issuer: &str, grants: &GrantRegistry) -> Self {
        let (openid_configuration, authorization_server_metadata) =
            routes::metadata_documents(issuer, &config.catalog, grants, config.signing_algorithm);
        Self {
            clients: config
                .clients
                .iter()
                .map(|c| (c.client_id.clone(), Arc::new(c.clone())))
                .collect(),
            api_resources: config
                .api_resources
                .iter()
                .filter(|r| !r.api_secrets.is_empty())
                .map(|r| (r.name.clone(), r.api_secrets.clone()))
                .collect(),
            catalog: Arc::new(config.catalog.clone()),
            cors_origins: config
                .clients
                .iter()
                .flat_map(|c| c.allowed_cors_origins.iter().cloned())
                .collect(),
            openid_configuration,
            authorization_server_metadata,
            fingerprint: fingerprint(config),
        }
    }

    /// The clients `self` knows that `next` does not.
    pub fn clients_gone_from(&self, next: &Self) -> Vec<String> {
        let mut gone: Vec<String> = self
            .clients
            .keys()
            .filter(|id| !next.clients.contains_key(*id))
            .cloned()
            .collect();
        gone.sort();
        gone
    }
}

impl Config {
    /// The fingerprint of the client configuration (clients, scopes, resources,
    /// users) a node serves from this file, as `/readyz` and `cluster status` name it.
    pub fn fingerprint(&self) -> String {
        fingerprint(self)
    }
}

/// 16 hex digits of a SHA-256 over everything the directory is made of, each list in
/// a fixed order, so that the order of entries in the file does not matter but
/// every setting, secret digest and password hash does.
fn fingerprint(config: &Config) -> String {
    let mut canonical = String::new();
    let mut clients: Vec<&Client> = config.clients.iter().collect();
    clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    for client in clients {
        // A secret's Debug form is redacted; its digest is what changes with it.
        let _ = write!(canonical, "client {client:?}");
        for secret in &client.secrets {
            let _ = write!(canonical, " {secret}");
        }
        canonical.push('\n');
    }
    // Both sets are sorted already; `all_scopes` lists identity resources first.
    let catalog = &config.catalog;
    let (identity, api): (Vec<&str>, Vec<&str>) = catalog
        .all_scopes()
        .partition(|scope| catalog.is_identity_resource(scope));
    let _ = writeln!(canonical, "identity {identity:?}\napi {api:?}");
    let mut resources: Vec<_> = config.api_resources.iter().collect();
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    for resource in resources {
        let mut scopes = resource.scopes.clone();
        scopes.sort_unstable();
        let _ = write!(canonical, "resource {} {scopes:?}", resource.name);
        for secret in &resource.api_secrets {
            let _ = write!(canonical, " {secret}");
        }
        canonical.push('\n');
    }
    let mut users: Vec<_> = config.users.iter().collect();
    users.sort_by(|a, b| {
        (&a.user.subject, &a.user.username).cmp(&(&b.user.subject, &b.user.username))
    });
    for user in users {
        let _ = writeln!(canonical, "user {:?}", user.user);
    }
    let mut hex = TokenDigest::of_handle(&canonical).to_hex();
    hex.truncate(16);
    hex
}

#[cfg(test)]
mod tests {
    use ostium_grants::GrantRegistry;

    use super::*;
    use crate::config::SecretPolicy;

    const FILE: &str = r#"
[server]
issuer = "https://id.example.com"
listen = "127.0.0.1:0"
data_dir = "/nonexistent"

[[api_scopes]]
name = "orders.read"

[[clients]]
client_id = "machine"
client_secrets = ["sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"]
allowed_grant_types = ["client_credentials"]
allowed_scopes = ["orders.read"]

[[clients]]
client_id = "other"
client_secrets = ["sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"]
allowed_grant_types = ["client_credentials"]
allowed_scopes = ["orders.read"]
"#;

    fn directory(text: &str) -> Directory {
        let config = Config::parse(text, "test.toml", SecretPolicy::DigestsOnly).unwrap();
        Directory::new(&config, "https://id.example.com", &GrantRegistry::new())
    }

    #[test]
    fn the_fingerprint_follows_the_content_not_the_order() {
        let base = directory(FILE).fingerprint;
        let (head, clients) = FILE.split_once("[[clients]]").unwrap();
        let (first, second) = clients.split_once("[[clients]]").unwrap();
        let swapped = format!("{head}[[clients]]{second}[[clients]]{first}");
        assert_eq!(directory(&swapped).fingerprint, base);
        let secret = FILE.replacen("2bb80d", "2bb80e", 1);
        assert_ne!(directory(&secret).fingerprint, base, "a secret changed");
        let lifetime = format!("{FILE}access_token_lifetime = 60\n");
        assert_ne!(directory(&lifetime).fingerprint, base, "a setting changed");
        let scope = FILE.replace(
            "name = \"orders.read\"",
            "name = \"orders.read\"\n[[api_scopes]]\nname = \"orders.write\"",
        );
        assert_ne!(directory(&scope).fingerprint, base, "a scope was added");

        let scopes = "[[api_scopes]]\nname = \"orders.write\"\n";
        let a =
            "[[api_resources]]\nname = \"urn:a\"\nscopes = [\"orders.read\", \"orders.write\"]\n";
        let b = "[[api_resources]]\nname = \"urn:b\"\nscopes = [\"orders.read\"]\n";
        let a_swapped = a.replace(
            "\"orders.read\", \"orders.write\"",
            "\"orders.write\", \"orders.read\"",
        );
        let (head, rest) = FILE.split_once("[[clients]]").unwrap();
        let with =
            |resources: &str| directory(&format!("{head}{scopes}{resources}[[clients]]{rest}"));
        assert_eq!(
            with(&format!("{a}{b}")).fingerprint,
            with(&format!("{b}{a_swapped}")).fingerprint,
            "resources and their scopes in another order"
        );
    }

    #[test]
    fn a_reload_knows_which_clients_went() {
        let before = directory(FILE);
        let (kept, _) = FILE.rsplit_once("[[clients]]").unwrap();
        let after = directory(kept);
        assert_eq!(before.clients_gone_from(&after), ["other"]);
        assert!(after.clients_gone_from(&before).is_empty());
    }
}
