//! What the back-channel endpoints (token, revocation, introspection) share: reading
//! a bounded form body, authenticating the client that sent it (RFC 6749 §2.3), and
//! answering errors per RFC 6749 §5.2 with `Cache-Control: no-store`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, PRAGMA,
    WWW_AUTHENTICATE,
};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use futures_util::StreamExt;
use ostium_protocol::{Client, ClientCredentials, ErrorCode, Form, OAuthError};
use serde::Serialize;

use crate::state::Shared;

pub(crate) async fn read_form(
    request: &HttpRequest,
    payload: web::Payload,
    max_body_bytes: usize,
) -> Result<Form, OAuthError> {
    require_form_content_type(request)?;
    let body = read_body(request, payload, max_body_bytes).await?;
    Form::parse(&body)
}

/// The credentials the request carries, from the `Authorization` header and the form.
pub(crate) fn credentials(
    request: &HttpRequest,
    form: &Form,
) -> Result<ClientCredentials, OAuthError> {
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .map(|v| {
            v.to_str()
                .map_err(|_| OAuthError::invalid_client("malformed Authorization header"))
        })
        .transpose()?;
    ClientCredentials::from_request(authorization, form)
}

pub(crate) fn authenticate(
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
pub(crate) fn error_response(refused: &OAuthError) -> HttpResponse {
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
pub(crate) fn no_store(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((PRAGMA, HeaderValue::from_static("no-cache")));
    builder
}
