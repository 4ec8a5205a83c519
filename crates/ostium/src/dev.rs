//! `ostium serve --dev`: a complete single node to try Ostium in one command: the
//! browser flow (a URL that opens the sign-in page and ends on a callback page that
//! shows the code exchange and the tokens), every back-channel grant, refresh
//! tokens, introspection by the demo API and revocation, each with a ready-to-paste
//! curl line in the banner.
//!
//! The demo secrets and user password are fixed and printed, which is why this is
//! development only: data goes to `./.ostium-dev`, the listener is bound to
//! loopback, and plain-text secrets are accepted.

use anyhow::Context;
use ostium_protocol::pkce;
use ostium_server::{Config, DevCallback, SecretPolicy};

pub const ISSUER: &str = "http://127.0.0.1:8080";
const CLIENT_ID: &str = "demo-machine";
const CLIENT_SECRET: &str = "demo-secret";
const APP_ID: &str = "demo-app";
const API: &str = "urn:demo";
const API_SECRET: &str = "demo-api-secret";
const USERNAME: &str = "alice";
const PASSWORD: &str = "alice-password";
const SCOPE: &str = "demo.api";
const WEB_ID: &str = "demo-web";
const CALLBACK_PATH: &str = "/dev/callback";
/// Fixed, like every demo secret, so the banner's URL is the same at every start.
const CODE_VERIFIER: &str = "ostium-dev-demo-code-verifier-not-a-secret-0123456789";

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
name = "{API}"
scopes = ["{SCOPE}"]
api_secrets = ["{API_SECRET}"]

[[clients]]
client_id = "{CLIENT_ID}"
client_name = "Demo machine client"
client_secrets = ["{CLIENT_SECRET}"]
allowed_grant_types = "client_credentials"
allowed_scopes = ["{SCOPE}"]

[[clients]]
client_id = "{WEB_ID}"
client_name = "Demo web app (authorization code + PKCE)"
require_client_secret = false
allowed_grant_types = "code"
redirect_uris = ["{ISSUER}{CALLBACK_PATH}"]
allowed_scopes = ["openid", "profile", "email", "{SCOPE}"]
require_consent = true

[[clients]]
client_id = "{APP_ID}"
client_name = "Demo first-party app (password grant)"
client_secrets = ["{CLIENT_SECRET}"]
allowed_grant_types = "resource_owner_password"
allowed_scopes = ["openid", "profile", "email", "{SCOPE}"]
allow_offline_access = true

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

/// The demo web client whose callback the development node plays.
pub fn callback() -> DevCallback {
    DevCallback {
        client_id: WEB_ID.to_owned(),
        redirect_uri: format!("{ISSUER}{CALLBACK_PATH}"),
        code_verifier: CODE_VERIFIER.to_owned(),
    }
}

/// Tells the developer what exists and how to get a token.
pub fn print_banner(issuer: &str) {
    println!("\n{}", banner(issuer));
}

/// What exists and how to use it, as curl lines ready to paste into a POSIX shell;
/// the README shows it as it is (a test compares them).
fn banner(issuer: &str) -> String {
    let token = format!("{issuer}/connect/token");
    let password_grant = format!(
        "curl -s -u {APP_ID}:{CLIENT_SECRET} -d grant_type=password -d username={USERNAME} \
         -d password={PASSWORD}"
    );
    // Pulls one member out of a token response without needing jq.
    let member = |name: &str| format!(r#"sed -n 's/.*"{name}":"\([^"]*\)".*/\1/p'"#);
    let sign_in = format!(
        "{issuer}/connect/authorize?client_id={WEB_ID}&response_type=code&scope=openid%20profile%20email\
         &redirect_uri={issuer}{CALLBACK_PATH}&code_challenge={challenge}&code_challenge_method=S256\
         &state=demo&nonce=demo",
        challenge = pkce::s256(CODE_VERIFIER),
    );
    format!(
        r#"Ostium development server: {issuer}
  discovery  {issuer}/.well-known/openid-configuration

Sign in as {USERNAME} / {PASSWORD} in a browser (authorization code + PKCE; the
callback page shows the code exchange and the tokens):
  {sign_in}

  API        {API} / {API_SECRET}   (scope {SCOPE}; introspects tokens)
  client     {CLIENT_ID} / {CLIENT_SECRET}   (client_credentials)
  client     {APP_ID} / {CLIENT_SECRET}       (password, with refresh tokens)
  client     {WEB_ID}                     (authorization code + PKCE, consent)
  user       {USERNAME} / {PASSWORD}

Get a token:
  curl -s -u {CLIENT_ID}:{CLIENT_SECRET} -d grant_type=client_credentials -d scope={SCOPE} {token}
  {password_grant} -d 'scope=openid {SCOPE}' {token}

Refresh, introspect and revoke (paste the lines in order; they keep the tokens in $RT and $AT):
  RT=$({password_grant} -d 'scope=openid {SCOPE} offline_access' {token} | {rt}); echo "$RT"
  TOKENS=$(curl -s -u {APP_ID}:{CLIENT_SECRET} -d grant_type=refresh_token -d refresh_token="$RT" {token}); echo "$TOKENS"
  AT=$(echo "$TOKENS" | {at}); RT=$(echo "$TOKENS" | {rt})
  {introspect}
  {revoke} -d token="$AT" {issuer}/connect/revocation; {introspect}
  {revoke} -d token="$RT" {issuer}/connect/revocation; curl -s -w '\n' -u {APP_ID}:{CLIENT_SECRET} -d grant_type=refresh_token -d refresh_token="$RT" {token}
"#,
        introspect = format!(
            r#"curl -s -w '\n' -d client_id={API} -d client_secret={API_SECRET} -d token="$AT" {issuer}/connect/introspect"#
        ),
        revoke = format!("curl -s -w 'revoked: %{{http_code}}\\n' -u {APP_ID}:{CLIENT_SECRET}"),
        rt = member("refresh_token"),
        at = member("access_token"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README shows the banner (the fenced block that starts with its first
    /// line) exactly as `serve --dev` prints it.
    #[test]
    fn the_readme_shows_the_banner_as_printed() {
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let readme = std::fs::read_to_string(readme).expect("README.md");
        let first = "Ostium development server:";
        let start = readme
            .find(&format!("```\n{first}"))
            .expect("the banner in README.md")
            + 4;
        let end = start + readme[start..].find("```").expect("the end of the banner");
        assert_eq!(&readme[start..end], banner(ISSUER));
    }

    #[test]
    fn the_demo_app_gets_refresh_tokens_and_the_demo_api_can_introspect() {
        let config = config().unwrap();
        let app = config
            .clients
            .iter()
            .find(|c| c.client_id == APP_ID)
            .unwrap();
        assert!(app.refresh_tokens.allow_offline_access, "{app:?}");
        let api = config.api_resources.iter().find(|r| r.name == API).unwrap();
        assert!(!api.api_secrets.is_empty(), "{api:?}");
    }
}
