//! `ostium serve --dev`: a complete single node to try Ostium in one command.
//!
//! The demo client secret and user password are fixed and printed, which is why
//! this is development only: data goes to `./.ostium-dev`, the listener is bound to
//! loopback, and plain-text secrets are accepted.

use anyhow::Context;
use ostium_server::{Config, SecretPolicy};

pub const ISSUER: &str = "http://127.0.0.1:8080";
const CLIENT_ID: &str = "demo-machine";
const CLIENT_SECRET: &str = "demo-secret";
const APP_ID: &str = "demo-app";
const USERNAME: &str = "alice";
const PASSWORD: &str = "alice-password";
const SCOPE: &str = "demo.api";

/// The built-in development configuration.
pub fn config() -> anyhow::Result<Config> {
    let password_hash = ostium_grants::password_validator::hash_password(PASSWORD)?;
    let text = format!(
        r#"
[server]
issuer = "{ISSUER}"
listen = "127.0.0.1:8080"
data_dir = ".ostium-dev"

[[api_scopes]]
name = "{SCOPE}"

[[api_resources]]
name = "urn:demo"
scopes = ["{SCOPE}"]

[[clients]]
client_id = "{CLIENT_ID}"
client_name = "Demo machine client"
client_secrets = ["{CLIENT_SECRET}"]
allowed_grant_types = "client_credentials"
allowed_scopes = ["{SCOPE}"]

[[clients]]
client_id = "{APP_ID}"
client_name = "Demo first-party app (password grant)"
client_secrets = ["{CLIENT_SECRET}"]
allowed_grant_types = "resource_owner_password"
allowed_scopes = ["openid", "profile", "email", "{SCOPE}"]

[[users]]
subject = "demo-alice"
username = "{USERNAME}"
password_hash = "{password_hash}"
[users.claims]
name = "Alice Demo"
email = "alice@example.com"
"#
    );
    Config::parse(
        &text,
        "built-in --dev configuration",
        SecretPolicy::AllowPlainText,
    )
    .context("the built-in development configuration is invalid")
}

/// Tells the developer what exists and how to get a token.
pub fn print_banner(issuer: &str) {
    println!(
        r#"
Ostium development server: {issuer}
  discovery  {issuer}/.well-known/openid-configuration
  API scope  {SCOPE} (audience urn:demo)
  client     {CLIENT_ID} / {CLIENT_SECRET}   (client_credentials)
  client     {APP_ID} / {CLIENT_SECRET}       (password)
  user       {USERNAME} / {PASSWORD}

Get a token:
  curl -s -u {CLIENT_ID}:{CLIENT_SECRET} -d grant_type=client_credentials -d scope={SCOPE} {issuer}/connect/token
  curl -s -u {APP_ID}:{CLIENT_SECRET} -d grant_type=password -d username={USERNAME} -d password={PASSWORD} -d 'scope=openid {SCOPE}' {issuer}/connect/token
"#
    );
}
