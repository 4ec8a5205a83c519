//! CORS (the Fetch standard) for the endpoints a browser application calls from
//! its own origin: the token endpoint, userinfo, discovery and the JWKS, and only
//! for the origins some client lists in `allowed_cors_origins` (IdentityServer's
//! rule). Never for the authorization endpoint or the pages, which a browser
//! navigates to rather than fetches. A request from another origin gets no CORS
//! headers, so the browser keeps the answer from the script that asked.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, HeaderValue, ORIGIN, VARY,
};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use crate::state::Shared;

/// The paths CORS applies to.
const CORS_PATHS: [&str; 5] = [
    "/connect/token",
    "/connect/userinfo",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/.well-known/jwks",
];

/// Answers preflights of the CORS paths and adds `Access-Control-Allow-Origin` to
/// their answers, for an allowed `Origin`.
pub(crate) async fn allow_configured_origins(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let allowed = allowed_origin(&request);
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key("access-control-request-method");
    if preflight && CORS_PATHS.contains(&request.path()) {
        let mut response = HttpResponse::NoContent();
        if let Some(origin) = &allowed {
            response
                .insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()))
                .insert_header((ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                .insert_header((ACCESS_CONTROL_ALLOW_HEADERS, "Authorization, Content-Type"))
                .insert_header((ACCESS_CONTROL_MAX_AGE, "600"));
        }
        response.insert_header((VARY, "Origin"));
        return Ok(request
            .into_response(response.finish())
            .map_into_right_body());
    }
    // The answer's own body type, unboxed: this runs on every request.
    let mut response = next.call(request).await?.map_into_left_body();
    if let Some(origin) = allowed {
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

/// The request's `Origin`, if it goes to a CORS path and a client allows it.
fn allowed_origin(request: &ServiceRequest) -> Option<HeaderValue> {
    if !CORS_PATHS.contains(&request.path()) {
        return None;
    }
    let origin = request.headers().get(ORIGIN)?;
    let shared = request.app_data::<web::Data<Shared>>()?;
    let allowed = shared
        .directory
        .load()
        .cors_origins
        .contains(origin.to_str().ok()?);
    allowed.then(|| origin.clone())
}
