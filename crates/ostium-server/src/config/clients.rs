//! `[[clients]]`: who may ask for tokens, with which grant types and scopes, how
//! they prove who they are, and how long what they get lasts.

use ostium_protocol::grant_type::GrantType;
use ostium_protocol::scope::OFFLINE_ACCESS;
use ostium_protocol::{
    AccessTokenType, AllowedGrantTypes, Client, RefreshTokenExpiration, RefreshTokenPolicy,
    RefreshTokenUsage, ResourceCatalog,
};
use std::path::PathBuf;

use serde::Deserialize;

use super::{Checker, Config, secret_files, unique};

/// The longest access-token lifetime a client may be given: one day.
const MAX_ACCESS_TOKEN_LIFETIME: u32 = 86_400;

/// The longest window in which a rotated refresh token may be presented again.
const MAX_REFRESH_GRACE_PERIOD: u32 = 300;

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a preset name such as \"client_credentials\" or a list of grant type names"
)]
enum GrantTypesField {
    Preset(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientSection {
    client_id: String,
    client_name: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    client_secrets: Vec<String>,
    /// More secrets, from a file outside the configuration (`secret_files.rs`).
    client_secrets_file: Option<PathBuf>,
    #[serde(default = "yes")]
    require_client_secret: bool,
    allowed_grant_types: GrantTypesField,
    #[serde(default)]
    allowed_scopes: Vec<String>,
    #[serde(default = "default_access_token_lifetime")]
    access_token_lifetime: u32,
    #[serde(default)]
    access_token_type: AccessTokenType,
    #[serde(default)]
    allow_offline_access: bool,
    refresh_token_usage: Option<RefreshTokenUsage>,
    refresh_token_expiration: Option<RefreshTokenExpiration>,
    absolute_refresh_token_lifetime: Option<u32>,
    sliding_refresh_token_lifetime: Option<u32>,
    refresh_token_grace_period: Option<u32>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default = "yes")]
    require_pkce: bool,
    #[serde(default)]
    allow_plain_text_pkce: bool,
    #[serde(default)]
    allow_access_tokens_via_browser: bool,
    #[serde(default)]
    require_consent: bool,
    #[serde(default = "yes")]
    allow_remember_consent: bool,
    #[serde(default = "default_short_lifetime")]
    authorization_code_lifetime: u32,
    #[serde(default = "default_short_lifetime")]
    identity_token_lifetime: u32,
    #[serde(default)]
    always_include_user_claims_in_id_token: bool,
    #[serde(default)]
    allowed_cors_origins: Vec<String>,
}

/// IdentityServer's default for codes and ID tokens: five minutes.
fn default_short_lifetime() -> u32 {
    300
}

/// The longest an authorization code may stay redeemable: RFC 6749 §4.1.2 asks for
/// ten minutes at most.
const MAX_AUTHORIZATION_CODE_LIFETIME: u32 = 600;

fn yes() -> bool {
    true
}

fn default_access_token_lifetime() -> u32 {
    3600
}

impl Checker {
    /// Every client, whose scopes must be in `catalog`; errors name the client.
    pub(super) fn check_clients(
        &mut self,
        clients: Vec<ClientSection>,
        catalog: &ResourceCatalog,
    ) -> Result<Vec<Client>, String> {
        unique("client", clients.iter().map(|c| c.client_id.as_str()))?;
        clients
            .into_iter()
            .map(|c| {
                let id = c.client_id.clone();
                self.check_client(c, catalog)
                    .map_err(|e| format!("client `{id}`: {e}"))
            })
            .collect()
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
        let mut secrets = self
            .secrets(&format!("client `{}`", c.client_id), &c.client_secrets)
            .map_err(|e| format!("client_secrets: {e}"))?;
        if let Some(path) = &c.client_secrets_file {
            secrets.extend(
                secret_files::read_secrets(path)
                    .map_err(|e| format!("client_secrets_file: {e}"))?,
            );
        }
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
        let browser = check_browser_settings(&c, &allowed_grant_types)?;
        Ok(Client {
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            require_pkce: c.require_pkce,
            allow_plain_text_pkce: c.allow_plain_text_pkce,
            allow_access_tokens_via_browser: c.allow_access_tokens_via_browser,
            require_consent: c.require_consent,
            allow_remember_consent: c.allow_remember_consent,
            authorization_code_lifetime: c.authorization_code_lifetime,
            identity_token_lifetime: c.identity_token_lifetime,
            always_include_user_claims_in_id_token: c.always_include_user_claims_in_id_token,
            allowed_cors_origins: browser.cors_origins,
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
        // RFC 9700 §4.14.2: nothing binds a public client's refresh token to it, so
        // only rotation (and its reuse detection) limits what a stolen one is worth.
        if !c.require_client_secret
            && c.allow_offline_access
            && policy.usage == RefreshTokenUsage::ReUse
        {
            return Err(
                "refresh_token_usage: a public client's refresh tokens must rotate \
                 (RFC 9700 §4.14.2); use \"one_time_only\""
                    .into(),
            );
        }
        Ok(policy)
    }
}

/// What the browser-flow fields come to, once checked.
struct BrowserSettings {
    cors_origins: Vec<String>,
}

/// The browser-flow fields: every redirect URI an absolute URL without a fragment
/// (RFC 6749 §3.1.2), `https` unless it goes to a loopback host or the client is a
/// native (public) one with a private-use scheme (RFC 8252 §7), and at least one for
/// a client with a grant that redirects; CORS origins as the browser sends them.
fn check_browser_settings(
    c: &ClientSection,
    grants: &AllowedGrantTypes,
) -> Result<BrowserSettings, String> {
    let redirects = [
        GrantType::AuthorizationCode,
        GrantType::Implicit,
        GrantType::Hybrid,
    ]
    .iter()
    .any(|grant| grants.allows(grant));
    if redirects && c.redirect_uris.is_empty() {
        return Err(
            "redirect_uris: a client with a browser grant type (authorization_code, \
                    implicit or hybrid) needs at least one"
                .into(),
        );
    }
    for (field, uris) in [
        ("redirect_uris", &c.redirect_uris),
        ("post_logout_redirect_uris", &c.post_logout_redirect_uris),
    ] {
        for uri in uris {
            check_redirect_uri(uri, c.require_client_secret)
                .map_err(|reason| format!("{field}: `{uri}` {reason}"))?;
        }
    }
    if c.authorization_code_lifetime == 0
        || c.authorization_code_lifetime > MAX_AUTHORIZATION_CODE_LIFETIME
    {
        return Err(format!(
            "authorization_code_lifetime: must be between 1 and \
             {MAX_AUTHORIZATION_CODE_LIFETIME} seconds (RFC 6749 §4.1.2)"
        ));
    }
    if c.identity_token_lifetime == 0 || c.identity_token_lifetime > MAX_ACCESS_TOKEN_LIFETIME {
        return Err(format!(
            "identity_token_lifetime: must be between 1 and {MAX_ACCESS_TOKEN_LIFETIME} seconds"
        ));
    }
    let mut cors_origins = Vec::new();
    for origin in &c.allowed_cors_origins {
        let parsed = url::Url::parse(origin)
            .map_err(|e| format!("allowed_cors_origins: `{origin}` is not a URL: {e}"))?;
        let serialized = parsed.origin().ascii_serialization();
        if !matches!(parsed.scheme(), "http" | "https")
            || serialized != origin.trim_end_matches('/')
        {
            return Err(format!(
                "allowed_cors_origins: `{origin}` is not an origin; write it as a browser \
                 sends it, scheme, host and port only (`{serialized}`)"
            ));
        }
        cors_origins.push(serialized);
    }
    Ok(BrowserSettings { cors_origins })
}

/// Why `uri` may not be a redirect target, if it may not.
fn check_redirect_uri(uri: &str, confidential: bool) -> Result<(), &'static str> {
    let parsed = url::Url::parse(uri).map_err(|_| "is not an absolute URL")?;
    if parsed.fragment().is_some() {
        return Err("has a fragment, which RFC 6749 §3.1.2 forbids");
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err("is plain http to a host that is not loopback; use https"),
        // A native app's private-use scheme (`com.example.app:/callback`).
        _ if !confidential && parsed.scheme().contains('.') => Ok(()),
        _ => Err("has a scheme a browser cannot be sent to; use https"),
    }
}

impl Config {
    /// Warnings for grant types clients are allowed that `serves` says no grant of
    /// this server serves. A client definition may list them (it can then be written
    /// once, before the grant is), but requests using them are refused.
    pub fn unserved_grant_types(&self, serves: impl Fn(&GrantType) -> bool) -> Vec<String> {
        self.clients
            .iter()
            .flat_map(|client| {
                client
                    .allowed_grant_types
                    .iter()
                    .filter(|grant| !serves(grant))
                    .map(|grant| {
                        format!(
                            "client `{}`: grant type `{grant}` is not served by this server; \
                             requests using it are refused with unsupported_grant_type",
                            client.client_id
                        )
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{BASE, SECRET, parse, with_client};

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
    fn grant_types_not_served_load_with_a_warning() {
        let config = parse(&with_client("\"hybrid_and_client_credentials\"")).unwrap();
        let warnings = config.unserved_grant_types(|g| *g == GrantType::ClientCredentials);
        assert_eq!(
            warnings,
            [
                "client `billing-worker`: grant type `hybrid` is not served by this server; \
              requests using it are refused with unsupported_grant_type"
            ]
        );
        assert!(
            config
                .unserved_grant_types(|g| matches!(
                    g,
                    GrantType::Hybrid | GrantType::ClientCredentials
                ))
                .is_empty()
        );
    }

    #[test]
    fn grant_types_of_the_wrong_type_say_what_is_expected() {
        let err = parse(&with_client("5")).unwrap_err().to_string();
        assert!(err.contains("a preset name"), "{err}");
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
    fn a_public_client_s_refresh_tokens_rotate() {
        let public = with_client("\"resource_owner_password\"").replace(
            &format!("client_secrets = [\"{SECRET}\"]"),
            "require_client_secret = false\nallow_offline_access = true\n\
             refresh_token_usage = \"re_use\"",
        );
        let err = parse(&public).unwrap_err().to_string();
        assert!(
            err.contains("client `billing-worker`: refresh_token_usage: a public client"),
            "{err}"
        );
        parse(&public.replace("\"re_use\"", "\"one_time_only\"")).unwrap();
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
