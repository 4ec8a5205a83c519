//! `POST /connect/token` (RFC 6749 §3.2): authenticate the client, hand the form to
//! this worker's `GrantSupervisor`, whose registered grants decide the rest, and
//! answer per §5.1 or §5.2. Every refusal is counted by grant type and error code.

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use ostium_grants::GrantSupervisor;
use ostium_protocol::{Form, OAuthError, TokenResponse};

use super::back_channel::{FormBody, Refusal, authenticate, error_response, json};
use crate::state::Shared;

pub(crate) async fn token(
    request: HttpRequest,
    form: Result<FormBody, Refusal>,
    shared: web::Data<Shared>,
    grants: web::Data<GrantSupervisor>,
) -> HttpResponse {
    let form = match form {
        Ok(FormBody(form)) => form,
        Err(refusal) => {
            count_refusal(&grants, None, &refusal.0);
            return refusal.error_response();
        }
    };
    match issue(&request, &form, &shared, &grants).await {
        Ok(response) => json(&response),
        Err(refused) => refuse(&grants, Some(&form), &refused),
    }
}

async fn issue(
    request: &HttpRequest,
    form: &Form,
    shared: &Shared,
    grants: &GrantSupervisor,
) -> Result<TokenResponse, OAuthError> {
    grants
        .issue(authenticate(request, form, shared)?, form)
        .await
}

fn refuse(grants: &GrantSupervisor, form: Option<&Form>, refused: &OAuthError) -> HttpResponse {
    count_refusal(grants, form, refused);
    error_response(refused)
}

fn count_refusal(grants: &GrantSupervisor, form: Option<&Form>, refused: &OAuthError) {
    grants
        .context()
        .metrics
        .request_refused(grants.label(form), refused.code.as_str());
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::http::StatusCode;
    use actix_web::http::header::{ALLOW, CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
    use actix_web::{App, test};
    use ostium_grants::{Argon2PasswordValidator, GrantRegistry};
    use ostium_state::TokenStore;
    use ostium_tokens::{KeyRing, SigningAlgorithm, SigningKey};
    use serde_json::Value;

    use super::*;
    use crate::config::{Config, SecretPolicy};
    use crate::routes;

    const CONFIG: &str = r#"
[server]
issuer = "http://127.0.0.1:8080"
listen = "127.0.0.1:8080"
data_dir = "unused"

[[api_scopes]]
name = "orders.read"

[[api_resources]]
name = "urn:orders"
scopes = ["orders.read"]

[[clients]]
client_id = "machine"
client_secrets = ["machine-secret"]
allowed_grant_types = "client_credentials"
allowed_scopes = ["orders.read"]
"#;

    /// The public routes over the in-memory state, as one worker serves them.
    async fn app() -> (
        web::Data<Shared>,
        impl actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
    ) {
        let config = Config::parse(CONFIG, "test.toml", SecretPolicy::AllowPlainText).unwrap();
        let validator = Arc::new(Argon2PasswordValidator::new(&[], 1, 1).unwrap());
        let grants = GrantRegistry::standard(validator.clone());
        let (key, _) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
        let keys = Arc::new(KeyRing::new(key, vec![]));
        let shared = web::Data::new(Shared::new(
            &config,
            grants,
            validator,
            Arc::new(ostium_grants::ConfiguredUsers::default()),
            TokenStore::in_memory(),
            keys,
            &[7; 32],
        ));
        let supervisor = GrantSupervisor::start(&shared.grants, shared.grant_context.clone());
        let app = test::init_service(
            App::new()
                .app_data(shared.clone())
                .app_data(web::Data::new(supervisor))
                .configure(|cfg| routes::configure(cfg, true)),
        )
        .await;
        (shared, app)
    }

    fn post(body: &str) -> test::TestRequest {
        test::TestRequest::post()
            .uri("/connect/token")
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .set_payload(body.to_owned())
    }

    #[actix_web::test]
    async fn a_client_gets_a_token_that_is_never_cached() {
        let (_, app) = app().await;
        let request =
            post("grant_type=client_credentials&client_id=machine&client_secret=machine-secret");
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers().get(CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(response.headers().get(PRAGMA).unwrap(), "no-cache");
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "orders.read");
        assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
    }

    #[actix_web::test]
    async fn refusals_follow_rfc_6749_and_are_counted_by_grant_type() {
        let (shared, app) = app().await;
        let metrics = &shared.grant_context.metrics;

        let wrong_secret = post("grant_type=client_credentials")
            .insert_header(("Authorization", "Basic bWFjaGluZTpub3BlCg=="));
        let response = test::call_service(&app, wrong_secret.to_request()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key(WWW_AUTHENTICATE));
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(metrics.refused("client_credentials", "invalid_client"), 1);

        let unknown =
            post("grant_type=urn:example:magic&client_id=machine&client_secret=machine-secret");
        let response = test::call_service(&app, unknown.to_request()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["error"], "unsupported_grant_type");
        assert_eq!(metrics.refused("other", "unsupported_grant_type"), 1);

        let json = test::TestRequest::post()
            .uri("/connect/token")
            .insert_header(("Content-Type", "application/json"))
            .set_payload(r#"{"grant_type":"client_credentials"}"#);
        let response = test::call_service(&app, json.to_request()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(metrics.refused("unknown", "invalid_request"), 1);

        let too_large = post(&format!(
            "grant_type=client_credentials&pad={}",
            "a".repeat(20_000)
        ));
        let response = test::call_service(&app, too_large.to_request()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(metrics.refused("unknown", "invalid_request"), 2);
    }

    /// Basic credentials, base64-encoded as they are given (not form-encoded first).
    fn raw_basic(credentials: &str) -> String {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[actix_web::test]
    async fn ambiguous_or_malformed_requests_are_refused_not_guessed_at() {
        let (_, app) = app().await;
        let refused = |request: test::TestRequest, status: StatusCode, error: &'static str| {
            let app = &app;
            async move {
                let response = test::call_service(app, request.to_request()).await;
                assert_eq!(response.status(), status);
                let body: Value = test::read_body_json(response).await;
                assert_eq!(body["error"], error, "{body}");
                body
            }
        };
        // A raw `&` inside Basic would cut the secret short.
        let junk = post("grant_type=client_credentials")
            .insert_header(("Authorization", raw_basic("machine:machine-secret&junk=1")));
        refused(junk, StatusCode::UNAUTHORIZED, "invalid_client").await;
        // A parameter sent twice, one copy empty.
        let twice = post(
            "grant_type=&grant_type=client_credentials&client_id=machine&client_secret=machine-secret",
        );
        refused(twice, StatusCode::BAD_REQUEST, "invalid_request").await;
        // Two Authorization headers: neither is picked.
        let two = post("grant_type=client_credentials")
            .insert_header(("Authorization", raw_basic("machine:machine-secret")))
            .append_header(("Authorization", raw_basic("machine:wrong")));
        refused(two, StatusCode::BAD_REQUEST, "invalid_request").await;
        // Bytes that are not UTF-8 never become U+FFFD.
        let mangled =
            post("grant_type=client_credentials&client_id=machine&client_secret=machine-secre%FF");
        refused(mangled, StatusCode::BAD_REQUEST, "invalid_request").await;
        // A declared charset other than UTF-8.
        let latin1 = test::TestRequest::post()
            .uri("/connect/token")
            .insert_header((
                "Content-Type",
                "application/x-www-form-urlencoded; charset=ISO-8859-1",
            ))
            .set_payload("grant_type=client_credentials");
        refused(latin1, StatusCode::BAD_REQUEST, "invalid_request").await;
        // A compressed body is refused, not parsed as text.
        let gzipped =
            post("grant_type=client_credentials").insert_header(("Content-Encoding", "gzip"));
        refused(
            gzipped,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
        )
        .await;
        // What a client sent is echoed only within RFC 6749 §5.2's characters and length.
        let long_scope = format!(
            "grant_type=client_credentials&client_id=machine&client_secret=machine-secret&scope=x\"{}",
            "y".repeat(16_000)
        );
        let body = refused(post(&long_scope), StatusCode::BAD_REQUEST, "invalid_scope").await;
        let description = body["error_description"].as_str().unwrap();
        assert!(description.len() <= 200, "{description}");
        assert!(!description.contains('"'));
    }

    #[actix_web::test]
    async fn head_is_answered_wherever_get_is() {
        let (_, app) = app().await;
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/jwks",
            "/healthz",
        ] {
            let head = test::TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri(path)
                .to_request();
            let response = test::call_service(&app, head).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
    }

    #[actix_web::test]
    async fn only_post_is_allowed() {
        let (_, app) = app().await;
        let get = test::TestRequest::get().uri("/connect/token").to_request();
        let response = test::call_service(&app, get).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers().get(ALLOW).unwrap(), "POST");
    }

    #[actix_web::test]
    async fn discovery_lists_the_registered_grants() {
        let (_, app) = app().await;
        let get = test::TestRequest::get()
            .uri("/.well-known/openid-configuration")
            .to_request();
        let body: Value = test::call_and_read_body_json(&app, get).await;
        assert_eq!(
            body["grant_types_supported"],
            serde_json::json!([
                "client_credentials",
                "password",
                "refresh_token",
                "authorization_code",
                "implicit"
            ])
        );
    }
}
