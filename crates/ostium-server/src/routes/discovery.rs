//! Metadata for clients to find us: OpenID Connect Discovery 1.0 §3, RFC 8414, and
//! the JWKS (RFC 7517 §5).
//!
//! The documents list only what this server actually does, so a client library
//! never picks an endpoint or method that would fail. They are rendered with each
//! directory (at start and at every reload) and served as bytes.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::{self, Bytes};
use ostium_grants::GrantRegistry;
use ostium_protocol::authorize::ResponseType;
use ostium_protocol::pkce::CodeChallengeMethod;
use ostium_protocol::{ClientAuthMethod, GrantType, ResourceCatalog, ResponseMode};
use ostium_tokens::SigningAlgorithm;
use serde_json::{Value, json};

use crate::state::Shared;

/// Renders `(openid-configuration, oauth-authorization-server)` for `issuer`, with
/// the grant types the registry serves.
pub(crate) fn metadata_documents(
    issuer: &str,
    catalog: &ResourceCatalog,
    grants: &GrantRegistry,
    algorithm: SigningAlgorithm,
) -> (Bytes, Bytes) {
    // The browser grants are served by the authorization endpoint, alongside the
    // code exchange; `hybrid` is not a grant type name in metadata (RFC 8414 §2).
    let mut grant_types: Vec<&str> = grants.grant_types().map(|g| g.name()).collect();
    if grants.serves(&GrantType::AuthorizationCode) {
        grant_types.push(GrantType::Implicit.name());
    }
    let endpoint = |path: &str| format!("{issuer}{path}");
    let auth_methods: Vec<&str> = [
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::None,
    ]
    .iter()
    .map(|m| m.name())
    .collect();
    let common = json!({
        "issuer": issuer,
        "jwks_uri": endpoint("/.well-known/jwks"),
        "authorization_endpoint": endpoint("/connect/authorize"),
        "token_endpoint": endpoint("/connect/token"),
        "revocation_endpoint": endpoint("/connect/revocation"),
        "introspection_endpoint": endpoint("/connect/introspect"),
        "grant_types_supported": grant_types,
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": catalog.all_scopes().collect::<Vec<_>>(),
        "response_types_supported": ResponseType::ALL,
        "response_modes_supported": ResponseMode::ALL.map(ResponseMode::as_str),
        "code_challenge_methods_supported": CodeChallengeMethod::ALL.map(CodeChallengeMethod::as_str),
        "authorization_response_iss_parameter_supported": true,
    });
    let mut openid = common.clone();
    if let Value::Object(members) = &mut openid {
        for (name, value) in [
            ("userinfo_endpoint", json!(endpoint("/connect/userinfo"))),
            (
                "end_session_endpoint",
                json!(endpoint("/connect/endsession")),
            ),
            ("subject_types_supported", json!(["public"])),
            (
                "id_token_signing_alg_values_supported",
                json!([algorithm.name()]),
            ),
            ("claims_supported", json!(catalog.claims_supported())),
            ("claims_parameter_supported", json!(false)),
            ("request_parameter_supported", json!(false)),
            ("request_uri_parameter_supported", json!(false)),
        ] {
            members.insert(name.into(), value);
        }
    }
    (
        Bytes::from(openid.to_string()),
        Bytes::from(common.to_string()),
    )
}

fn json_document(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .body(body)
}

pub(crate) async fn openid_configuration(shared: web::Data<Shared>) -> HttpResponse {
    json_document(shared.directory.load().openid_configuration.clone())
}

pub(crate) async fn authorization_server_metadata(shared: web::Data<Shared>) -> HttpResponse {
    json_document(
        shared
            .directory
            .load()
            .authorization_server_metadata
            .clone(),
    )
}

pub(crate) async fn jwks(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/jwk-set+json"))
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .body(shared.keys.jwks_json().to_string())
}
