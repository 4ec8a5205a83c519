//! The standard single-node setup most end-to-end tests run against: one API, a
//! machine client, a first-party app using the password grant, a public client and
//! a user, with their secrets known to the test.

use crate::{Node, TestDir, free_port, password_hash};

pub const API_SCOPE: &str = "orders.read";
pub const OTHER_SCOPE: &str = "orders.write";
pub const AUDIENCE: &str = "urn:orders";
/// The secret the `urn:orders` API introspects with.
pub const RESOURCE_SECRET: &str = "orders-api-introspection-secret";
/// Another API, which must learn nothing about tokens meant for `urn:orders`.
pub const OTHER_RESOURCE: &str = "urn:billing";
pub const MACHINE_ID: &str = "billing-worker";
/// Characters that must be form-encoded inside Basic credentials (RFC 6749 §2.3.1).
pub const MACHINE_SECRET: &str = "s3cr:t+/ x%";
pub const APP_ID: &str = "first-party-app";
pub const APP_SECRET: &str = "app-secret-0123456789";
pub const PUBLIC_ID: &str = "cli-tool";
/// A first-party app allowed refresh tokens: one-time use, a 2-second grace period.
pub const OFFLINE_ID: &str = "offline-app";
pub const OFFLINE_SECRET: &str = "offline-secret-0123456789";
/// Like [`OFFLINE_ID`] but with no grace period at all.
pub const STRICT_ID: &str = "strict-app";
/// Refresh tokens that are used again and again (`re_use`), and reference access tokens.
pub const REUSE_ID: &str = "reuse-app";
pub const USERNAME: &str = "alice";
pub const PASSWORD: &str = "correct horse battery staple";
pub const SUBJECT: &str = "8f1c2a3b-alice";
pub const EMAIL: &str = "alice@example.com";

/// A public web client: authorization code with PKCE, consent asked for and
/// remembered, refresh tokens with `offline_access`.
pub const WEB_ID: &str = "web-shop";
/// A confidential client of the hybrid flow, allowed access tokens in the browser.
pub const HYBRID_ID: &str = "hybrid-portal";
pub const HYBRID_SECRET: &str = "hybrid-secret-0123456789";
/// An implicit client that may get ID tokens in the browser, but no access tokens.
pub const IMPLICIT_ID: &str = "legacy-spa";
/// Every browser client sends the browser back to a loopback URI; any port matches
/// (RFC 8252 §7.3), so a test's callback server takes whichever is free.
pub const CALLBACK: &str = "http://127.0.0.1/callback";
pub const SIGNED_OUT: &str = "http://127.0.0.1/signed-out";

/// The browser clients, as TOML to pass as `extra` to [`config`] (after the
/// standard user, whose claims they see).
pub fn browser_clients() -> String {
    static TOML: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOML.get_or_init(|| {
        format!(
            r#"
[[clients]]
client_id = "{WEB_ID}"
client_name = "Web Shop"
require_client_secret = false
allowed_grant_types = "code"
redirect_uris = ["{CALLBACK}"]
post_logout_redirect_uris = ["{SIGNED_OUT}"]
allowed_scopes = ["openid", "profile", "email", "{API_SCOPE}"]
allow_offline_access = true
require_consent = true
allowed_cors_origins = ["http://127.0.0.1:9"]

[[clients]]
client_id = "{HYBRID_ID}"
client_secrets = ["{hybrid}"]
allowed_grant_types = "hybrid"
allow_access_tokens_via_browser = true
require_pkce = false
redirect_uris = ["{CALLBACK}"]
allowed_scopes = ["openid", "profile", "email", "{API_SCOPE}"]

[[clients]]
client_id = "{IMPLICIT_ID}"
require_client_secret = false
allowed_grant_types = "implicit"
redirect_uris = ["{CALLBACK}"]
allowed_scopes = ["openid", "email", "{API_SCOPE}"]
"#,
            hybrid = digest(HYBRID_SECRET),
        )
    })
    .clone()
}

/// A running node with the standard clients, and its directory.
pub struct SingleNode {
    pub node: Node,
    pub issuer: String,
    pub dir: TestDir,
}

/// The `sha256:` digest of `secret`, made by `ostium hash-secret`.
pub fn digest(secret: &str) -> String {
    let (ok, out, err) = crate::run_cli(&["hash-secret"], Some(secret));
    assert!(ok, "hash-secret failed: {err}");
    out.trim().to_owned()
}

/// The standard configuration for a node listening on `port`, with `extra` TOML
/// appended (more clients, say).
pub fn config(port: u16, dir: &std::path::Path, algorithm: &str, extra: &str) -> String {
    config_with_issuer(
        &format!("http://127.0.0.1:{port}"),
        port,
        dir,
        algorithm,
        extra,
    )
}

/// As [`config`], for a node that is one of several behind a shared `issuer`.
pub fn config_with_issuer(
    issuer: &str,
    port: u16,
    dir: &std::path::Path,
    algorithm: &str,
    extra: &str,
) -> String {
    config_with_signing(
        issuer,
        port,
        dir,
        &format!("algorithm = \"{algorithm}\""),
        extra,
    )
}

/// As [`config_with_issuer`], with `signing` as the body of `[signing]` (the key
/// lifecycle, say).
pub fn config_with_signing(
    issuer: &str,
    port: u16,
    dir: &std::path::Path,
    signing: &str,
    extra: &str,
) -> String {
    format!(
        r#"
[server]
issuer = "{issuer}"
listen = "127.0.0.1:{port}"
data_dir = "{data}"
workers = 2

[signing]
{signing}

[[api_scopes]]
name = "{API_SCOPE}"

[[api_scopes]]
name = "{OTHER_SCOPE}"

[[api_scopes]]
name = "billing.read"

[[api_resources]]
name = "{AUDIENCE}"
scopes = ["{API_SCOPE}", "{OTHER_SCOPE}"]
api_secrets = ["{resource}"]

[[api_resources]]
name = "{OTHER_RESOURCE}"
scopes = ["billing.read"]
api_secrets = ["{resource}"]

[[identity_resources]]
name = "openid"

[[clients]]
client_id = "{MACHINE_ID}"
client_secrets = ["{machine}"]
allowed_grant_types = "client_credentials"
allowed_scopes = ["{API_SCOPE}"]
access_token_lifetime = 600

[[clients]]
client_id = "{APP_ID}"
client_secrets = ["{app}"]
allowed_grant_types = "resource_owner_password_and_client_credentials"
allowed_scopes = ["openid", "profile", "{API_SCOPE}", "{OTHER_SCOPE}"]

[[clients]]
client_id = "{PUBLIC_ID}"
require_client_secret = false
allowed_grant_types = ["password"]
allowed_scopes = ["openid", "{API_SCOPE}"]

[[clients]]
client_id = "{OFFLINE_ID}"
client_secrets = ["{offline}"]
allowed_grant_types = ["password"]
allowed_scopes = ["openid", "{API_SCOPE}", "{OTHER_SCOPE}"]
allow_offline_access = true
refresh_token_grace_period = 2

[[clients]]
client_id = "{STRICT_ID}"
client_secrets = ["{offline}"]
allowed_grant_types = ["password"]
allowed_scopes = ["openid", "{API_SCOPE}"]
allow_offline_access = true
refresh_token_grace_period = 0

[[clients]]
client_id = "{REUSE_ID}"
client_secrets = ["{offline}"]
allowed_grant_types = "resource_owner_password_and_client_credentials"
allowed_scopes = ["openid", "{API_SCOPE}"]
allow_offline_access = true
refresh_token_usage = "re_use"
access_token_type = "reference"

[[users]]
subject = "{SUBJECT}"
username = "{USERNAME}"
password_hash = "{hash}"
[users.claims]
name = "Alice"
email = "{EMAIL}"
{extra}
"#,
        data = dir.join("data").display(),
        machine = digest(MACHINE_SECRET),
        app = digest(APP_SECRET),
        offline = digest(OFFLINE_SECRET),
        resource = digest(RESOURCE_SECRET),
        hash = password_hash(PASSWORD),
    )
}

impl SingleNode {
    /// Starts a node with the standard configuration and ES256 keys.
    pub fn start(name: &str) -> Self {
        Self::start_with(name, "ES256", "")
    }

    pub fn start_with(name: &str, algorithm: &str, extra: &str) -> Self {
        Self::start_with_env(name, algorithm, extra, &[])
    }

    /// As [`SingleNode::start_with`], with extra environment variables for the node.
    pub fn start_with_env(name: &str, algorithm: &str, extra: &str, env: &[(&str, &str)]) -> Self {
        let dir = TestDir::new(name);
        let port = free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let config = config(port, dir.path(), algorithm, extra);
        let node = Node::start_with_env(dir.path(), &config, &issuer, env);
        Self { node, issuer, dir }
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/connect/token", self.issuer)
    }
}
