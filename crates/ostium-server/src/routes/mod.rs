//! Every route Ostium serves, registered in one place.
//!
//! - `token`: `POST /connect/token` (RFC 6749 §3.2).
//! - `revocation`: `POST /connect/revocation` (RFC 7009).
//! - `introspection`: `POST /connect/introspect` (RFC 7662).
//! - `back_channel`: form reading, client authentication and errors they share.
//! - `discovery`: OpenID Connect Discovery, RFC 8414 metadata, the JWKS.
//! - `ops`: `/healthz`, `/readyz`, `/metrics`, for orchestrators and Prometheus.

mod back_channel;
mod discovery;
mod introspection;
mod ops;
mod revocation;
mod token;

use actix_web::web;

pub(crate) use discovery::metadata_documents;

/// Registers the public routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/connect/token")
            .route(web::post().to(token::token))
            .route(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/connect/revocation")
            .route(web::post().to(revocation::revocation))
            .route(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/connect/introspect")
            .route(web::post().to(introspection::introspection))
            .route(web::to(method_not_allowed)),
    )
    .route(
        "/.well-known/openid-configuration",
        web::get().to(discovery::openid_configuration),
    )
    .route(
        "/.well-known/oauth-authorization-server",
        web::get().to(discovery::authorization_server_metadata),
    )
    .route("/.well-known/jwks", web::get().to(discovery::jwks))
    .route("/healthz", web::get().to(ops::healthz))
    .route("/readyz", web::get().to(ops::readyz))
    .route("/metrics", web::get().to(ops::metrics));
}

async fn method_not_allowed() -> actix_web::HttpResponse {
    actix_web::HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, "POST"))
        .finish()
}
