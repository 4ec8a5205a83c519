//! Every route Ostium serves, registered in one place.
//!
//! - `token`: `POST /connect/token` (RFC 6749 §3.2).
//! - `revocation`: `POST /connect/revocation` (RFC 7009).
//! - `introspection`: `POST /connect/introspect` (RFC 7662).
//! - `back_channel`: form reading, client authentication and errors they share.
//! - `discovery`: OpenID Connect Discovery, RFC 8414 metadata, the JWKS.
//! - `ops`: `/healthz`, `/readyz`, `/metrics`, for orchestrators and Prometheus.
//! - `authorize`: `GET|POST /connect/authorize` (OpenID Connect Core §3).
//! - `login`, `consent`, `end_session`: the pages a person sees (sign in, allow a
//!   client, sign out); `pages`: what they share (headers, cookies, CSRF).
//! - `userinfo`: `GET|POST /connect/userinfo` (OpenID Connect Core §5.3).
//! - `dev_callback`: `GET /dev/callback`, the demo client of `serve --dev` (404
//!   unless the node was built with it).

mod authorize;
mod back_channel;
mod consent;
mod dev_callback;
mod discovery;
mod end_session;
mod introspection;
mod login;
mod ops;
mod pages;
mod revocation;
mod token;
mod userinfo;

use actix_web::{guard, web};

pub(crate) use back_channel::error_response;
pub use dev_callback::DevCallback;
pub(crate) use discovery::metadata_documents;

/// Every public path; each resource is named by its path, so metrics can label a
/// request with a `&'static str` instead of formatting the matched pattern.
pub(crate) const PATHS: &[&str] = &[
    TOKEN,
    REVOCATION,
    INTROSPECTION,
    OPENID_CONFIGURATION,
    AUTHORIZATION_SERVER_METADATA,
    JWKS,
    AUTHORIZE,
    USERINFO,
    END_SESSION,
    LOGIN,
    CONSENT,
    STYLESHEET,
    DEV_CALLBACK,
    HEALTHZ,
    READYZ,
    METRICS,
];

const TOKEN: &str = "/connect/token";
const REVOCATION: &str = "/connect/revocation";
const INTROSPECTION: &str = "/connect/introspect";
const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
const AUTHORIZATION_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";
const JWKS: &str = "/.well-known/jwks";
const AUTHORIZE: &str = "/connect/authorize";
const USERINFO: &str = "/connect/userinfo";
const END_SESSION: &str = "/connect/endsession";
const LOGIN: &str = "/account/login";
const CONSENT: &str = "/consent";
const STYLESHEET: &str = "/account/style.css";
const DEV_CALLBACK: &str = "/dev/callback";
const HEALTHZ: &str = "/healthz";
const READYZ: &str = "/readyz";
const METRICS: &str = "/metrics";

/// Registers the public routes; the operations routes too unless a management
/// listener serves them (`ops`).
pub(crate) fn configure(cfg: &mut web::ServiceConfig, ops: bool) {
    let post_only = |path: &'static str, route: actix_web::Route| {
        web::resource(path)
            .name(path)
            .route(route)
            .route(web::to(method_not_allowed))
    };
    cfg.service(post_only(TOKEN, web::post().to(token::token)))
        .service(post_only(
            REVOCATION,
            web::post().to(revocation::revocation),
        ))
        .service(post_only(
            INTROSPECTION,
            web::post().to(introspection::introspection),
        ))
        .service(get(
            OPENID_CONFIGURATION,
            web::route().to(discovery::openid_configuration),
        ))
        .service(get(
            AUTHORIZATION_SERVER_METADATA,
            web::route().to(discovery::authorization_server_metadata),
        ))
        .service(get(JWKS, web::route().to(discovery::jwks)))
        .service(get_or_post(
            AUTHORIZE,
            web::route().to(authorize::authorize_get),
            web::post().to(authorize::authorize_post),
        ))
        .service(get_or_post(
            USERINFO,
            web::route().to(userinfo::userinfo_get),
            web::post().to(userinfo::userinfo_post),
        ))
        .service(get_or_post(
            END_SESSION,
            web::route().to(end_session::end_session_get),
            web::post().to(end_session::end_session_post),
        ))
        .service(get_or_post(
            LOGIN,
            web::route().to(login::login_page),
            web::post().to(login::sign_in),
        ))
        .service(get_or_post(
            CONSENT,
            web::route().to(consent::consent_page),
            web::post().to(consent::answer),
        ))
        .service(get(STYLESHEET, web::route().to(pages::stylesheet)))
        .service(get(
            DEV_CALLBACK,
            web::route().to(dev_callback::dev_callback),
        ));
    if ops {
        configure_ops(cfg);
    }
}

/// Registers `/healthz`, `/readyz` and `/metrics`: on the public listener, or alone
/// on the management listener (`[server] management_listen`).
pub(crate) fn configure_ops(cfg: &mut web::ServiceConfig) {
    cfg.service(get(HEALTHZ, web::route().to(ops::healthz)))
        .service(get(READYZ, web::route().to(ops::readyz)))
        .service(get(METRICS, web::route().to(ops::metrics)));
}

/// A resource answering GET and HEAD (RFC 9110 §9.3.2: the same headers, no body),
/// named by its path.
fn get(path: &'static str, route: actix_web::Route) -> actix_web::Resource {
    let get_or_head = guard::Any(guard::Get()).or(guard::Head());
    web::resource(path)
        .name(path)
        .route(route.guard(get_or_head))
}

/// A resource answering GET, HEAD and POST (the browser endpoints), named by its
/// path; other methods get 405.
fn get_or_post(
    path: &'static str,
    get: actix_web::Route,
    post: actix_web::Route,
) -> actix_web::Resource {
    let get_or_head = guard::Any(guard::Get()).or(guard::Head());
    web::resource(path)
        .name(path)
        .route(get.guard(get_or_head))
        .route(post)
        .route(web::to(|| async {
            actix_web::HttpResponse::MethodNotAllowed()
                .insert_header((actix_web::http::header::ALLOW, "GET, HEAD, POST"))
                .finish()
        }))
}

async fn method_not_allowed() -> actix_web::HttpResponse {
    actix_web::HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, "POST"))
        .finish()
}
