//! `GET|POST /connect/authorize` (OpenID Connect Core §3.1.2, RFC 6749 §4.1.1): the
//! request is read from the query or the form, checked for its client by the
//! protocol crate, and run by this worker's `authorize` actor with the browser's
//! login session. The outcome is a trip to the login or consent page (which come
//! back here, or finish the request themselves), or the response at the client's
//! redirect URI. Nothing is ever sent to a redirect URI the client did not
//! register: until it is known, errors are shown on Ostium's own page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ostium_grants::{Authorization, AuthorizeOutcome, ConsentAnswer, GrantSupervisor, Requester};
use ostium_protocol::authorize::{self, AuthorizeError, AuthorizeRequest};
use ostium_protocol::{Form, OAuthError};

use super::back_channel::{FormBody, Refusal};
use super::pages::{deliver, error_page, page_builder, see_other, session, slide_session};
use crate::state::Shared;

/// Where the login and consent pages send the browser back to: this endpoint with
/// the request's parameters. Only a URL that starts so is followed.
pub(crate) const RETURN_PREFIX: &str = "/connect/authorize?";

pub(crate) async fn authorize_get(
    request: HttpRequest,
    shared: web::Data<Shared>,
    grants: web::Data<GrantSupervisor>,
) -> HttpResponse {
    match Form::parse(request.query_string().as_bytes()) {
        Ok(form) => run(&request, &form, &shared, &grants, None).await,
        Err(refused) => error_page(&refused),
    }
}

pub(crate) async fn authorize_post(
    request: HttpRequest,
    form: Result<FormBody, Refusal>,
    shared: web::Data<Shared>,
    grants: web::Data<GrantSupervisor>,
) -> HttpResponse {
    match form {
        Ok(FormBody(form)) => run(&request, &form, &shared, &grants, None).await,
        Err(refusal) => error_page(&refusal.0),
    }
}

/// The authorization request `return_url` names, as the login and consent pages
/// were given it: `None` for anything but this endpoint with its parameters.
pub(crate) fn returned_form(return_url: &str) -> Option<Form> {
    let query = return_url.strip_prefix(RETURN_PREFIX)?;
    Form::parse(query.as_bytes()).ok()
}

/// Runs the authorization request `form`, with the user's answer when it comes
/// from the consent page.
pub(crate) async fn run(
    request: &HttpRequest,
    form: &Form,
    shared: &Shared,
    grants: &GrantSupervisor,
    consent: Option<ConsentAnswer>,
) -> HttpResponse {
    let (requester, checked) = match check(request, form, shared) {
        Ok(checked) => checked,
        Err(refused) => return refuse(&refused, &shared.issuer),
    };
    let session = session(request, shared);
    let authorization = Authorization {
        request: checked.clone(),
        session: session.clone(),
        consent,
    };
    let outcome = grants.authorize(requester, authorization).await;
    let mut builder = page_builder(StatusCode::SEE_OTHER);
    match outcome {
        Ok(AuthorizeOutcome::Login) => {
            // The login answers `prompt=login`; coming back with it would ask again.
            let back = format!("{RETURN_PREFIX}{}", form.without("prompt").encode());
            let login = format!("/account/login?{}", encode(&[("return_url", &back)]));
            see_other(builder, &login)
        }
        Ok(AuthorizeOutcome::Consent) => {
            let back = format!("{RETURN_PREFIX}{}", form.encode());
            let consent = format!("/consent?{}", encode(&[("return_url", &back)]));
            see_other(builder, &consent)
        }
        Ok(AuthorizeOutcome::Respond(params)) => {
            if let Some(session) = &session {
                slide_session(&mut builder, shared, session);
            }
            let redirect = authorize::respond(
                &checked.redirect_uri,
                checked.response_mode,
                params,
                checked.state.as_deref(),
                &shared.issuer,
            );
            deliver(builder, &redirect)
        }
        Err(refused) => {
            log_cause(&refused);
            let redirect = refused.redirect(
                &checked.redirect_uri,
                checked.response_mode,
                checked.state.as_deref(),
                &shared.issuer,
            );
            deliver(builder, &redirect)
        }
    }
}

/// The request checked against its client, in the directory of this moment.
#[expect(
    clippy::result_large_err,
    reason = "the protocol crate's refusal carries the redirect URI it goes back to; one \
              per browser round trip"
)]
fn check(
    request: &HttpRequest,
    form: &Form,
    shared: &Shared,
) -> Result<(Requester, AuthorizeRequest), AuthorizeError> {
    let directory = shared.directory.load();
    let client = directory
        .clients
        .get(authorize::client_id(form)?)
        .ok_or_else(AuthorizeError::unknown_client)?
        .clone();
    let checked = AuthorizeRequest::parse(form, &client, &directory.catalog)?;
    let address = shared.trusted_proxies.client_address(request);
    Ok((
        Requester::new(client, directory.catalog.clone(), address),
        checked,
    ))
}

/// A refusal before the request reached its actor: at the client when its redirect
/// URI is known to be the client's, else on the error page.
fn refuse(refused: &AuthorizeError, issuer: &str) -> HttpResponse {
    match refused.redirect(issuer) {
        Some(redirect) => deliver(page_builder(StatusCode::SEE_OTHER), &redirect),
        None => error_page(refused.error()),
    }
}

fn log_cause(refused: &OAuthError) {
    if let Some(cause) = refused.cause() {
        tracing::warn!(error = %refused.code, cause = %ostium_protocol::Causes(cause), "authorization refused");
    }
}

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
