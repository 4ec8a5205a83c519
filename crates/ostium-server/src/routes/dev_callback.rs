//! `GET /dev/callback`, served by `ostium serve --dev` only: the demo web client's
//! redirect URI, playing the client's part so that a new user sees the whole
//! authorization code flow in the browser. It exchanges the code it is brought,
//! with the demo's fixed PKCE verifier, through this worker's grants (as a request
//! to the token endpoint would), and shows the request, the tokens and what the ID
//! token says. Development only: it shows tokens to whoever holds the browser.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostium_grants::{GrantSupervisor, Requester};
use ostium_protocol::Form;

use super::pages::{page_builder, render};
use crate::state::Shared;

/// The demo client the development callback redeems codes for.
#[derive(Debug, Clone)]
pub struct DevCallback {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_verifier: String,
}

#[derive(Template)]
#[template(path = "dev_callback.html")]
struct CallbackPage {
    error: Option<String>,
    request: String,
    response: String,
    id_token_claims: Option<String>,
}

pub(crate) async fn dev_callback(
    request: HttpRequest,
    shared: web::Data<Shared>,
    grants: web::Data<GrantSupervisor>,
) -> HttpResponse {
    let Some(demo) = &shared.dev_callback else {
        return page_builder(StatusCode::NOT_FOUND).finish();
    };
    let page = match Form::parse(request.query_string().as_bytes()) {
        Err(refused) => failed(refused.full_description().into_owned()),
        Ok(query) => match (query.get("code"), query.get("error")) {
            (Some(code), None) => exchange(&shared, &grants, demo, code).await,
            (_, error) => failed(format!(
                "{}: {}",
                error.unwrap_or("no code"),
                query.get("error_description").unwrap_or_default()
            )),
        },
    };
    render(page_builder(StatusCode::OK), &page)
}

async fn exchange(
    shared: &Shared,
    grants: &GrantSupervisor,
    demo: &DevCallback,
    code: &str,
) -> CallbackPage {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("client_id", &demo.client_id)
        .append_pair("code", code)
        .append_pair("redirect_uri", &demo.redirect_uri)
        .append_pair("code_verifier", &demo.code_verifier)
        .finish();
    let request = format!("POST {}/connect/token\n\n{body}", shared.issuer);
    let directory = shared.directory.load();
    let (Some(client), Ok(form)) = (
        directory.clients.get(&demo.client_id),
        Form::parse(body.as_bytes()),
    ) else {
        return failed("the demo client is not configured".into());
    };
    let requester = Requester::new(client.clone(), directory.catalog.clone(), None);
    let answer = grants.issue(requester, &form).await;
    let (response, id_token_claims) = match answer {
        Ok(tokens) => {
            let claims = tokens.id_token.as_deref().and_then(claims_of);
            (pretty(&tokens), claims)
        }
        Err(refused) => (pretty(&refused.body()), None),
    };
    CallbackPage {
        error: None,
        request,
        response,
        id_token_claims,
    }
}

fn failed(error: String) -> CallbackPage {
    CallbackPage {
        error: Some(error),
        request: String::new(),
        response: String::new(),
        id_token_claims: None,
    }
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The payload of a JWT, pretty-printed; the signature was this server's own.
fn claims_of(jwt: &str) -> Option<String> {
    let payload = URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1)?).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    Some(pretty(&claims))
}
