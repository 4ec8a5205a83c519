//! Real OAuth client libraries against a real node: the Rust `oauth2` crate, and
//! npm `openid-client` (with `jose` verifying the tokens) run under Node.js. Both find
//! the token endpoint through discovery, and every token is verified against the
//! published JWKS.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, ResourceOwnerPassword, ResourceOwnerUsername, Scope,
    TokenResponse, TokenUrl,
};
use ostium_e2e::fixture::*;
use ostium_e2e::{run_node_tests, verify_access_token};
use serde_json::Value;

/// The `oauth2` crate's HTTP client hook, over reqwest.
fn http_client(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let response = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .request(request.method().clone(), request.uri().to_string())
        .headers(request.headers().clone())
        .body(request.body().clone())
        .send()?;
    let mut builder = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    Ok(builder
        .body(response.bytes()?.to_vec())
        .expect("a valid HTTP response"))
}

/// OpenID Connect Discovery: the token endpoint as the server advertises it.
fn discover_token_endpoint(issuer: &str) -> String {
    let metadata: Value =
        reqwest::blocking::get(format!("{issuer}/.well-known/openid-configuration"))
            .and_then(|r| r.json())
            .expect("discovery document");
    assert_eq!(metadata["issuer"], issuer);
    metadata["token_endpoint"]
        .as_str()
        .expect("token_endpoint")
        .to_owned()
}

#[test]
fn rust_oauth2_crate_gets_tokens_with_both_grants() {
    let node = SingleNode::start("oauth2-crate");
    let token_url = TokenUrl::new(discover_token_endpoint(&node.issuer)).unwrap();

    for auth_type in [AuthType::BasicAuth, AuthType::RequestBody] {
        let machine = BasicClient::new(ClientId::new(MACHINE_ID.into()))
            .set_client_secret(ClientSecret::new(MACHINE_SECRET.into()))
            .set_token_uri(token_url.clone())
            .set_auth_type(auth_type.clone());
        let token = machine
            .exchange_client_credentials()
            .add_scope(Scope::new(API_SCOPE.into()))
            .request(&http_client)
            .unwrap_or_else(|e| panic!("client credentials with {auth_type:?}: {e:?}"));
        let claims = verify_access_token(token.access_token().secret(), &node.issuer, AUDIENCE);
        assert_eq!(claims["client_id"], MACHINE_ID);
        assert_eq!(token.scopes().unwrap()[0].as_str(), API_SCOPE);
    }

    let app = BasicClient::new(ClientId::new(APP_ID.into()))
        .set_client_secret(ClientSecret::new(APP_SECRET.into()))
        .set_token_uri(token_url);
    let token = app
        .exchange_password(
            &ResourceOwnerUsername::new(USERNAME.into()),
            &ResourceOwnerPassword::new(PASSWORD.into()),
        )
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new(API_SCOPE.into()))
        .request(&http_client)
        .expect("password grant");
    let claims = verify_access_token(token.access_token().secret(), &node.issuer, AUDIENCE);
    assert_eq!(claims["sub"], SUBJECT);

    let refused = app
        .exchange_password(
            &ResourceOwnerUsername::new(USERNAME.into()),
            &ResourceOwnerPassword::new("wrong".into()),
        )
        .request(&http_client)
        .expect_err("a wrong password is refused");
    match refused {
        oauth2::RequestTokenError::ServerResponse(e) => {
            assert_eq!(e.error().as_ref(), "invalid_grant")
        }
        other => panic!("expected an invalid_grant response, got {other:?}"),
    }
}

#[test]
fn npm_openid_client_gets_tokens_with_both_grants() {
    let node = SingleNode::start("openid-client");
    let pw_scope = format!("openid {API_SCOPE}");
    run_node_tests(
        "client.test.mjs",
        &[
            ("OSTIUM_ISSUER", &node.issuer),
            ("OSTIUM_AUDIENCE", AUDIENCE),
            ("OSTIUM_CC_CLIENT_ID", MACHINE_ID),
            ("OSTIUM_CC_CLIENT_SECRET", MACHINE_SECRET),
            ("OSTIUM_CC_SCOPE", API_SCOPE),
            ("OSTIUM_PW_CLIENT_ID", APP_ID),
            ("OSTIUM_PW_CLIENT_SECRET", APP_SECRET),
            ("OSTIUM_PW_SCOPE", &pw_scope),
            ("OSTIUM_USERNAME", USERNAME),
            ("OSTIUM_PASSWORD", PASSWORD),
            ("OSTIUM_SUBJECT", SUBJECT),
        ],
    );
}
