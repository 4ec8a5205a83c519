//! `GET|POST /connect/endsession` (OpenID Connect RP-Initiated Logout 1.0): signs
//! the browser out and, when the client named a `post_logout_redirect_uri` it
//! registered, sends it back there with its `state`. A request that does not prove
//! it comes from the signed-in user's client (an `id_token_hint` of this user) asks
//! the user first, so that another site cannot sign them out unasked.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use ostium_protocol::end_session::{EndSessionRequest, check_post_logout_redirect};
use ostium_protocol::{Form, OAuthError};

use super::back_channel::{FormBody, Refusal};
use super::pages::{
    Csrf, SESSION_COOKIE, error_page, forged, page_builder, render, see_other, session, set_cookie,
};
use crate::state::Shared;

#[derive(Template)]
#[template(path = "logout.html")]
struct ConfirmPage<'a> {
    csrf: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOut;

pub(crate) async fn end_session_get(
    request: HttpRequest,
    shared: web::Data<Shared>,
) -> HttpResponse {
    match Form::parse(request.query_string().as_bytes()) {
        Ok(form) => end_session(&request, &form, &shared, false),
        Err(refused) => error_page(&refused),
    }
}

pub(crate) async fn end_session_post(
    request: HttpRequest,
    body: Result<FormBody, Refusal>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    match body {
        Ok(FormBody(form)) => end_session(&request, &form, &shared, true),
        Err(refusal) => error_page(&refusal.0),
    }
}

fn end_session(request: &HttpRequest, form: &Form, shared: &Shared, posted: bool) -> HttpResponse {
    let logout = match EndSessionRequest::parse(form) {
        Ok(logout) => logout,
        Err(refused) => return error_page(&refused),
    };
    let hint = match &logout.id_token_hint {
        Some(token) => match shared.grant_context.id_tokens.decode_hint(token) {
            Some(claims) => Some(claims),
            None => {
                return error_page(&OAuthError::invalid_request(
                    "id_token_hint is not an ID token this server issued",
                ));
            }
        },
        None => None,
    };
    let client_id = match (&logout.client_id, &hint) {
        (Some(id), Some(hint)) if *id != hint.aud => {
            return error_page(&OAuthError::invalid_request(
                "client_id is not the audience of id_token_hint",
            ));
        }
        (Some(id), _) => Some(id.clone()),
        (None, hint) => hint.as_ref().map(|h| h.aud.clone()),
    };
    let back = match (&logout.post_logout_redirect_uri, &client_id) {
        (Some(uri), Some(id)) => {
            let directory = shared.directory.load();
            let Some(client) = directory.clients.get(id) else {
                return error_page(&OAuthError::invalid_request("unknown client"));
            };
            match check_post_logout_redirect(client, uri) {
                Ok(url) => Some(url),
                Err(refused) => return error_page(&refused),
            }
        }
        (Some(_), None) => {
            return error_page(&OAuthError::invalid_request(
                "post_logout_redirect_uri needs id_token_hint or client_id",
            ));
        }
        (None, _) => None,
    };
    let current = session(request, shared);
    let proven = match (&current, &hint) {
        (None, _) => true,
        (Some(session), Some(hint)) => hint.sub == session.subject,
        (Some(_), None) => false,
    };
    let csrf = Csrf::of(request);
    let confirmed = posted && form.get("confirm") == Some("yes");
    if confirmed && !csrf.accepts(shared, form.get("csrf")) {
        return error_page(&forged());
    }
    if !proven && !confirmed {
        let mut builder = page_builder(StatusCode::OK);
        csrf.keep(&mut builder, shared);
        let params = [
            "id_token_hint",
            "client_id",
            "post_logout_redirect_uri",
            "state",
        ]
        .into_iter()
        .filter_map(|name| Some((name, form.get(name)?)))
        .collect();
        return render(
            builder,
            &ConfirmPage {
                csrf: &csrf.token(shared),
                params,
            },
        );
    }
    if let Some(session) = &current {
        tracing::info!(subject = %session.subject, "signed out");
    }
    let mut builder = page_builder(match back {
        Some(_) => StatusCode::SEE_OTHER,
        None => StatusCode::OK,
    });
    set_cookie(&mut builder, shared, SESSION_COOKIE, "", Some(0));
    match back {
        Some(mut url) => {
            if let Some(state) = &logout.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            see_other(builder, url.as_str())
        }
        None => render(builder, &SignedOut),
    }
}
