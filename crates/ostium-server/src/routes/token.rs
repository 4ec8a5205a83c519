//! `POST /connect/token` (RFC 6749 §3.2): read the form, authenticate the client,
//! hand the grant to this worker's `GrantSupervisor`, and answer per §5.1 or §5.2.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, PRAGMA,
    WWW_AUTHENTICATE,
};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use futures_util::StreamExt;
use ostium_grants::GrantSupervisor;
use ostium_protocol::{Client, ClientCredentials, ErrorCode, Form, OAuthError, TokenRequest};
use serde::Serialize;

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

async fn read_form(
    request: &HttpRequest,
    payload: web::Payload,
    max_body_bytes: usize,
) -> Result<Form, OAuthError> {
    require_form_content_type(request)?;
    let body = read_body(request, payload, max_body_bytes).await?;
    Form::parse(&body)
}

async fn issue(
    request: &HttpRequest,
    form: &Form,
    shared: &Shared,
    grants: &GrantSupervisor,
) -> Result<Vec<u8>, OAuthError> {
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .map(|v| {
            v.to_str()
                .map_err(|_| OAuthError::invalid_client("malformed Authorization header"))
        })
        .transpose()?;
    let credentials = ClientCredentials::from_request(authorization, form)?;
    let client = authenticate(shared, &credentials)?;
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

fn authenticate(
    shared: &Shared,
    credentials: &ClientCredentials,
) -> Result<Arc<Client>, OAuthError> {
    let client = shared.clients.get(&credentials.client_id).ok_or_else(|| {
        // Debug formatting escapes control characters a client could use to forge log lines.
        tracing::info!(client_id = ?credentials.client_id, "token request from an unknown client");
        OAuthError::invalid_client("client authentication failed")
    })?;
    client.authenticate(credentials).inspect_err(|_| {
        tracing::info!(client_id = ?credentials.client_id, method = credentials.method.name(), "client authentication failed");
    })?;
    Ok(client.clone())
}

/// RFC 6749 §3.2: the token endpoint takes `application/x-www-form-urlencoded` only.
fn require_form_content_type(request: &HttpRequest) -> Result<(), OAuthError> {
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if is_form {
        Ok(())
    } else {
        Err(OAuthError::invalid_request(
            "the token endpoint accepts only application/x-www-form-urlencoded bodies",
        ))
    }
}

/// Reads the body up to `limit` bytes; a larger one is refused without reading it all.
async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, OAuthError> {
    let too_large = || OAuthError::invalid_request(format!("request body exceeds {limit} bytes"));
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(512).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| OAuthError::invalid_request("could not read the request body"))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
}

/// RFC 6749 §5.2. `invalid_client` is a 401 with a Basic challenge (RFC 7235 requires
/// `WWW-Authenticate` on every 401).
fn error_response(refused: &OAuthError) -> HttpResponse {
    let status = StatusCode::from_u16(refused.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = no_store(HttpResponse::build(status));
    if refused.code == ErrorCode::InvalidClient {
        response.insert_header((
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="ostium", charset="UTF-8""#),
        ));
    }
    response.json(ErrorBody {
        error: refused.code.as_str(),
        error_description: &refused.description,
    })
}

/// RFC 6749 §5.1: responses carrying tokens must not be cached.
fn no_store(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((PRAGMA, HeaderValue::from_static("no-cache")));
    builder
}
