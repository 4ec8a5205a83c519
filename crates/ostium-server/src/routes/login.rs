//! `GET|POST /account/login`: the sign-in page. It is reached from the
//! authorization endpoint with a `return_url` (that endpoint and its request), and
//! goes back there once the user is signed in. The password is checked as the
//! password grant checks it (`ostium_grants::login`: per-username and per-address
//! throttling, the bounded Argon2 queue off the HTTP workers); a wrong one says so
//! on the page and creates nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use ostium_grants::login::{LoginRefusal, check_password};
use ostium_protocol::{Form, OAuthError};
use ostium_tokens::LoginSession;

use super::authorize::returned_form;
use super::back_channel::{FormBody, Refusal};
use super::pages::{Csrf, error_page, forged, keep_session, page_builder, render, see_other};
use crate::state::Shared;

/// Longest username the page passes on to the validator (as the password grant).
const MAX_USERNAME: usize = 1024;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    client_name: Option<&'a str>,
    error: Option<&'a str>,
    csrf: &'a str,
    return_url: &'a str,
    username: &'a str,
}

pub(crate) async fn login_page(request: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let Some((return_url, form)) = return_url(request.query_string().as_bytes()) else {
        return error_page(&not_from_a_client());
    };
    let hint = form.get("login_hint").unwrap_or_default();
    show(
        &request,
        &shared,
        StatusCode::OK,
        &return_url,
        &form,
        hint,
        None,
    )
}

pub(crate) async fn sign_in(
    request: HttpRequest,
    body: Result<FormBody, Refusal>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let posted = match body {
        Ok(FormBody(posted)) => posted,
        Err(refusal) => return error_page(&refusal.0),
    };
    let csrf = Csrf::of(&request);
    if !csrf.accepts(&shared, posted.get("csrf")) {
        return error_page(&forged());
    }
    let Some((return_url, form)) = posted.get("return_url").and_then(returned) else {
        return error_page(&not_from_a_client());
    };
    let username = posted.get("username").unwrap_or_default();
    let password = posted.get("password").unwrap_or_default();
    if username.is_empty() || password.is_empty() || username.len() > MAX_USERNAME {
        let message = "Enter your username and password.";
        return show(
            &request,
            &shared,
            StatusCode::OK,
            &return_url,
            &form,
            username,
            Some(message),
        );
    }
    let context = &shared.grant_context;
    let address = shared.trusted_proxies.client_address(&request);
    let checked = check_password(
        context,
        &*shared.password_validator,
        username.to_owned(),
        password.to_owned(),
        address,
        "login page",
    )
    .await;
    let (status, message) = match checked {
        Ok(user) => {
            let now = context.clock.now();
            let lifetime = shared.session_settings.cookie_lifetime;
            let session = match LoginSession::start(&user.subject, "pwd", now, lifetime) {
                Ok(session) => session,
                Err(e) => return error_page(&OAuthError::server_error().with_cause(e)),
            };
            let mut builder = page_builder(StatusCode::SEE_OTHER);
            keep_session(&mut builder, &shared, &session);
            return see_other(builder, &return_url);
        }
        Err(LoginRefusal::WrongCredentials) => (StatusCode::OK, "Wrong username or password."),
        Err(LoginRefusal::Throttled) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins. Wait a few minutes, then try again.",
        ),
        Err(LoginRefusal::Busy) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sign-ins are in progress. Try again in a moment.",
        ),
        Err(LoginRefusal::Internal(e)) => {
            tracing::error!(error = %e, "a login could not be checked");
            return error_page(&OAuthError::server_error());
        }
    };
    show(
        &request,
        &shared,
        status,
        &return_url,
        &form,
        username,
        Some(message),
    )
}

fn show(
    request: &HttpRequest,
    shared: &Shared,
    status: StatusCode,
    return_url: &str,
    form: &Form,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    let directory = shared.directory.load();
    let client = form
        .get("client_id")
        .and_then(|id| directory.clients.get(id));
    let client_name = client.map(|c| c.client_name.as_deref().unwrap_or(&c.client_id));
    let csrf = Csrf::of(request);
    let mut builder = page_builder(status);
    csrf.keep(&mut builder, shared);
    render(
        builder,
        &LoginPage {
            client_name,
            error,
            csrf: &csrf.token(shared),
            return_url,
            username,
        },
    )
}

/// The `return_url` parameter of a query, and the authorization request it names.
pub(crate) fn return_url(query: &[u8]) -> Option<(String, Form)> {
    returned(Form::parse(query).ok()?.get("return_url")?)
}

/// A `return_url` and the authorization request it names.
pub(crate) fn returned(url: &str) -> Option<(String, Form)> {
    Some((url.to_owned(), returned_form(url)?))
}

pub(crate) fn not_from_a_client() -> OAuthError {
    OAuthError::invalid_request(
        "this page is opened by an application that asks you to sign in; go back to it and \
         start again",
    )
}
