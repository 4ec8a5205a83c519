//! `POST /connect/token` (RFC 6749 §3.2): read the form, authenticate the client,
//! hand the grant to this worker's `GrantSupervisor`, and answer per §5.1 or §5.2.

use actix_web::{HttpRequest, HttpResponse, web};
use ostium_grants::GrantSupervisor;
use ostium_protocol::{Form, OAuthError, TokenRequest};

use super::back_channel::{authenticate, credentials, error_response, no_store, read_form};
use crate::state::Shared;

pub(crate) async fn token(
    request: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    grants: web::Data<GrantSupervisor>,
) -> HttpResponse {
    let form = match read_form(&request, payload, shared.max_body_bytes).await {
        Ok(form) => form,
        Err(refused) => return refuse(&shared, "unknown", &refused),
    };
    match issue(&request, &form, &shared, &grants).await {
        Ok(body) => no_store(HttpResponse::Ok())
            .content_type("application/json")
            .body(body),
        Err(refused) => refuse(&shared, grant_label(&form), &refused),
    }
}

async fn issue(
    request: &HttpRequest,
    form: &Form,
    shared: &Shared,
    grants: &GrantSupervisor,
) -> Result<Vec<u8>, OAuthError> {
    let client = authenticate(shared, &credentials(request, form)?)?;
    let token_request = TokenRequest::parse(form, &client)?;
    let response = grants.issue(client, token_request).await?;
    serde_json::to_vec(&response).map_err(|e| {
        tracing::error!(error = %e, "could not encode a token response");
        OAuthError::server_error()
    })
}

/// A bounded label for metrics: known grant types by name, anything else lumped.
fn grant_label(form: &Form) -> &'static str {
    match form.get("grant_type") {
        Some("client_credentials") => "client_credentials",
        Some("password") => "password",
        Some("refresh_token") => "refresh_token",
        Some(_) => "other",
        None => "unknown",
    }
}

fn refuse(shared: &Shared, grant_type: &'static str, refused: &OAuthError) -> HttpResponse {
    shared
        .grant_context
        .metrics
        .request_refused(grant_type, refused.code.as_str());
    error_response(refused)
}
