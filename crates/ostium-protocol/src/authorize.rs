//! The authorization endpoint's request (RFC 6749 §4.1.1, §4.2.1, OpenID Connect
//! Core 1.0 §3) and how its answer reaches the client.
//!
//! The one rule that shapes this module: an error goes back to the client's
//! redirect URI only once that URI is known to be the client's. Until then (no
//! client, an unknown or disabled one, a missing or unregistered redirect URI) the
//! user sees a page ([`AuthorizeError::Page`]); sending them anywhere else would make
//! Ostium an open redirector (RFC 9700 §4.11). After that point, every refusal goes
//! back to the registered URI ([`AuthorizeError::Redirect`]) with `state` and `iss`,
//! so the client can tell its user what happened.
//!
//! Only the request is checked here. Who the user is, whether they must log in again
//! (`prompt`, `max_age`) and whether they consent is decided by the caller, which
//! then answers with [`respond`].

use std::fmt;

use url::Url;

use crate::client::Client;
use crate::error::{ErrorCode, OAuthError, Redirect, ResponseMode};
use crate::form::Form;
use crate::grant_type::GrantType;
use crate::pkce::{CodeChallenge, CodeChallengeMethod};
use crate::scope::{GrantedScopes, OFFLINE_ACCESS, ResourceCatalog, ScopeSet, Subject};

/// Longest `state`, `nonce` or `login_hint` accepted; each is echoed or stored, so a
/// client cannot make Ostium carry megabytes for it.
const MAX_ECHOED_LEN: usize = 512;

/// Longest `client_id` accepted, as at the token endpoint.
const MAX_CLIENT_ID: usize = 256;

/// The scope that makes a request an OpenID Connect one.
const OPENID: &str = "openid";

/// `response_type` (RFC 6749 §3.1.1, OAuth 2.0 Multiple Response Type Encoding
/// Practices §3-5): which of a code, an ID token and an access token the
/// authorization response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseType {
    pub code: bool,
    pub id_token: bool,
    pub token: bool,
}

impl ResponseType {
    /// Every supported combination, for discovery's `response_types_supported`.
    pub const ALL: [&'static str; 7] = [
        "code",
        "token",
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ];

    /// Parses a space-separated `response_type`, in any order. `none` (Multiple
    /// Response Type Encoding Practices §4) is not supported: a flow that returns
    /// nothing has no use here. An unknown or repeated value is
    /// `unsupported_response_type`.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        let unsupported = || {
            OAuthError::unsupported_response_type(
                "response_type must be code, token or id_token, or several of them \
                 separated by spaces, each at most once",
            )
        };
        let mut parsed = Self {
            code: false,
            id_token: false,
            token: false,
        };
        for part in value.split(' ').filter(|p| !p.is_empty()) {
            let slot = match part {
                "code" => &mut parsed.code,
                "id_token" => &mut parsed.id_token,
                "token" => &mut parsed.token,
                _ => return Err(unsupported()),
            };
            if *slot {
                return Err(unsupported());
            }
            *slot = true;
        }
        if !(parsed.code || parsed.id_token || parsed.token) {
            return Err(unsupported());
        }
        Ok(parsed)
    }

    /// The canonical spelling, `code id_token token` order, as in [`Self::ALL`].
    pub fn as_str(&self) -> &'static str {
        match (self.code, self.id_token, self.token) {
            (true, false, false) => "code",
            (false, false, true) => "token",
            (false, true, false) => "id_token",
            (false, true, true) => "id_token token",
            (true, true, false) => "code id_token",
            (true, false, true) => "code token",
            (true, true, true) => "code id_token token",
            // Only reachable by building the struct by hand with every flag off.
            (false, false, false) => "",
        }
    }

    /// The grant type a client must be allowed to use this response type: the code
    /// alone is the authorization code flow, no code the implicit flow, a code with
    /// anything else the hybrid flow (OIDC Core §3).
    pub fn grant_type(&self) -> GrantType {
        match (self.code, self.id_token || self.token) {
            (true, false) => GrantType::AuthorizationCode,
            (true, true) => GrantType::Hybrid,
            (false, _) => GrantType::Implicit,
        }
    }

    /// The mode used when the request names none (Multiple Response Type Encoding
    /// Practices §2.1, §5): the query for a code alone, the fragment as soon as a
    /// token is in the response, so that it never reaches a server log.
    pub fn default_mode(&self) -> ResponseMode {
        if self.code && !self.id_token && !self.token {
            ResponseMode::Query
        } else {
            ResponseMode::Fragment
        }
    }

    /// Whether the authorization response carries an access token.
    pub fn issues_access_token(&self) -> bool {
        self.token
    }

    /// Whether the authorization response carries an ID token.
    pub fn issues_id_token(&self) -> bool {
        self.id_token
    }

    /// Whether a token of any kind travels in the authorization response, which
    /// then must not be put in the query.
    fn returns_a_token(&self) -> bool {
        self.id_token || self.token
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `prompt` value (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prompt {
    /// Show no page at all; fail with `login_required`, `consent_required` or
    /// `interaction_required` when one would be needed.
    None,
    /// Ask the user to log in again even with a session.
    Login,
    /// Ask the user for consent even when it was remembered.
    Consent,
    /// Let the user choose an account.
    SelectAccount,
}

impl Prompt {
    /// Every value, for discovery's `prompt_values_supported`.
    pub const ALL: [Prompt; 4] = [Self::None, Self::Login, Self::Consent, Self::SelectAccount];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Login => "login",
            Self::Consent => "consent",
            Self::SelectAccount => "select_account",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

/// The `prompt` values of a request, each at most once, in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompts(Vec<Prompt>);

impl Prompts {
    /// Parses a space-separated `prompt`. Unknown values are ignored, as
    /// IdentityServer does, so a client written for another server still works;
    /// `none` with any other value is `invalid_request` (OIDC Core §3.1.2.1).
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        let mut prompts = Vec::new();
        for prompt in value.split(' ').filter_map(Prompt::parse) {
            if !prompts.contains(&prompt) {
                prompts.push(prompt);
            }
        }
        if prompts.contains(&Prompt::None) && prompts.len() > 1 {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with another prompt value",
            ));
        }
        Ok(Self(prompts))
    }

    pub fn contains(&self, prompt: Prompt) -> bool {
        self.0.contains(&prompt)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Prompt> + '_ {
        self.0.iter().copied()
    }
}

/// A checked authorization request: every parameter the flow goes on with.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client_id: String,
    /// One of the client's registered URIs (or, for a loopback URI, that URI with
    /// another port): safe to send the user to.
    pub redirect_uri: Url,
    /// `redirect_uri` exactly as the request sent it: what the token request must
    /// repeat (RFC 6749 §4.1.3), which the URL's normal form (a `/` added to a bare
    /// origin, the host lower-cased) may not be.
    pub redirect_uri_as_sent: String,
    pub response_type: ResponseType,
    /// The mode asked for, or the response type's default.
    pub response_mode: ResponseMode,
    pub scopes: GrantedScopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Prompts,
    /// Seconds since the user's last login beyond which they must log in again.
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    /// Present only for response types with a code, which is what it protects.
    pub code_challenge: Option<CodeChallenge>,
}

/// Short on purpose: one line per request in a log is enough to tell them apart.
impl fmt::Debug for AuthorizeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeRequest")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("response_type", &self.response_type.as_str())
            .field("response_mode", &self.response_mode.as_str())
            .field("scope", &self.scopes.scope_string())
            .finish_non_exhaustive()
    }
}

/// A refused authorization request, and where the refusal is shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    /// Shown to the user on Ostium's own page: the request named no client Ostium
    /// can trust with a redirect, or no redirect URI registered to it.
    #[error(transparent)]
    Page(OAuthError),
    /// Sent back to the client's registered redirect URI.
    #[error("{error}")]
    Redirect {
        error: OAuthError,
        redirect_uri: Url,
        mode: ResponseMode,
        state: Option<String>,
    },
}

impl AuthorizeError {
    /// The refusal, wherever it is shown.
    pub fn error(&self) -> &OAuthError {
        match self {
            Self::Page(error) | Self::Redirect { error, .. } => error,
        }
    }

    /// What the caller shows when no client has the `client_id` sent; a disabled
    /// client reads the same, so the page does not tell one from the other.
    pub fn unknown_client() -> Self {
        Self::Page(OAuthError::unauthorized_client(
            "unknown client or client not enabled",
        ))
    }

    /// Where to send the browser, for a [`Self::Redirect`]; `None` for a page.
    pub fn redirect(&self, issuer: &str) -> Option<Redirect> {
        match self {
            Self::Page(_) => None,
            Self::Redirect {
                error,
                redirect_uri,
                mode,
                state,
            } => Some(error.redirect(redirect_uri, *mode, state.as_deref(), issuer)),
        }
    }
}

/// The `client_id` of an authorization request, for the caller to look up. A
/// missing or overlong one is a page: there is nowhere trusted to redirect to.
/// (A repeated `client_id` or `redirect_uri` never gets here: [`Form`] refuses the
/// whole request, and the caller shows that refusal as a page too.)
#[expect(
    clippy::result_large_err,
    reason = "the error carries the redirect URI it goes back to; it is built at most \
              once per browser round trip, so its size costs nothing worth boxing for"
)]
pub fn client_id(form: &Form) -> Result<&str, AuthorizeError> {
    let client_id = form.require("client_id").map_err(AuthorizeError::Page)?;
    if client_id.len() > MAX_CLIENT_ID {
        return Err(AuthorizeError::unknown_client());
    }
    Ok(client_id)
}

/// A successful authorization response: `params` (the code, tokens, …), then
/// `state` and `iss` (RFC 9207), delivered as `mode` says; the same path as
/// [`OAuthError::redirect`].
pub fn respond(
    redirect_uri: &Url,
    mode: ResponseMode,
    params: Vec<(&'static str, String)>,
    state: Option<&str>,
    issuer: &str,
) -> Redirect {
    mode.respond(redirect_uri, params, state, issuer)
}

impl AuthorizeRequest {
    /// Checks an authorization request from `client`, the client [`client_id`] named.
    /// `form` is the query string of a GET or the body of a POST (OIDC Core
    /// §3.1.2.1). Unknown parameters are ignored (RFC 6749 §3.1).
    #[expect(
        clippy::result_large_err,
        reason = "the error carries the redirect URI it goes back to; it is built at most \
                  once per browser round trip, so its size costs nothing worth boxing for"
    )]
    pub fn parse(
        form: &Form,
        client: &Client,
        catalog: &ResourceCatalog,
    ) -> Result<AuthorizeRequest, AuthorizeError> {
        let page = AuthorizeError::Page;
        if client_id(form)? != client.client_id {
            // The caller looked up another client than the request names: a bug,
            // and no reason to trust this client's redirect URIs.
            return Err(page(OAuthError::invalid_request(
                "client_id does not name the client being checked",
            )));
        }
        if !client.enabled {
            return Err(AuthorizeError::unknown_client());
        }
        let redirect_uri = registered_redirect_uri(form, client).map_err(page)?;

        // From here on the URI is the client's own: errors go back there. Work out
        // the mode and state they go back with before anything can fail.
        let state = form
            .get("state")
            .filter(|state| state.len() <= MAX_ECHOED_LEN);
        let response_type = form.get("response_type").map(ResponseType::parse);
        let asked_mode = form.get("response_mode").map(ResponseMode::parse);
        let error_mode = match (&response_type, asked_mode) {
            (Some(Ok(rt)), Some(Some(ResponseMode::Query))) if rt.returns_a_token() => {
                rt.default_mode()
            }
            (_, Some(Some(mode))) => mode,
            (Some(Ok(rt)), _) => rt.default_mode(),
            _ => ResponseMode::Query,
        };
        let redirect = |error: OAuthError| AuthorizeError::Redirect {
            error,
            redirect_uri: redirect_uri.clone(),
            mode: error_mode,
            state: state.map(str::to_owned),
        };

        check_lengths(form).map_err(redirect)?;
        if form.get("request").is_some() {
            return Err(redirect(OAuthError::new(
                ErrorCode::RequestNotSupported,
                "request objects are not supported; send the parameters themselves",
            )));
        }
        if form.get("request_uri").is_some() {
            return Err(redirect(OAuthError::new(
                ErrorCode::RequestUriNotSupported,
                "request_uri is not supported; send the parameters themselves",
            )));
        }
        let response_type = match response_type {
            None => {
                return Err(redirect(OAuthError::invalid_request(
                    "missing parameter `response_type`",
                )));
            }
            Some(parsed) => parsed.map_err(redirect)?,
        };
        let grant = response_type.grant_type();
        if !client.allows(&grant) {
            return Err(redirect(OAuthError::unauthorized_client(format!(
                "the client is not allowed the {grant} flow that response_type `{}` uses",
                response_type.as_str()
            ))));
        }
        if response_type.token && !client.allow_access_tokens_via_browser {
            return Err(redirect(OAuthError::unauthorized_client(
                "the client may not receive access tokens through the browser \
                 (allow_access_tokens_via_browser is off); use response_type=code",
            )));
        }
        let response_mode = match asked_mode {
            None => response_type.default_mode(),
            Some(None) => {
                return Err(redirect(OAuthError::invalid_request(
                    "response_mode must be query, fragment or form_post",
                )));
            }
            Some(Some(ResponseMode::Query)) if response_type.returns_a_token() => {
                return Err(redirect(OAuthError::invalid_request(format!(
                    "response_mode=query cannot carry the tokens of response_type `{}`; \
                     use fragment or form_post",
                    response_type.as_str()
                ))));
            }
            Some(Some(mode)) => mode,
        };

        let requested = form
            .get("scope")
            .map(ScopeSet::parse)
            .transpose()
            .map_err(redirect)?;
        let openid = requested
            .as_ref()
            .is_some_and(|scopes| scopes.iter().any(|s| s == OPENID));
        if response_type.id_token && !openid {
            return Err(redirect(OAuthError::invalid_request(
                "response_type `id_token` needs the `openid` scope",
            )));
        }
        let scopes = catalog
            .grant(requested.as_ref(), &client.allowed_scopes, Subject::User)
            .map_err(redirect)?;
        if !openid
            && let Some(identity) = scopes
                .scopes
                .iter()
                .find(|s| catalog.is_identity_resource(s))
        {
            return Err(redirect(OAuthError::invalid_scope(format!(
                "scope `{identity}` is about the user and needs the `openid` scope"
            ))));
        }
        if scopes.offline_access && !response_type.code {
            return Err(redirect(OAuthError::invalid_scope(format!(
                "`{OFFLINE_ACCESS}` needs a response_type with `code`: refresh tokens are \
                 only issued at the token endpoint"
            ))));
        }
        let nonce = form.get("nonce");
        if response_type.id_token && nonce.is_none() {
            // OIDC Core §3.2.2.1, §3.3.2.11: the ID token comes through the browser,
            // and the nonce is what binds it to the client's session.
            return Err(redirect(OAuthError::invalid_request(
                "missing parameter `nonce`, required when response_type includes id_token",
            )));
        }
        let code_challenge = if response_type.code {
            code_challenge(form, client).map_err(redirect)?
        } else {
            None
        };
        let prompt = form
            .get("prompt")
            .map(Prompts::parse)
            .transpose()
            .map_err(redirect)?
            .unwrap_or_default();
        let max_age = form
            .get("max_age")
            .map(parse_max_age)
            .transpose()
            .map_err(redirect)?;
        let redirect_uri_as_sent = form.require("redirect_uri").map_err(redirect)?.to_owned();

        Ok(AuthorizeRequest {
            client_id: client.client_id.clone(),
            redirect_uri,
            redirect_uri_as_sent,
            response_type,
            response_mode,
            scopes,
            state: state.map(str::to_owned),
            nonce: nonce.map(str::to_owned),
            prompt,
            max_age,
            login_hint: form.get("login_hint").map(str::to_owned),
            code_challenge,
        })
    }
}

/// The request's `redirect_uri`, if it is one of the client's (RFC 9700 §2.1:
/// exact string comparison, save the loopback port of RFC 8252 §7.3).
fn registered_redirect_uri(form: &Form, client: &Client) -> Result<Url, OAuthError> {
    let uri = form.require("redirect_uri")?;
    let registered = client
        .redirect_uris
        .iter()
        .any(|registered| redirect_uri_matches(registered, uri));
    if !registered {
        return Err(OAuthError::invalid_request(
            "redirect_uri is not registered for this client; it must match a \
             registered URI exactly",
        ));
    }
    let url = Url::parse(uri)
        .map_err(|_| OAuthError::invalid_request("redirect_uri is not an absolute URI"))?;
    if url.fragment().is_some() {
        // RFC 6749 §3.1.2: the response's own fragment would have nowhere to go.
        return Err(OAuthError::invalid_request(
            "redirect_uri must not contain a fragment",
        ));
    }
    Ok(url)
}

/// Whether `requested` is `registered`: byte for byte, except that a registered
/// loopback URI (`http://127.0.0.1…`, `http://[::1]…`) matches on any port, since a
/// native app listens on whichever port the system gives it (RFC 8252 §7.3).
/// `localhost` gets no such exception: it may resolve elsewhere (RFC 8252 §8.3).
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (
        without_loopback_port(registered),
        without_loopback_port(requested),
    ) {
        (Some(registered), Some(requested)) => registered == requested,
        _ => false,
    }
}

/// A loopback URI split around its port: the part before it and the part after.
/// `None` for anything else, including a malformed port.
fn without_loopback_port(uri: &str) -> Option<(&str, &str)> {
    ["http://127.0.0.1", "http://[::1]"]
        .into_iter()
        .find_map(|host| {
            let rest = uri.strip_prefix(host)?;
            let rest = match rest.strip_prefix(':') {
                Some(port_and_rest) => {
                    let end = port_and_rest
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(port_and_rest.len());
                    port_and_rest[..end].parse::<u16>().ok()?;
                    &port_and_rest[end..]
                }
                None => rest,
            };
            (rest.is_empty() || rest.starts_with(['/', '?', '#'])).then_some((host, rest))
        })
}

/// `state`, `nonce` and `login_hint` are echoed or kept with the code.
fn check_lengths(form: &Form) -> Result<(), OAuthError> {
    for name in ["state", "nonce", "login_hint"] {
        if form.get(name).is_some_and(|v| v.len() > MAX_ECHOED_LEN) {
            return Err(OAuthError::invalid_request(format!(
                "`{name}` is longer than {MAX_ECHOED_LEN} bytes"
            )));
        }
    }
    Ok(())
}

/// The PKCE challenge of a code flow: required when the client requires PKCE, and
/// `plain` only for clients allowed it (RFC 9700 §2.1.1).
fn code_challenge(form: &Form, client: &Client) -> Result<Option<CodeChallenge>, OAuthError> {
    let challenge = CodeChallenge::parse(
        form.get("code_challenge"),
        form.get("code_challenge_method"),
    )?;
    match &challenge {
        None if client.require_pkce => Err(OAuthError::invalid_request(
            "this client must use PKCE: send code_challenge and \
             code_challenge_method=S256 (RFC 7636)",
        )),
        Some(c) if c.method == CodeChallengeMethod::Plain && !client.allow_plain_text_pkce => {
            Err(OAuthError::invalid_request(
                "code_challenge_method plain is not allowed for this client; use S256 \
                 (a challenge without a method is plain)",
            ))
        }
        _ => Ok(challenge),
    }
}

/// `max_age`: a non-negative number of seconds, digits only.
fn parse_max_age(value: &str) -> Result<u64, OAuthError> {
    let invalid = || OAuthError::invalid_request("max_age must be a non-negative integer");
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    value.parse().map_err(|_| invalid())
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use crate::grant_type::AllowedGrantTypes;
    use crate::scope::ApiResource;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CB: &str = "https://app.example.com/cb";

    fn client(grants: &str) -> Client {
        Client {
            allowed_scopes: ["openid", "profile", "orders.read", "offline_access"]
                .map(String::from)
                .to_vec(),
            redirect_uris: vec![
                CB.into(),
                "http://127.0.0.1/native".into(),
                "http://[::1]:8080/native?x=1".into(),
            ],
            require_client_secret: false,
            ..Client::new("app", AllowedGrantTypes::preset(grants).unwrap())
        }
    }

    fn catalog() -> ResourceCatalog {
        let mut catalog = ResourceCatalog::new();
        catalog.add_api_scope("orders.read");
        catalog.add_api_resource(ApiResource {
            name: "urn:orders".into(),
            scopes: vec!["orders.read".into()],
        });
        catalog
    }

    fn form(query: &str) -> Form {
        Form::parse(query.as_bytes()).unwrap()
    }

    /// A valid code flow request with PKCE, plus `extra`.
    fn code(extra: &str) -> String {
        format!(
            "client_id=app&redirect_uri={}&response_type=code&scope=openid+orders.read&\
             state=s1&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
            enc(CB)
        )
    }

    fn enc(s: &str) -> String {
        form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    fn parse_for(client: &Client, query: &str) -> Result<AuthorizeRequest, AuthorizeError> {
        AuthorizeRequest::parse(&form(query), client, &catalog())
    }

    fn parse(query: &str) -> Result<AuthorizeRequest, AuthorizeError> {
        parse_for(&client("code"), query)
    }

    #[test]
    fn the_redirect_uri_is_kept_as_sent_for_the_token_request() {
        // A bare origin: the URL's normal form adds a `/`, which the token
        // request, repeating what it sent, would not match.
        let origin = Client {
            redirect_uris: vec!["https://App.example.com".into()],
            ..client("code")
        };
        let query = code("").replace(&enc(CB), &enc("https://App.example.com"));
        let request = parse_for(&origin, &query).unwrap();
        assert_eq!(request.redirect_uri.as_str(), "https://app.example.com/");
        assert_eq!(request.redirect_uri_as_sent, "https://App.example.com");
    }

    /// The error of a refusal that must be shown as a page.
    fn page(result: Result<AuthorizeRequest, AuthorizeError>) -> OAuthError {
        match result {
            Err(AuthorizeError::Page(error)) => error,
            other => panic!("expected a page, got {other:?}"),
        }
    }

    /// The error and mode of a refusal that goes back to the client.
    fn redirected(result: Result<AuthorizeRequest, AuthorizeError>) -> (ErrorCode, ResponseMode) {
        match result {
            Err(AuthorizeError::Redirect {
                error,
                redirect_uri,
                mode,
                ..
            }) => {
                assert!(
                    client("code")
                        .redirect_uris
                        .iter()
                        .any(|r| redirect_uri_matches(r, redirect_uri.as_str()))
                );
                (error.code, mode)
            }
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    #[test]
    fn a_code_request_is_parsed() {
        let request = parse(&code(
            "&nonce=n&prompt=login+consent&max_age=0&login_hint=alice",
        ))
        .unwrap();
        assert_eq!(request.client_id, "app");
        assert_eq!(request.redirect_uri.as_str(), CB);
        assert_eq!(request.response_type.as_str(), "code");
        assert_eq!(request.response_mode, ResponseMode::Query);
        assert_eq!(request.scopes.scopes, ["openid", "orders.read"]);
        assert_eq!(request.scopes.audiences, ["urn:orders"]);
        assert_eq!(request.state.as_deref(), Some("s1"));
        assert_eq!(request.nonce.as_deref(), Some("n"));
        assert!(request.prompt.contains(Prompt::Login) && request.prompt.contains(Prompt::Consent));
        assert_eq!(request.max_age, Some(0));
        assert_eq!(request.login_hint.as_deref(), Some("alice"));
        assert_eq!(
            request.code_challenge,
            Some(CodeChallenge {
                challenge: CHALLENGE.into(),
                method: CodeChallengeMethod::S256
            })
        );
        let debug = format!("{request:?}");
        assert!(
            debug.contains("openid orders.read") && !debug.contains("alice"),
            "{debug}"
        );
    }

    #[test]
    fn response_types_parse_in_any_order() {
        let rt = ResponseType::parse("token id_token").unwrap();
        assert!(rt.id_token && rt.token && !rt.code);
        assert_eq!(rt.as_str(), "id_token token");
        assert_eq!(
            ResponseType::parse("id_token  code").unwrap().as_str(),
            "code id_token"
        );
        for name in ResponseType::ALL {
            assert_eq!(ResponseType::parse(name).unwrap().as_str(), name);
        }
        for bad in [
            "none",
            "code code",
            "Code",
            "code none",
            " ",
            "device_code",
            "code,token",
        ] {
            assert_eq!(
                ResponseType::parse(bad).unwrap_err().code,
                ErrorCode::UnsupportedResponseType,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn response_types_map_to_grant_types_and_modes() {
        let grant = |rt: &str| ResponseType::parse(rt).unwrap().grant_type();
        assert_eq!(grant("code"), GrantType::AuthorizationCode);
        assert_eq!(grant("id_token"), GrantType::Implicit);
        assert_eq!(grant("id_token token"), GrantType::Implicit);
        assert_eq!(grant("token"), GrantType::Implicit);
        assert_eq!(grant("code id_token"), GrantType::Hybrid);
        assert_eq!(grant("code token"), GrantType::Hybrid);
        let mode = |rt: &str| ResponseType::parse(rt).unwrap().default_mode();
        assert_eq!(mode("code"), ResponseMode::Query);
        assert_eq!(mode("code id_token"), ResponseMode::Fragment);
        assert_eq!(mode("id_token"), ResponseMode::Fragment);
        assert!(
            ResponseType::parse("code token")
                .unwrap()
                .issues_access_token()
        );
        assert!(
            !ResponseType::parse("code id_token")
                .unwrap()
                .issues_access_token()
        );
    }

    #[test]
    fn prompt_none_stands_alone_and_unknown_values_are_ignored() {
        let prompts = Prompts::parse("login unknown select_account login").unwrap();
        assert_eq!(
            prompts.iter().collect::<Vec<_>>(),
            [Prompt::Login, Prompt::SelectAccount]
        );
        assert!(Prompts::parse("none").unwrap().contains(Prompt::None));
        assert!(Prompts::parse("create").unwrap().is_empty());
        assert_eq!(
            Prompts::parse("none login").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        let (code, _) = redirected(parse(&code("&prompt=consent+none")));
        assert_eq!(code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn no_client_id_or_an_unknown_or_disabled_client_is_a_page() {
        assert_eq!(
            page(parse(&code("").replace("client_id=app&", ""))).code,
            ErrorCode::InvalidRequest
        );
        let long = format!("client_id={}", "a".repeat(300));
        assert!(matches!(
            client_id(&form(&long)),
            Err(AuthorizeError::Page(_))
        ));
        assert_eq!(client_id(&form(&code(""))).unwrap(), "app");
        let disabled = Client {
            enabled: false,
            ..client("code")
        };
        assert_eq!(
            page(parse_for(&disabled, &code(""))).code,
            ErrorCode::UnauthorizedClient
        );
        // The caller looked up a different client than the request names.
        let other = Client {
            client_id: "other".into(),
            ..client("code")
        };
        assert_eq!(
            page(parse_for(&other, &code(""))).code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn a_repeated_client_id_or_redirect_uri_never_reaches_a_redirect() {
        for query in [
            format!("{}&client_id=app", code("")),
            format!(
                "{}&redirect_uri={}",
                code(""),
                enc("https://evil.example/cb")
            ),
        ] {
            // The caller turns the form's own refusal into a page.
            assert_eq!(
                Form::parse(query.as_bytes()).unwrap_err().code,
                ErrorCode::InvalidRequest
            );
        }
    }

    #[test]
    fn the_redirect_uri_must_match_a_registered_one_exactly() {
        let with = |uri: &str| code("").replace(&enc(CB), &enc(uri));
        assert!(parse(&with(CB)).is_ok());
        for bad in [
            "https://APP.example.com/cb",
            "https://app.example.com/CB",
            "https://app.example.com/cb/",
            "https://app.example.com/cb/more",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/cb#",
            "https://app.example.com:443/cb",
            "http://app.example.com/cb",
            "https://app.example.com/c%62",
            "https://evil.example/cb",
        ] {
            assert_eq!(
                page(parse(&with(bad))).code,
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
        let missing = code("").replace(&format!("redirect_uri={}&", enc(CB)), "");
        assert!(page(parse(&missing)).description.contains("redirect_uri"));
        let nothing_registered = Client {
            redirect_uris: vec![],
            ..client("code")
        };
        assert!(matches!(
            parse_for(&nothing_registered, &code("")),
            Err(AuthorizeError::Page(_))
        ));
    }

    #[test]
    fn a_loopback_redirect_uri_matches_on_any_port() {
        let with = |uri: &str| code("").replace(&enc(CB), &enc(uri));
        for good in [
            "http://127.0.0.1/native",
            "http://127.0.0.1:51004/native",
            "http://[::1]:1/native?x=1",
            "http://[::1]/native?x=1",
        ] {
            let request = parse(&with(good)).unwrap_or_else(|e| panic!("{good}: {e:?}"));
            assert_eq!(request.redirect_uri.path(), "/native");
        }
        for bad in [
            "http://127.0.0.1:51004/native/x",
            "http://127.0.0.1:99999/native",
            "http://127.0.0.1:/native",
            "http://127.0.0.1:80x/native",
            "http://127.0.0.1.evil.example/native",
            "http://127.0.0.1@evil.example/native",
            "https://127.0.0.1:8080/native",
            "http://localhost:8080/native",
            "http://[::1]:8080/native",
            "http://127.0.0.1:8080/native?x=1",
        ] {
            assert!(
                matches!(parse(&with(bad)), Err(AuthorizeError::Page(_))),
                "{bad}"
            );
        }
        assert!(!redirect_uri_matches(
            "https://127.0.0.1/native",
            "https://127.0.0.1:1/native"
        ));
    }

    #[test]
    fn later_errors_go_back_to_the_client_with_its_state() {
        let result = parse(&code("&max_age=-1"));
        let Err(error @ AuthorizeError::Redirect { .. }) = &result else {
            panic!("{result:?}")
        };
        assert_eq!(error.error().code, ErrorCode::InvalidRequest);
        let Some(Redirect::To(url)) = error.redirect("https://id.example.com") else {
            panic!("not a redirect")
        };
        assert!(
            url.as_str()
                .starts_with("https://app.example.com/cb?error=invalid_request&")
        );
        assert!(
            url.as_str()
                .ends_with("&state=s1&iss=https%3A%2F%2Fid.example.com"),
            "{url}"
        );
        assert!(
            AuthorizeError::unknown_client()
                .redirect("https://id.example.com")
                .is_none()
        );
    }

    #[test]
    fn errors_use_the_mode_asked_when_valid_else_the_default_else_query() {
        let hybrid = client("hybrid");
        let base = format!(
            "client_id=app&redirect_uri={}&scope=openid&nonce=n",
            enc(CB)
        );
        // Valid mode asked: it is used.
        let asked = format!("{base}&response_type=code+id_token&response_mode=form_post&max_age=x");
        assert_eq!(
            redirected(parse_for(&hybrid, &asked)),
            (ErrorCode::InvalidRequest, ResponseMode::FormPost)
        );
        // Query for a response type with tokens: the default (fragment) instead.
        let query = format!("{base}&response_type=code+id_token&response_mode=query");
        assert_eq!(
            redirected(parse_for(&hybrid, &query)),
            (ErrorCode::InvalidRequest, ResponseMode::Fragment)
        );
        // Unknown mode: the response type's default.
        let unknown = format!("{base}&response_type=code+id_token&response_mode=web_message");
        assert_eq!(
            redirected(parse_for(&hybrid, &unknown)),
            (ErrorCode::InvalidRequest, ResponseMode::Fragment)
        );
        // Neither: query.
        let neither = format!("{base}&response_type=magic&response_mode=web_message");
        assert_eq!(
            redirected(parse_for(&hybrid, &neither)),
            (ErrorCode::UnsupportedResponseType, ResponseMode::Query)
        );
    }

    #[test]
    fn request_objects_are_not_supported() {
        assert_eq!(
            redirected(parse(&code("&request=eyJ"))).0,
            ErrorCode::RequestNotSupported
        );
        assert_eq!(
            redirected(parse(&code("&request_uri=urn%3Ax"))).0,
            ErrorCode::RequestUriNotSupported
        );
    }

    #[test]
    fn response_type_is_required_and_must_be_supported() {
        let without = code("").replace("response_type=code&", "");
        assert_eq!(redirected(parse(&without)).0, ErrorCode::InvalidRequest);
        let none = code("").replace("response_type=code", "response_type=none");
        assert_eq!(
            redirected(parse(&none)).0,
            ErrorCode::UnsupportedResponseType
        );
    }

    #[test]
    fn the_client_must_be_allowed_the_flow() {
        let hybrid = code("&nonce=n").replace("response_type=code", "response_type=code+id_token");
        assert_eq!(redirected(parse(&hybrid)).0, ErrorCode::UnauthorizedClient);
        assert!(parse_for(&client("hybrid"), &hybrid).is_ok());
        assert_eq!(
            redirected(parse_for(&client("hybrid"), &code(""))).0,
            ErrorCode::UnauthorizedClient
        );
    }

    #[test]
    fn token_in_the_response_needs_allow_access_tokens_via_browser() {
        let implicit = format!(
            "client_id=app&redirect_uri={}&response_type=id_token+token&scope=openid&nonce=n",
            enc(CB)
        );
        let refused = parse_for(&client("implicit"), &implicit).unwrap_err();
        assert_eq!(refused.error().code, ErrorCode::UnauthorizedClient);
        assert!(
            refused
                .error()
                .description
                .contains("allow_access_tokens_via_browser")
        );
        let allowed = Client {
            allow_access_tokens_via_browser: true,
            ..client("implicit")
        };
        let request = parse_for(&allowed, &implicit).unwrap();
        assert_eq!(request.response_mode, ResponseMode::Fragment);
        assert!(request.code_challenge.is_none());
        let id_token_only = implicit.replace("id_token+token", "id_token");
        assert!(parse_for(&client("implicit"), &id_token_only).is_ok());
    }

    #[test]
    fn response_mode_is_checked_and_query_never_carries_tokens() {
        assert_eq!(
            parse(&code("&response_mode=fragment"))
                .unwrap()
                .response_mode,
            ResponseMode::Fragment
        );
        assert_eq!(
            parse(&code("&response_mode=form_post"))
                .unwrap()
                .response_mode,
            ResponseMode::FormPost
        );
        assert_eq!(
            redirected(parse(&code("&response_mode=Query"))).0,
            ErrorCode::InvalidRequest
        );
        let hybrid = code("&nonce=n&response_mode=query")
            .replace("response_type=code", "response_type=code+id_token");
        assert_eq!(
            redirected(parse_for(&client("hybrid"), &hybrid)).0,
            ErrorCode::InvalidRequest
        );
        let form_post = hybrid.replace("response_mode=query", "response_mode=form_post");
        assert!(parse_for(&client("hybrid"), &form_post).is_ok());
    }

    #[test]
    fn scopes_are_checked_against_the_client() {
        assert_eq!(
            redirected(parse(
                &code("").replace("openid+orders.read", "openid+audit")
            ))
            .0,
            ErrorCode::InvalidScope
        );
        assert_eq!(
            redirected(parse(&code("").replace("openid+orders.read", "open%22id"))).0,
            ErrorCode::InvalidScope
        );
        // Identity scopes need openid.
        assert_eq!(
            redirected(parse(&code("").replace("openid+orders.read", "profile"))).0,
            ErrorCode::InvalidScope
        );
        // No scope with a code: the client's API scopes, as at the token endpoint.
        let defaulted = parse(&code("").replace("scope=openid+orders.read&", "")).unwrap();
        assert_eq!(defaulted.scopes.scopes, ["orders.read"]);
    }

    #[test]
    fn an_id_token_needs_the_openid_scope_and_a_nonce() {
        let hybrid = client("hybrid");
        let request = code("&nonce=n").replace("response_type=code", "response_type=code+id_token");
        assert!(parse_for(&hybrid, &request).is_ok());
        let no_openid = request.replace("scope=openid+orders.read", "scope=orders.read");
        assert_eq!(
            redirected(parse_for(&hybrid, &no_openid)).0,
            ErrorCode::InvalidRequest
        );
        let no_scope = request.replace("scope=openid+orders.read&", "");
        assert_eq!(
            redirected(parse_for(&hybrid, &no_scope)).0,
            ErrorCode::InvalidRequest
        );
        let no_nonce = request.replace("&nonce=n", "");
        let error = parse_for(&hybrid, &no_nonce).unwrap_err();
        assert!(error.error().description.contains("nonce"));
        // The code flow does not need one.
        assert!(parse(&code("")).unwrap().nonce.is_none());
    }

    #[test]
    fn offline_access_needs_a_code() {
        let offline = code("").replace("openid+orders.read", "openid+offline_access");
        assert!(parse(&offline).unwrap().scopes.offline_access);
        let implicit = format!(
            "client_id=app&redirect_uri={}&response_type=id_token&scope=openid+offline_access&nonce=n",
            enc(CB)
        );
        assert_eq!(
            redirected(parse_for(&client("implicit"), &implicit)).0,
            ErrorCode::InvalidScope
        );
    }

    #[test]
    fn pkce_is_required_and_plain_only_when_allowed() {
        let without = code("").replace(
            &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
            "",
        );
        let error = parse(&without).unwrap_err();
        assert_eq!(error.error().code, ErrorCode::InvalidRequest);
        assert!(error.error().description.contains("PKCE"));
        let relaxed = Client {
            require_pkce: false,
            ..client("code")
        };
        assert!(
            parse_for(&relaxed, &without)
                .unwrap()
                .code_challenge
                .is_none()
        );

        let plain = code("").replace(
            "&code_challenge_method=S256",
            "&code_challenge_method=plain",
        );
        let no_method = code("").replace("&code_challenge_method=S256", "");
        for request in [&plain, &no_method] {
            assert_eq!(redirected(parse(request)).0, ErrorCode::InvalidRequest);
            let allowed = Client {
                allow_plain_text_pkce: true,
                ..client("code")
            };
            let parsed = parse_for(&allowed, request).unwrap();
            assert_eq!(
                parsed.code_challenge.unwrap().method,
                CodeChallengeMethod::Plain
            );
        }
        let bad = code("").replace(CHALLENGE, "short");
        assert_eq!(redirected(parse(&bad)).0, ErrorCode::InvalidRequest);
    }

    #[test]
    fn max_age_is_a_non_negative_integer() {
        assert_eq!(parse(&code("&max_age=3600")).unwrap().max_age, Some(3600));
        for bad in ["-1", "+1", "1.5", "1e3", "99999999999999999999999", "%201"] {
            assert_eq!(
                redirected(parse(&code(&format!("&max_age={bad}")))).0,
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
    }

    #[test]
    fn state_nonce_and_login_hint_are_bounded() {
        let longest = "a".repeat(MAX_ECHOED_LEN);
        assert!(
            parse(
                &code(&format!("&nonce={longest}&login_hint={longest}"))
                    .replace("state=s1", &format!("state={longest}"))
            )
            .is_ok()
        );
        for name in ["state", "nonce", "login_hint"] {
            let mut long = code(&format!("&{name}={}", "a".repeat(MAX_ECHOED_LEN + 1)));
            if name == "state" {
                long = long.replace("state=s1&", "");
            }
            let error = parse(&long).unwrap_err();
            let AuthorizeError::Redirect { error, state, .. } = error else {
                panic!("{name}")
            };
            assert_eq!(error.code, ErrorCode::InvalidRequest, "{name}");
            // An oversized state is not echoed back.
            assert_eq!(state.is_some(), name != "state", "{name}");
        }
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        assert!(parse(&code("&ui_locales=fr&acr_values=x&foo=bar")).is_ok());
    }

    #[test]
    fn respond_adds_state_and_iss_after_the_params() {
        let uri = Url::parse("https://app.example.com/cb?tenant=a").unwrap();
        let Redirect::To(url) = respond(
            &uri,
            ResponseMode::Query,
            vec![("code", "abc".into())],
            Some("xyz"),
            "https://id.example.com",
        ) else {
            panic!("not a redirect")
        };
        assert_eq!(
            url.as_str(),
            "https://app.example.com/cb?tenant=a&code=abc&state=xyz&iss=https%3A%2F%2Fid.example.com"
        );
        let Redirect::To(url) = respond(
            &uri,
            ResponseMode::Fragment,
            vec![("id_token", "t".into())],
            None,
            "https://id.example.com",
        ) else {
            panic!("not a redirect")
        };
        assert_eq!(
            url.fragment(),
            Some("id_token=t&iss=https%3A%2F%2Fid.example.com")
        );
    }

    proptest::proptest! {
        #[test]
        fn no_authorize_request_panics(query in "[a-z_=&%+0-9A-F.:/\\[\\]-]{0,300}") {
            if let Ok(form) = Form::parse(query.as_bytes()) {
                let _ = AuthorizeRequest::parse(&form, &client("hybrid"), &catalog());
            }
        }

        #[test]
        fn no_redirect_uri_panics(registered in "\\PC{0,40}", requested in "\\PC{0,40}") {
            let _ = redirect_uri_matches(&registered, &requested);
        }
    }
}
