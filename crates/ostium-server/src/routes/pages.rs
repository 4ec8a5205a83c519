//! What every page Ostium shows a person shares: the headers that keep it out of
//! frames, caches and referrers, the stylesheet, the cookies (the login session and
//! the CSRF cookie) and the anti-forgery check of every form.
//!
//! Cookies are read and written here by hand: two cookies with fixed names and
//! values of our own alphabet need no cookie jar.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HeaderValue, LOCATION, PRAGMA,
    REFERRER_POLICY, SET_COOKIE, X_FRAME_OPTIONS,
};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ostium_protocol::{OAuthError, Redirect};
use ostium_tokens::{BrowserSessions, LoginSession};

use crate::state::Shared;

pub(crate) const SESSION_COOKIE: &str = "ostium_session";
pub(crate) const CSRF_COOKIE: &str = "ostium_csrf";

/// The one script any page runs: the form-post response submitting itself.
pub(crate) const SUBMIT_SCRIPT: &str = "document.forms[0].submit();";

/// Pages load nothing but their stylesheet and that one script (by its hash), and
/// no other site may frame them. `form-action` is left open: the form-post
/// response posts to the client, and browsers apply it to the redirects after a
/// form too.
static CONTENT_SECURITY_POLICY_VALUE: LazyLock<HeaderValue> = LazyLock::new(|| {
    let script = STANDARD.encode(digest::digest(&digest::SHA256, SUBMIT_SCRIPT.as_bytes()));
    let policy = format!(
        "default-src 'none'; style-src 'self'; script-src 'sha256-{script}'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// A response builder with the headers every page and every browser redirect
/// carries: nothing of it is cached, framed, or leaked to the next site.
pub(crate) fn page_builder(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((PRAGMA, HeaderValue::from_static("no-cache")))
        .insert_header((X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .insert_header((
            CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY_VALUE.clone(),
        ));
    builder
}

/// Renders `template` into `builder`.
pub(crate) fn render(mut builder: HttpResponseBuilder, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => builder
            .insert_header((
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            page_builder(StatusCode::INTERNAL_SERVER_ERROR).finish()
        }
    }
}

/// 303 See Other to `location`: after a form, the browser follows with a GET.
pub(crate) fn see_other(mut builder: HttpResponseBuilder, location: &str) -> HttpResponse {
    match HeaderValue::from_str(location) {
        Ok(location) => builder.insert_header((LOCATION, location)).finish(),
        Err(_) => page_builder(StatusCode::INTERNAL_SERVER_ERROR).finish(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    code: &'a str,
    description: &'a str,
}

/// The error page: for a request that cannot be answered at the client (unknown
/// client, unregistered redirect URI), or a form that does not hold together.
pub(crate) fn error_page(refused: &OAuthError) -> HttpResponse {
    let status = StatusCode::from_u16(refused.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let description = refused.full_description();
    render(
        page_builder(status),
        &ErrorPage {
            code: refused.code.as_str(),
            description: &description,
        },
    )
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPost<'a> {
    action: &'a str,
    params: &'a [(&'static str, String)],
    script: &'static str,
}

/// Sends the browser on with an authorization response: a redirect, or a page that
/// posts the response to the client (Form Post Response Mode).
pub(crate) fn deliver(builder: HttpResponseBuilder, redirect: &Redirect) -> HttpResponse {
    match redirect {
        Redirect::To(url) => see_other(builder, url.as_str()),
        Redirect::FormPost { action, params } => render(
            builder,
            &FormPost {
                action: action.as_str(),
                params,
                script: SUBMIT_SCRIPT,
            },
        ),
    }
}

/// `GET /account/style.css`.
pub(crate) async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        ))
        .insert_header((
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ))
        .body(include_str!("../../templates/style.css"))
}

/// The value of the cookie `name`, if the request has exactly one.
pub(crate) fn cookie<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    let mut found = request
        .headers()
        .get_all(COOKIE)
        .filter_map(|header| header.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| value);
    let first = found.next()?;
    // Two cookies of one name (one set by a sibling domain, say): trust neither.
    found.next().is_none().then_some(first)
}

/// Adds a cookie Ostium sets: `HttpOnly`, `SameSite=Lax` (sent when a client sends
/// the browser here, not when another site posts a form here), `Secure` under https.
/// `max_age` `None` makes it last the browser session; `Some(0)` removes it.
pub(crate) fn set_cookie(
    builder: &mut HttpResponseBuilder,
    shared: &Shared,
    name: &str,
    value: &str,
    max_age: Option<u64>,
) {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(max_age) = max_age {
        cookie.push_str(&format!("; Max-Age={max_age}"));
    }
    if shared.secure_cookies {
        cookie.push_str("; Secure");
    }
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        builder.append_header((SET_COOKIE, value));
    }
}

/// The login session the browser holds, if this cluster signed it and it holds now.
pub(crate) fn session(request: &HttpRequest, shared: &Shared) -> Option<LoginSession> {
    let now = shared.grant_context.clock.now();
    shared.sessions.open(cookie(request, SESSION_COOKIE)?, now)
}

/// Sets the session cookie: a new login, or (sliding sessions) one renewed as it is
/// used, so that it lasts `cookie_lifetime` from its last use.
pub(crate) fn keep_session(
    builder: &mut HttpResponseBuilder,
    shared: &Shared,
    session: &LoginSession,
) {
    let lifetime = shared.session_settings.cookie_lifetime;
    let now = shared.grant_context.clock.now();
    let renewed = LoginSession {
        expires_at: now + lifetime,
        ..session.clone()
    };
    match shared.sessions.seal(&renewed) {
        Ok(value) => set_cookie(builder, shared, SESSION_COOKIE, &value, Some(lifetime)),
        Err(e) => tracing::error!(error = %e, "a session cookie could not be sealed"),
    }
}

/// Renews a sliding session that is used; a fixed one keeps its cookie.
pub(crate) fn slide_session(
    builder: &mut HttpResponseBuilder,
    shared: &Shared,
    session: &LoginSession,
) {
    if shared.session_settings.sliding {
        keep_session(builder, shared, session);
    }
}

/// The browser's CSRF cookie, or a new one to set with this response.
pub(crate) struct Csrf {
    cookie: String,
    is_new: bool,
}

impl Csrf {
    pub fn of(request: &HttpRequest) -> Self {
        match cookie(request, CSRF_COOKIE).filter(|value| value.len() == 43) {
            Some(value) => Self {
                cookie: value.to_owned(),
                is_new: false,
            },
            None => Self {
                cookie: BrowserSessions::new_csrf_cookie().unwrap_or_default(),
                is_new: true,
            },
        }
    }

    /// The token this browser's forms carry.
    pub fn token(&self, shared: &Shared) -> String {
        shared.sessions.csrf_token(&self.cookie)
    }

    /// Sets the cookie if the browser did not have one.
    pub fn keep(&self, builder: &mut HttpResponseBuilder, shared: &Shared) {
        if self.is_new {
            set_cookie(builder, shared, CSRF_COOKIE, &self.cookie, None);
        }
    }

    /// Whether a posted form's token belongs to this browser.
    pub fn accepts(&self, shared: &Shared, token: Option<&str>) -> bool {
        !self.is_new && token.is_some_and(|token| shared.sessions.csrf_matches(&self.cookie, token))
    }
}

/// The refusal of a form posted without its anti-forgery token.
pub(crate) fn forged() -> OAuthError {
    OAuthError::invalid_request(
        "the form could not be checked; go back, reload the page and try again",
    )
}
