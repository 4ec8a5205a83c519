//! What the back-channel endpoints (token, revocation, introspection) share: the form
//! body, read within its limit ([`FormBody`], an extractor), the client that sent it
//! authenticated (RFC 6749 §2.3), and answers: JSON with `Cache-Control: no-store`,
//! or the error of RFC 6749 §5.2.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue,
    PRAGMA, WWW_AUTHENTICATE,
};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use ostium_grants::Requester;
use ostium_protocol::{Causes, Client, ClientCredentials, ErrorCode, Form, OAuthError};
use serde::Serialize;

use crate::directory::Directory;
use crate::state::Shared;

/// A form-encoded request body (RFC 6749 §3.2), read up to `[server] max_body_bytes`
/// and within `[server] body_timeout`.
pub(crate) struct FormBody(pub Form);

impl FromRequest for FormBody {
    type Error = Refusal;
    type Future = LocalBoxFuture<'static, Result<Self, Refusal>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let payload = payload.take();
        Box::pin(async move {
            let Some(shared) = request.app_data::<web::Data<Shared>>() else {
                return Err(OAuthError::server_error().with_cause(NoSharedState).into());
            };
            let (limit, patience) = (shared.max_body_bytes, shared.body_timeout);
            require_form_content_type(&request)?;
            let body = actix_web::rt::time::timeout(patience, read_body(&request, payload, limit))
                .await
                .map_err(|_| {
                    Refusal::timed_out(OAuthError::invalid_request(
                        "the request body was not received in time",
                    ))
                })??;
            Ok(Self(Form::parse(&body)?))
        })
    }
}

/// The app was built without the workers' shared state: a bug, never the client's.
#[derive(Debug, thiserror::Error)]
#[error("the workers' shared state is not registered with the app")]
struct NoSharedState;

/// The credentials the request carries, from the `Authorization` header and the form.
/// Two `Authorization` headers are ambiguous, so refused, whichever one is right.
pub(crate) fn credentials(
    request: &HttpRequest,
    form: &Form,
) -> Result<ClientCredentials, OAuthError> {
    let mut headers = request.headers().get_all(AUTHORIZATION);
    let authorization = headers
        .next()
        .map(|v| {
            v.to_str()
                .map_err(|_| OAuthError::invalid_client("malformed Authorization header"))
        })
        .transpose()?;
    if headers.next().is_some() {
        return Err(OAuthError::invalid_request(
            "more than one Authorization header was sent",
        ));
    }
    ClientCredentials::from_request(authorization, form)
}

/// Who sent `request`: the configured client its credentials prove it is, with the
/// scopes and resources of the same directory (a reload between the two cannot
/// pair a client with another configuration's catalog), and its address.
pub(crate) fn authenticate(
    request: &HttpRequest,
    form: &Form,
    shared: &Shared,
) -> Result<Requester, OAuthError> {
    let directory = shared.directory.load();
    let client = authenticate_in(&directory, &credentials(request, form)?)?;
    let address = shared.trusted_proxies.client_address(request);
    Ok(Requester::new(client, directory.catalog.clone(), address))
}

pub(crate) fn authenticate_credentials(
    credentials: &ClientCredentials,
    shared: &Shared,
) -> Result<Arc<Client>, OAuthError> {
    authenticate_in(&shared.directory.load(), credentials)
}

fn authenticate_in(
    directory: &Directory,
    credentials: &ClientCredentials,
) -> Result<Arc<Client>, OAuthError> {
    let client = directory
        .clients
        .get(&credentials.client_id)
        .ok_or_else(|| {
            // Not the id itself: a client that swapped its id and secret would have its
            // secret written to the log. A digest still lets an operator match repeats.
            tracing::info!(
                client_id_sha256 = %short_digest(&credentials.client_id),
                "token request from an unknown client"
            );
            OAuthError::invalid_client("client authentication failed")
        })?;
    client.authenticate(credentials).inspect_err(|_| {
        tracing::info!(client_id = ?credentials.client_id, method = credentials.method.name(), "client authentication failed");
    })?;
    Ok(client.clone())
}

/// The first 16 hex digits of the SHA-256 of `value`: enough to tell repeats apart
/// in a log, not enough to learn anything about a secret.
fn short_digest(value: &str) -> String {
    let mut hex = ostium_state::TokenDigest::of_handle(value).to_hex();
    hex.truncate(16);
    hex
}

/// RFC 6749 §3.2 and Appendix B: `application/x-www-form-urlencoded` in UTF-8, not
/// compressed. A declared charset other than UTF-8 is refused rather than read as
/// UTF-8, and a `Content-Encoding` gets 415 rather than being parsed as plain text.
fn require_form_content_type(request: &HttpRequest) -> Result<(), Refusal> {
    if let Some(encoding) = request.headers().get(CONTENT_ENCODING)
        && !encoding.as_bytes().eq_ignore_ascii_case(b"identity")
    {
        return Err(Refusal::unsupported_media_type(
            OAuthError::invalid_request("request bodies must not be compressed (Content-Encoding)"),
        ));
    }
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut parts = content_type.split(';');
    let is_form = parts.next().is_some_and(|mime| {
        mime.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the token endpoint accepts only application/x-www-form-urlencoded bodies",
        )
        .into());
    }
    let charset = parts
        .filter_map(|param| param.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, value)| value.trim().trim_matches('"'));
    match charset {
        None => Ok(()),
        Some(charset) if charset.eq_ignore_ascii_case("utf-8") => Ok(()),
        Some(_) => Err(OAuthError::invalid_request(
            "form bodies must be UTF-8 (RFC 6749 Appendix B); another charset was declared",
        )
        .into()),
    }
}

/// Reads the body up to `limit` bytes; a larger one is refused without reading it all.
async fn read_body(
    request: &HttpRequest,
    mut payload: Payload,
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

/// `200` with `body` as JSON, not to be cached.
pub(crate) fn json(body: &impl Serialize) -> HttpResponse {
    no_store(HttpResponse::Ok()).json(body)
}

/// A refused request, as the client sees it: the OAuth error, and the HTTP status
/// when the HTTP layer (not OAuth) decides it.
#[derive(Debug)]
pub(crate) struct Refusal(pub OAuthError, Option<StatusCode>);

impl Refusal {
    fn unsupported_media_type(refused: OAuthError) -> Self {
        Self(refused, Some(StatusCode::UNSUPPORTED_MEDIA_TYPE))
    }

    /// 408, and the connection closed: what is left of the body never arrives.
    fn timed_out(refused: OAuthError) -> Self {
        Self(refused, Some(StatusCode::REQUEST_TIMEOUT))
    }
}

impl From<OAuthError> for Refusal {
    fn from(refused: OAuthError) -> Self {
        Self(refused, None)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        self.1.unwrap_or_else(|| {
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::BAD_REQUEST)
        })
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = error_response(&self.0);
        if let Some(status) = self.1 {
            *response.status_mut() = status;
        }
        if self.1 == Some(StatusCode::REQUEST_TIMEOUT) {
            response
                .head_mut()
                .set_connection_type(ConnectionType::Close);
        }
        response
    }
}

/// RFC 6749 §5.2. `invalid_client` is a 401 with a Basic challenge (RFC 7235 requires
/// `WWW-Authenticate` on every 401). A refusal with a cause (the state unavailable, a
/// failure inside) is logged with it here, where it leaves the server.
pub(crate) fn error_response(refused: &OAuthError) -> HttpResponse {
    if let Some(cause) = refused.cause() {
        match refused.code {
            ErrorCode::ServerError => {
                tracing::error!(error = %refused.code, cause = %Causes(cause), "request failed");
            }
            _ => tracing::warn!(error = %refused.code, cause = %Causes(cause), "request refused"),
        }
    }
    let status = StatusCode::from_u16(refused.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = no_store(HttpResponse::build(status));
    if refused.code == ErrorCode::InvalidClient {
        response.insert_header((
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="ostium", charset="UTF-8""#),
        ));
    }
    response.json(refused.body())
}

/// RFC 6749 §5.1: responses carrying tokens must not be cached.
pub(crate) fn no_store(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((PRAGMA, HeaderValue::from_static("no-cache")));
    builder
}
