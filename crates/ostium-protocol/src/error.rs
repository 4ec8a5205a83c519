//! The error a client sees when a request is refused (RFC 6749 §4.1.2.1, §5.2,
//! RFC 8628 §3.5, OpenID Connect Core 1.0 §3.1.2.6, RFC 6750 §3.1), and how it
//! reaches the client.
//!
//! Every refusal anywhere in Ostium ends up as one [`OAuthError`]: the registered
//! error code, the HTTP status that goes with it, a description written for the
//! client developer, and optionally a hint (what to do about it) and a cause (what
//! went wrong inside, for the operator's log only). Descriptions and hints never
//! contain secrets or tokens; the cause is never sent.
//!
//! A back-channel endpoint answers with a JSON body ([`OAuthError::body`]); the
//! authorization endpoint answers by sending the browser back to the client's
//! registered redirect URI with the error, `state` and `iss` (RFC 9207) in the query
//! or the fragment, or in a form posted there ([`OAuthError::redirect`]).

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use url::Url;

/// The longest `error_description` sent, in characters.
pub const MAX_DESCRIPTION: usize = 200;

/// The registered error codes Ostium answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    ServerError,
    TemporarilyUnavailable,
    /// The authorization server does not support this `response_type` (RFC 6749 §4.1.2.1).
    UnsupportedResponseType,
    /// `prompt=none` and no user is signed in (OpenID Connect Core 1.0 §3.1.2.6).
    LoginRequired,
    /// `prompt=none` and the user has not consented to what is asked.
    ConsentRequired,
    /// `prompt=none` and some other page would have to be shown.
    InteractionRequired,
    /// A `request` object was sent; Ostium does not take them (OIDC Core §6).
    RequestNotSupported,
    /// A `request_uri` was sent; Ostium does not fetch them (OIDC Core §6).
    RequestUriNotSupported,
    /// A bearer token is missing, expired, revoked or malformed (RFC 6750 §3.1).
    InvalidToken,
    /// A bearer token lacks the scope the resource needs (RFC 6750 §3.1).
    InsufficientScope,
}

impl ErrorCode {
    /// The code as it appears in the `error` member of a response.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
        }
    }

    /// The HTTP status of a token-endpoint response carrying this code.
    ///
    /// RFC 6749 §5.2: 400 for everything except `invalid_client`, which is 401 so that
    /// the client learns which authentication scheme to use. A resource (such as
    /// UserInfo) answers RFC 6750 §3.1's codes: `invalid_token` is 401, so that the
    /// client fetches a new token, and `insufficient_scope` 403, since a new token
    /// for the same grant would not help.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request.
#[derive(Clone, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    /// What the client developer could do about it; sent after the description.
    pub hint: Option<Cow<'static, str>>,
    /// What failed inside, for the operator's log; never sent.
    cause: Option<Arc<dyn Error + Send + Sync>>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            hint: None,
            cause: None,
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, description)
    }

    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    pub fn unsupported_response_type(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnsupportedResponseType, description)
    }

    /// An internal failure. The description stays generic on purpose: the cause
    /// belongs in the server log, not in a response an attacker can read.
    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }

    pub fn temporarily_unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, description)
    }

    /// Adds what the client developer could do about it.
    pub fn with_hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Keeps what failed inside, for the log.
    pub fn with_cause(mut self, cause: impl Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }

    /// What failed inside, if this error has a cause.
    pub fn cause(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }

    pub fn status(&self) -> u16 {
        self.code.http_status()
    }

    /// The `error_description` sent: the description, then the hint, in the
    /// characters RFC 6749 §5.2 allows (`%x20-21 / %x23-5B / %x5D-7E`: a `"` becomes
    /// `'`, anything else outside the set `?`) and at most
    /// [`MAX_DESCRIPTION`] characters, since descriptions may echo what a client sent.
    pub fn full_description(&self) -> Cow<'_, str> {
        let text: Cow<'_, str> = match &self.hint {
            None => Cow::Borrowed(&self.description),
            Some(hint) => Cow::Owned(format!("{} {hint}", self.description)),
        };
        let allowed = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
        if text.len() <= MAX_DESCRIPTION && text.chars().all(allowed) {
            return text;
        }
        let mut clean: String = text
            .chars()
            .map(|c| match c {
                '"' => '\'',
                c if allowed(c) => c,
                _ => '?',
            })
            .take(MAX_DESCRIPTION)
            .collect();
        if text.chars().count() > MAX_DESCRIPTION {
            clean.truncate(MAX_DESCRIPTION - 3);
            clean.push_str("...");
        }
        Cow::Owned(clean)
    }

    /// The JSON body of a back-channel error response (RFC 6749 §5.2).
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: self.code.as_str(),
            error_description: self.full_description(),
        }
    }

    /// Where to send the browser with this error (RFC 6749 §4.1.2.1, OAuth 2.0
    /// Multiple Response Type Encoding Practices §5): the client's registered
    /// `redirect_uri`, with `error`, `error_description`, `state` (echoed when the
    /// request had one) and `iss` (RFC 9207), in the way `mode` says. Only ever call
    /// this with a redirect URI matched against the client's registration; an unknown
    /// client or URI gets an error page instead, never a redirect.
    pub fn redirect(
        &self,
        redirect_uri: &Url,
        mode: ResponseMode,
        state: Option<&str>,
        issuer: &str,
    ) -> Redirect {
        let params = vec![
            ("error", self.code.as_str().to_owned()),
            ("error_description", self.full_description().into_owned()),
        ];
        mode.respond(redirect_uri, params, state, issuer)
    }
}

/// The cause is left out of equality: two refusals are the same to a client.
impl PartialEq for OAuthError {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.description == other.description && self.hint == other.hint
    }
}

impl Eq for OAuthError {}

impl fmt::Debug for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("OAuthError");
        debug
            .field("code", &self.code)
            .field("description", &self.description);
        if let Some(hint) = &self.hint {
            debug.field("hint", hint);
        }
        if let Some(cause) = self.cause() {
            debug.field("cause", &format_args!("{}", Causes(cause)));
        }
        debug.finish()
    }
}

/// Displays an error and each of its sources, `: `-separated, for a log line.
pub struct Causes<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// RFC 6749 §5.2.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'static str,
    pub error_description: Cow<'a, str>,
}

/// How an authorization response reaches the client (OAuth 2.0 Multiple Response
/// Type Encoding Practices §2.1, OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

/// An authorization response on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// Send the browser here (HTTP 303 with `Location`).
    To(Url),
    /// Have the browser post these parameters to `action` (an auto-submitting form).
    FormPost {
        action: Url,
        params: Vec<(&'static str, String)>,
    },
}

impl ResponseMode {
    /// Every mode, for discovery's `response_modes_supported`.
    pub const ALL: [ResponseMode; 3] = [Self::Query, Self::Fragment, Self::FormPost];

    /// The `response_mode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Fragment => "fragment",
            Self::FormPost => "form_post",
        }
    }

    /// Parses a `response_mode` value; names are case-sensitive, as every OAuth value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "query" => Some(Self::Query),
            "fragment" => Some(Self::Fragment),
            "form_post" => Some(Self::FormPost),
            _ => None,
        }
    }

    /// Every authorization response, success or error, ends this way: `params`, then
    /// `state` when the request had one, then `iss` (RFC 9207, so that a client
    /// talking to several servers can tell which one answered), delivered as this
    /// mode says. One path for both, so a success can never lack what an error has.
    pub fn respond(
        self,
        redirect_uri: &Url,
        mut params: Vec<(&'static str, String)>,
        state: Option<&str>,
        issuer: &str,
    ) -> Redirect {
        params.extend(state.map(|state| ("state", state.to_owned())));
        params.push(("iss", issuer.to_owned()));
        self.deliver(redirect_uri, params)
    }

    /// Puts `params` where this mode says, on `redirect_uri` (whose own query is
    /// kept, RFC 6749 §3.1.2).
    pub fn deliver(self, redirect_uri: &Url, params: Vec<(&'static str, String)>) -> Redirect {
        match self {
            Self::Query => {
                let mut url = redirect_uri.clone();
                url.query_pairs_mut().extend_pairs(&params);
                Redirect::To(url)
            }
            Self::Fragment => {
                let mut url = redirect_uri.clone();
                let fragment = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&params)
                    .finish();
                url.set_fragment(Some(&fragment));
                Redirect::To(url)
            }
            Self::FormPost => Redirect::FormPost {
                action: redirect_uri.clone(),
                params,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_rfc_6749_and_rfc_6750() {
        assert_eq!(ErrorCode::InvalidClient.http_status(), 401);
        assert_eq!(ErrorCode::InvalidToken.http_status(), 401);
        assert_eq!(ErrorCode::InsufficientScope.http_status(), 403);
        for code in [
            ErrorCode::UnsupportedResponseType,
            ErrorCode::LoginRequired,
            ErrorCode::ConsentRequired,
            ErrorCode::InteractionRequired,
            ErrorCode::RequestNotSupported,
            ErrorCode::RequestUriNotSupported,
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidGrant,
            ErrorCode::UnauthorizedClient,
            ErrorCode::UnsupportedGrantType,
            ErrorCode::InvalidScope,
        ] {
            assert_eq!(code.http_status(), 400, "{code}");
        }
    }

    #[test]
    fn new_codes_have_their_registered_names() {
        for (code, name) in [
            (
                ErrorCode::UnsupportedResponseType,
                "unsupported_response_type",
            ),
            (ErrorCode::LoginRequired, "login_required"),
            (ErrorCode::ConsentRequired, "consent_required"),
            (ErrorCode::InteractionRequired, "interaction_required"),
            (ErrorCode::RequestNotSupported, "request_not_supported"),
            (
                ErrorCode::RequestUriNotSupported,
                "request_uri_not_supported",
            ),
            (ErrorCode::InvalidToken, "invalid_token"),
            (ErrorCode::InsufficientScope, "insufficient_scope"),
        ] {
            assert_eq!(code.as_str(), name);
        }
    }

    #[test]
    fn response_modes_parse_their_names_only() {
        for mode in ResponseMode::ALL {
            assert_eq!(ResponseMode::parse(mode.as_str()), Some(mode));
        }
        for bad in ["Query", "form-post", "web_message", ""] {
            assert_eq!(ResponseMode::parse(bad), None, "{bad}");
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the leader is gone")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("no leader answered")]
    struct Outer(#[source] Inner);

    #[test]
    fn the_hint_is_sent_and_the_cause_is_only_logged() {
        let error = OAuthError::temporarily_unavailable("the token state is unavailable;")
            .with_hint("retry shortly")
            .with_cause(Outer(Inner));
        let body = serde_json::to_value(error.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": "the token state is unavailable; retry shortly"
            })
        );
        let debug = format!("{error:?}");
        assert!(
            debug.contains("no leader answered: the leader is gone"),
            "{debug}"
        );
        assert!(!body.to_string().contains("leader"));
        assert_eq!(
            error,
            OAuthError::temporarily_unavailable("the token state is unavailable;")
                .with_hint("retry shortly")
        );
    }

    #[test]
    fn descriptions_keep_to_the_rfc_6749_character_set_and_length() {
        let echoed =
            OAuthError::invalid_scope(format!("scope `{}` is unknown", "x".repeat(16_000)));
        let sent = echoed.full_description();
        assert_eq!(sent.chars().count(), MAX_DESCRIPTION);
        assert!(
            sent.starts_with("scope `xxx") && sent.ends_with("..."),
            "{sent}"
        );
        let odd = OAuthError::invalid_request("say \"hi\" \\ été\n");
        assert_eq!(odd.full_description(), "say 'hi' ? ?t??");
        let plain = OAuthError::invalid_request("missing parameter `scope`");
        assert!(matches!(plain.full_description(), Cow::Borrowed(_)));
    }

    #[test]
    fn a_redirect_carries_state_and_iss_in_the_mode_asked() {
        let error = OAuthError::new(ErrorCode::AccessDenied, "the user declined");
        let uri = Url::parse("https://app.example.com/cb?tenant=a").unwrap();
        let issuer = "https://id.example.com";
        let Redirect::To(query) = error.redirect(&uri, ResponseMode::Query, Some("xyz"), issuer)
        else {
            panic!("not a redirect")
        };
        assert_eq!(
            query.as_str(),
            "https://app.example.com/cb?tenant=a&error=access_denied&\
             error_description=the+user+declined&state=xyz&iss=https%3A%2F%2Fid.example.com"
        );
        let Redirect::To(fragment) = error.redirect(&uri, ResponseMode::Fragment, None, issuer)
        else {
            panic!("not a redirect")
        };
        assert_eq!(fragment.query(), Some("tenant=a"));
        assert_eq!(
            fragment.fragment(),
            Some(
                "error=access_denied&error_description=the+user+declined&iss=https%3A%2F%2Fid.example.com"
            )
        );
        let Redirect::FormPost { action, params } =
            error.redirect(&uri, ResponseMode::FormPost, Some("xyz"), issuer)
        else {
            panic!("not a form post")
        };
        assert_eq!(action, uri);
        assert_eq!(
            params,
            [
                ("error", "access_denied".to_owned()),
                ("error_description", "the user declined".to_owned()),
                ("state", "xyz".to_owned()),
                ("iss", issuer.to_owned()),
            ]
        );
    }
}
