//! `GET|POST /connect/userinfo` (OpenID Connect Core §5.3): the user's claims for a
//! bearer access token (RFC 6750 §2.1, the `Authorization` header; §2.2, a form
//! body's `access_token`), refused with RFC 6750 §3's `WWW-Authenticate` challenge.

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use ostium_protocol::{ErrorCode, OAuthError};

use super::back_channel::{FormBody, Refusal, no_store};
use crate::state::Shared;

pub(crate) async fn userinfo_get(request: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    answer(&shared, bearer(&request, None)).await
}

pub(crate) async fn userinfo_post(
    request: HttpRequest,
    body: Result<FormBody, Refusal>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    match body {
        Ok(FormBody(form)) => answer(&shared, bearer(&request, form.get("access_token"))).await,
        Err(refusal) => challenge(&refusal.0),
    }
}

/// The token, from the one place the request put it. `Ok(None)`: no token at all.
fn bearer<'a>(
    request: &'a HttpRequest,
    in_body: Option<&'a str>,
) -> Result<Option<String>, OAuthError> {
    let mut headers = request.headers().get_all(AUTHORIZATION);
    let header = headers.next();
    if headers.next().is_some() {
        return Err(OAuthError::invalid_request(
            "more than one Authorization header",
        ));
    }
    let in_header = match header {
        None => None,
        Some(value) => {
            let value = value.to_str().unwrap_or_default();
            let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                return Err(OAuthError::invalid_request(
                    "the Authorization header must be `Bearer <access token>`",
                ));
            }
            Some(token.trim())
        }
    };
    match (in_header, in_body) {
        // RFC 6750 §2: a client must not use more than one method.
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "the access token was sent both in the header and in the body",
        )),
        (token, None) | (None, token) => Ok(token.map(str::to_owned)),
    }
}

async fn answer(shared: &Shared, token: Result<Option<String>, OAuthError>) -> HttpResponse {
    let token = match token {
        Ok(Some(token)) => token,
        // RFC 6750 §3.1: a request with no token gets the bare challenge.
        Ok(None) => {
            return no_store(HttpResponse::build(StatusCode::UNAUTHORIZED))
                .insert_header((
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="ostium""#),
                ))
                .finish();
        }
        Err(refused) => return challenge(&refused),
    };
    let catalog = shared.directory.load().catalog.clone();
    match ostium_grants::userinfo::userinfo(&shared.grant_context, &shared.issuer, &catalog, &token)
        .await
    {
        Ok(claims) => no_store(HttpResponse::Ok()).json(claims),
        Err(refused) => challenge(&refused),
    }
}

/// RFC 6750 §3: the error in a `Bearer` challenge (and, for errors of the token
/// state, the token endpoint's JSON body).
fn challenge(refused: &OAuthError) -> HttpResponse {
    let status = match refused.code {
        ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
        _ => return super::back_channel::error_response(refused),
    };
    // The description holds no `"` (`full_description` turns them into `'`).
    let description = refused.full_description();
    let value = format!(
        r#"Bearer realm="ostium", error="{}", error_description="{description}""#,
        refused.code
    );
    let mut response = no_store(HttpResponse::build(status));
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.insert_header((WWW_AUTHENTICATE, value));
    }
    response.json(refused.body())
}
