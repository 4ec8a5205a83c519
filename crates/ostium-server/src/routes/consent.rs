//! `GET|POST /consent`: the page where a user allows a client the scopes it asks
//! for (clients with `require_consent`). Reached from the authorization endpoint
//! with a `return_url`; the user's answer finishes that request at once, through
//! the `authorize` actor, which remembers the consent in the replicated state when
//! the user ticked the box and the client allows it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use ostium_grants::{ConsentAnswer, GrantSupervisor};

use super::authorize::run;
use super::back_channel::{FormBody, Refusal};
use super::login::{not_from_a_client, return_url, returned};
use super::pages::{Csrf, error_page, forged, page_builder, render, see_other, session};
use crate::state::Shared;

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    client_name: &'a str,
    scopes: Vec<&'a str>,
    allow_remember: bool,
    csrf: &'a str,
    return_url: &'a str,
}

pub(crate) async fn consent_page(request: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let Some((return_url, form)) = return_url(request.query_string().as_bytes()) else {
        return error_page(&not_from_a_client());
    };
    let directory = shared.directory.load();
    let client = form
        .get("client_id")
        .and_then(|id| directory.clients.get(id));
    // Signed out meanwhile, or the client is gone: the authorization endpoint says
    // what comes next.
    let (Some(client), Some(_)) = (client, session(&request, &shared)) else {
        return see_other(page_builder(StatusCode::SEE_OTHER), &return_url);
    };
    let scopes = form
        .get("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    let csrf = Csrf::of(&request);
    let mut builder = page_builder(StatusCode::OK);
    csrf.keep(&mut builder, &shared);
    render(
        builder,
        &ConsentPage {
            client_name: client.client_name.as_deref().unwrap_or(&client.client_id),
            scopes,
            allow_remember: client.allow_remember_consent,
            csrf: &csrf.token(&shared),
            return_url: &return_url,
        },
    )
}

pub(crate) async fn answer(
    request: HttpRequest,
    body: Result<FormBody, Refusal>,
    shared: web::Data<Shared>,
    grants: web::Data<GrantSupervisor>,
) -> HttpResponse {
    let posted = match body {
        Ok(FormBody(posted)) => posted,
        Err(refusal) => return error_page(&refusal.0),
    };
    if !Csrf::of(&request).accepts(&shared, posted.get("csrf")) {
        return error_page(&forged());
    }
    let Some((_, form)) = posted.get("return_url").and_then(returned) else {
        return error_page(&not_from_a_client());
    };
    let answer = ConsentAnswer {
        allowed: posted.get("decision") == Some("allow"),
        remember: posted.get("remember") == Some("yes"),
    };
    run(&request, &form, &shared, &grants, Some(answer)).await
}
