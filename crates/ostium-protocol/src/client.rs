//! Clients and how they authenticate at the token endpoint (RFC 6749 §2.3).
//!
//! A confidential client proves itself with one of its secrets, sent either in a
//! Basic `Authorization` header (`client_secret_basic`, with the id and secret
//! form-urlencoded inside it, RFC 6749 §2.3.1) or in the body
//! (`client_secret_post`). A public client only names itself (`none`). Using more
//! than one method in one request is refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::error::OAuthError;
use crate::form::{self, Form};
use crate::grant_type::{AllowedGrantTypes, GrantType};
use crate::secret::SecretDigest;

/// A registered client.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub client_name: Option<String>,
    pub enabled: bool,
    pub secrets: Vec<SecretDigest>,
    /// A client without this flag is public: it authenticates with its id alone.
    pub require_client_secret: bool,
    pub allowed_grant_types: AllowedGrantTypes,
    pub allowed_scopes: Vec<String>,
    /// Lifetime of access tokens issued to this client, in seconds.
    pub access_token_lifetime: u32,
    pub access_token_type: AccessTokenType,
    pub refresh_tokens: RefreshTokenPolicy,
    /// Where authorization responses may be sent; a request's `redirect_uri` must be
    /// one of these exactly (RFC 9700 §2.1), save RFC 8252 §7.3's loopback ports.
    pub redirect_uris: Vec<String>,
    /// Where the browser may be sent after logout (RP-Initiated Logout 1.0 §3).
    pub post_logout_redirect_uris: Vec<String>,
    /// Whether the code flows need a PKCE challenge (RFC 7636); on by default, as
    /// RFC 9700 §2.1.1 recommends for every client.
    pub require_pkce: bool,
    /// Whether the `plain` challenge method is accepted; it only protects against
    /// an attacker who sees the response but not the request.
    pub allow_plain_text_pkce: bool,
    /// Whether `token` may be in a response type: an access token in the browser's
    /// URL is exposed to its history and to scripts (RFC 9700 §2.1.2).
    pub allow_access_tokens_via_browser: bool,
    /// Whether the user is asked before the client gets what it asked for.
    pub require_consent: bool,
    /// Whether the user may have their consent remembered for the next time.
    pub allow_remember_consent: bool,
    /// Lifetime of authorization codes, in seconds.
    pub authorization_code_lifetime: u32,
    /// Lifetime of ID tokens, in seconds.
    pub identity_token_lifetime: u32,
    /// Whether the user's claims go into the ID token even when an access token is
    /// issued too (otherwise the client fetches them from UserInfo).
    pub always_include_user_claims_in_id_token: bool,
    /// Origins whose scripts may call the token endpoint from a browser (CORS).
    pub allowed_cors_origins: Vec<String>,
}

/// `access_token_type`: what kind of access token a client receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessTokenType {
    /// A signed JWT (RFC 9068) that resource servers verify offline.
    #[default]
    Jwt,
    /// An opaque handle that resource servers introspect (RFC 7662).
    Reference,
}

/// `refresh_token_usage` (IdentityServer's `RefreshTokenUsage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenUsage {
    /// Each redemption rotates the token: the presented one is spent, a successor issued.
    #[default]
    OneTimeOnly,
    /// The same token is redeemed again and again until it expires.
    ReUse,
}

/// `refresh_token_expiration` (IdentityServer's `TokenExpiration`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenExpiration {
    /// Expires at the family's absolute expiry, however often it is used.
    #[default]
    Absolute,
    /// Each use pushes expiry out by the sliding lifetime, never past the absolute expiry.
    Sliding,
}

/// Whether and how a client gets refresh tokens (RFC 6749 §1.5, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshTokenPolicy {
    /// `allow_offline_access`: the client may ask for `offline_access`, and so for
    /// refresh tokens, and may use the refresh_token grant.
    pub allow_offline_access: bool,
    pub usage: RefreshTokenUsage,
    pub expiration: RefreshTokenExpiration,
    /// Seconds from the first issue after which no token of the family is valid.
    pub absolute_lifetime: u32,
    /// Seconds a sliding token stays valid after each use.
    pub sliding_lifetime: u32,
    /// Seconds during which a rotated token may be presented again and get the same
    /// answer, for clients that lost a response; after that, reuse revokes the family.
    pub grace_period: u32,
}

/// IdentityServer's defaults: 30 days absolute, 15 days sliding, one-time use.
impl Default for RefreshTokenPolicy {
    fn default() -> Self {
        Self {
            allow_offline_access: false,
            usage: RefreshTokenUsage::OneTimeOnly,
            expiration: RefreshTokenExpiration::Absolute,
            absolute_lifetime: 2_592_000,
            sliding_lifetime: 1_296_000,
            grace_period: 5,
        }
    }
}

/// How the client presented itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl ClientAuthMethod {
    /// The name used in discovery's `token_endpoint_auth_methods_supported`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

/// The credentials a request carried, not yet checked.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    secret: Option<String>,
    pub method: ClientAuthMethod,
}

/// The secret must never reach a log through `{:?}`.
impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

const MAX_CLIENT_ID: usize = 256;

impl ClientCredentials {
    /// Extracts the credentials from the `Authorization` header value (if any) and the
    /// form. Errors are `invalid_request` for an ambiguous request and
    /// `invalid_client` when no usable credentials were sent.
    pub fn from_request(authorization: Option<&str>, form: &Form) -> Result<Self, OAuthError> {
        let body_id = form.get("client_id");
        let body_secret = form.get("client_secret");
        let credentials = match authorization {
            Some(header) => {
                let (client_id, secret) = decode_basic(header)?;
                if body_secret.is_some() {
                    return Err(OAuthError::invalid_request(
                        "the client authenticated with both client_secret_basic and \
                         client_secret_post; use exactly one",
                    ));
                }
                if body_id.is_some_and(|id| id != client_id) {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the Authorization header",
                    ));
                }
                Self {
                    client_id,
                    secret: Some(secret),
                    method: ClientAuthMethod::ClientSecretBasic,
                }
            }
            None => {
                let client_id = body_id.ok_or_else(|| {
                    OAuthError::invalid_client("no client authentication was included")
                })?;
                Self {
                    client_id: client_id.to_owned(),
                    secret: body_secret.map(str::to_owned),
                    method: if body_secret.is_some() {
                        ClientAuthMethod::ClientSecretPost
                    } else {
                        ClientAuthMethod::None
                    },
                }
            }
        };
        if credentials.client_id.len() > MAX_CLIENT_ID {
            return Err(OAuthError::invalid_client("client authentication failed"));
        }
        Ok(credentials)
    }
}

/// Decodes `Basic base64(urlencode(id):urlencode(secret))`. Each part is
/// form-encoded (RFC 6749 §2.3.1), so a raw `&` cannot be in it, and it must be UTF-8
/// once decoded: anything else is malformed, never silently cut or replaced.
fn decode_basic(header: &str) -> Result<(String, String), OAuthError> {
    let malformed = || OAuthError::invalid_client("malformed Basic authorization header");
    let (scheme, encoded) = header.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "unsupported authorization scheme; use Basic or client_secret_post",
        ));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let component = |part: &str| {
        if part.contains('&') {
            return Err(malformed());
        }
        form::decode(part.as_bytes()).map_err(|_| malformed())
    };
    let id = component(id)?;
    if id.is_empty() {
        return Err(malformed());
    }
    Ok((id, component(secret)?))
}

impl ClientCredentials {
    /// Whether the presented secret matches one of `secrets`, in constant time; every
    /// digest is checked so the time taken does not depend on which matched.
    pub fn matches_any(&self, secrets: &[SecretDigest]) -> bool {
        self.secret.as_deref().is_some_and(|secret| {
            secrets
                .iter()
                .fold(false, |found, digest| digest.matches(secret) | found)
        })
    }
}

impl Client {
    /// A client with IdentityServer's defaults: enabled and confidential (it must
    /// prove itself with a secret, though it has none yet), no name, no scopes,
    /// one-hour JWT access tokens and no refresh tokens; no redirect URIs, PKCE
    /// required (S256 only), no access token through the browser, no consent page,
    /// five-minute codes and ID tokens. Callers set the rest with
    /// struct-update syntax: `Client { allowed_scopes, ..Client::new(id, grants) }`.
    pub fn new(client_id: impl Into<String>, allowed_grant_types: AllowedGrantTypes) -> Self {
        Self {
            client_id: client_id.into(),
            client_name: None,
            enabled: true,
            secrets: Vec::new(),
            require_client_secret: true,
            allowed_grant_types,
            allowed_scopes: Vec::new(),
            access_token_lifetime: 3600,
            access_token_type: AccessTokenType::Jwt,
            refresh_tokens: RefreshTokenPolicy::default(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            require_pkce: true,
            allow_plain_text_pkce: false,
            allow_access_tokens_via_browser: false,
            require_consent: false,
            allow_remember_consent: true,
            authorization_code_lifetime: 300,
            identity_token_lifetime: 300,
            always_include_user_claims_in_id_token: false,
            allowed_cors_origins: Vec::new(),
        }
    }

    /// Checks the presented credentials against this client. Every failure reads the
    /// same to the caller, so a response never tells which part was wrong.
    pub fn authenticate(&self, credentials: &ClientCredentials) -> Result<(), OAuthError> {
        let failed = || OAuthError::invalid_client("client authentication failed");
        if !self.enabled || credentials.client_id != self.client_id {
            return Err(failed());
        }
        match &credentials.secret {
            Some(_) if credentials.matches_any(&self.secrets) => Ok(()),
            Some(_) => Err(failed()),
            None if self.require_client_secret => Err(failed()),
            None => Ok(()),
        }
    }

    /// Whether this client may use `grant`. The refresh_token grant comes with
    /// `allow_offline_access`, as in IdentityServer, whether or not it is listed.
    pub fn allows(&self, grant: &GrantType) -> bool {
        self.allowed_grant_types.allows(grant)
            || (*grant == GrantType::RefreshToken && self.refresh_tokens.allow_offline_access)
    }

    /// Whether this client may send `grant_type` to the token endpoint: what it is
    /// allowed, and, for a hybrid client, the authorization_code grant its codes
    /// are redeemed with (it may still not ask for `response_type=code` alone).
    pub fn allows_at_token_endpoint(&self, grant: &GrantType) -> bool {
        self.allows(grant)
            || (*grant == GrantType::AuthorizationCode
                && self.allowed_grant_types.allows(&GrantType::Hybrid))
    }

    /// Whether this client holds a secret (confidential) or not (public).
    pub fn is_confidential(&self) -> bool {
        self.require_client_secret
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    fn client() -> Client {
        Client {
            secrets: vec![SecretDigest::of("old"), SecretDigest::of("p@ss:word")],
            ..Client::new(
                "billing worker",
                AllowedGrantTypes::preset("client_credentials").unwrap(),
            )
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
        let header = basic("billing+worker", "p%40ss%3Aword");
        let creds = ClientCredentials::from_request(Some(&header), &Form::default()).unwrap();
        assert_eq!(creds.client_id, "billing worker");
        assert_eq!(creds.method, ClientAuthMethod::ClientSecretBasic);
        client().authenticate(&creds).unwrap();
    }

    #[test]
    fn post_credentials() {
        let form = Form::parse(b"client_id=billing+worker&client_secret=old").unwrap();
        let creds = ClientCredentials::from_request(None, &form).unwrap();
        assert_eq!(creds.method, ClientAuthMethod::ClientSecretPost);
        client().authenticate(&creds).unwrap();
    }

    #[test]
    fn two_methods_at_once_is_invalid_request() {
        let form = Form::parse(b"client_id=billing+worker&client_secret=old").unwrap();
        let header = basic("billing+worker", "old");
        assert_eq!(
            ClientCredentials::from_request(Some(&header), &form)
                .unwrap_err()
                .code,
            ErrorCode::InvalidRequest
        );
        let form = Form::parse(b"client_id=someone-else").unwrap();
        assert_eq!(
            ClientCredentials::from_request(Some(&header), &form)
                .unwrap_err()
                .code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn missing_or_malformed_credentials_are_invalid_client() {
        let raw_ampersand = basic("billing+worker", "old&junk=1");
        let not_utf8 = basic("billing+worker", "a%FFb");
        for header in [
            None,
            Some("Basic"),
            Some("Basic !!!"),
            Some("Bearer abc"),
            Some("Basic bm9jb2xvbg=="), // "nocolon"
            Some(raw_ampersand.as_str()),
            Some(not_utf8.as_str()),
        ] {
            assert_eq!(
                ClientCredentials::from_request(header, &Form::default())
                    .unwrap_err()
                    .code,
                ErrorCode::InvalidClient,
                "{header:?}"
            );
        }
    }

    #[test]
    fn wrong_secret_disabled_or_missing_secret_fails() {
        let c = client();
        let creds = |secret: Option<&str>| ClientCredentials {
            client_id: "billing worker".into(),
            secret: secret.map(str::to_owned),
            method: ClientAuthMethod::ClientSecretPost,
        };
        assert!(c.authenticate(&creds(Some("wrong"))).is_err());
        assert!(c.authenticate(&creds(None)).is_err());
        let disabled = Client {
            enabled: false,
            ..client()
        };
        assert!(disabled.authenticate(&creds(Some("old"))).is_err());
    }

    #[test]
    fn public_client_needs_no_secret() {
        let public = Client {
            require_client_secret: false,
            secrets: vec![],
            ..client()
        };
        let creds = ClientCredentials::from_request(
            None,
            &Form::parse(b"client_id=billing+worker").unwrap(),
        )
        .unwrap();
        assert_eq!(creds.method, ClientAuthMethod::None);
        public.authenticate(&creds).unwrap();
    }

    #[test]
    fn browser_flow_defaults_are_identity_servers() {
        let c = client();
        assert!(c.redirect_uris.is_empty() && c.post_logout_redirect_uris.is_empty());
        assert!(c.require_pkce && !c.allow_plain_text_pkce);
        assert!(!c.allow_access_tokens_via_browser);
        assert!(!c.require_consent && c.allow_remember_consent);
        assert_eq!(c.authorization_code_lifetime, 300);
        assert_eq!(c.identity_token_lifetime, 300);
        assert!(!c.always_include_user_claims_in_id_token);
        assert!(c.allowed_cors_origins.is_empty());
    }

    #[test]
    fn offline_access_brings_the_refresh_token_grant() {
        let mut c = client();
        assert!(!c.allows(&GrantType::RefreshToken));
        c.refresh_tokens.allow_offline_access = true;
        assert!(c.allows(&GrantType::RefreshToken));
        assert!(c.allows(&GrantType::ClientCredentials));
        assert!(!c.allows(&GrantType::Password));
        let hybrid = Client::new("h", AllowedGrantTypes::preset("hybrid").unwrap());
        assert!(!hybrid.allows(&GrantType::AuthorizationCode));
        assert!(hybrid.allows_at_token_endpoint(&GrantType::AuthorizationCode));
        assert!(!hybrid.allows(&GrantType::Implicit));
    }

    proptest::proptest! {
        #[test]
        fn no_authorization_header_panics(header in "\\PC{0,200}") {
            let _ = ClientCredentials::from_request(Some(&header), &Form::default());
        }

        #[test]
        fn encoded_basic_credentials_decode_to_what_was_encoded(
            id in "\\PC{1,32}",
            secret in "\\PC{0,32}",
        ) {
            let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let header = basic(&encode(&id), &encode(&secret));
            let creds = ClientCredentials::from_request(Some(&header), &Form::default()).unwrap();
            proptest::prop_assert_eq!(&creds.client_id, &id);
            proptest::prop_assert!(creds.matches_any(&[SecretDigest::of(&secret)]));
        }
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let header = basic("id", "hunter2");
        let creds = ClientCredentials::from_request(Some(&header), &Form::default()).unwrap();
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
