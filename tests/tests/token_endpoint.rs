//! The token endpoint of a real node, spoken to over HTTP: both grants, both
//! client authentication methods, every RFC 6749 §5.2 error, hostile bodies,
//! concurrency, and keys that survive a restart.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ostium_e2e::fixture::*;
use ostium_e2e::verify_access_token;
use reqwest::blocking::{Client, Response};
use serde_json::Value;

const FORM: &str = "application/x-www-form-urlencoded";

/// Basic credentials, form-encoded first as RFC 6749 §2.3.1 says.
fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", form_encode(id), form_encode(secret)))
    )
}

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn post(node: &SingleNode, auth: Option<(&str, &str)>, body: &str) -> Response {
    let mut request = Client::new()
        .post(node.token_endpoint())
        .header("content-type", FORM)
        .body(body.to_owned());
    if let Some((id, secret)) = auth {
        request = request.header("authorization", basic(id, secret));
    }
    request.send().expect("token request")
}

/// Asserts an RFC 6749 §5.2 error response and returns its description.
fn assert_error(response: Response, status: u16, error: &str) -> String {
    assert_eq!(response.status().as_u16(), status, "status for {error}");
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    let www_authenticate = response.headers().get("www-authenticate").cloned();
    let body: Value = response.json().expect("a JSON error body");
    assert_eq!(body["error"], error, "{body}");
    if error == "invalid_client" {
        let challenge = www_authenticate.expect("401 carries WWW-Authenticate");
        assert!(
            challenge.to_str().unwrap().starts_with("Basic "),
            "{challenge:?}"
        );
    }
    body["error_description"]
        .as_str()
        .expect("a description")
        .to_owned()
}

fn token_from(response: Response) -> Value {
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().unwrap();
    assert_eq!(body["token_type"], "Bearer");
    body
}

#[test]
fn client_credentials_with_basic_and_post() {
    let node = SingleNode::start("cc");
    let by_basic = token_from(post(
        &node,
        Some((MACHINE_ID, MACHINE_SECRET)),
        "grant_type=client_credentials&scope=orders.read",
    ));
    assert_eq!(by_basic["expires_in"], 600);
    assert_eq!(by_basic["scope"], API_SCOPE);
    let claims = verify_access_token(
        by_basic["access_token"].as_str().unwrap(),
        &node.issuer,
        AUDIENCE,
    );
    assert_eq!(claims["sub"], MACHINE_ID);
    assert_eq!(claims["client_id"], MACHINE_ID);
    assert_eq!(claims["scope"], API_SCOPE);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));

    let by_post = token_from(post(
        &node,
        None,
        &format!(
            "grant_type=client_credentials&client_id={MACHINE_ID}&client_secret={}",
            form_encode(MACHINE_SECRET)
        ),
    ));
    // No scope requested: every allowed API scope.
    assert_eq!(by_post["scope"], API_SCOPE);
    verify_access_token(
        by_post["access_token"].as_str().unwrap(),
        &node.issuer,
        AUDIENCE,
    );
}

#[test]
fn password_grant_for_confidential_and_public_clients() {
    let node = SingleNode::start("password");
    let body = format!(
        "grant_type=password&username={USERNAME}&password={}&scope=openid+orders.read",
        form_encode(PASSWORD)
    );
    let token = token_from(post(&node, Some((APP_ID, APP_SECRET)), &body));
    assert_eq!(token["scope"], "openid orders.read");
    let claims = verify_access_token(
        token["access_token"].as_str().unwrap(),
        &node.issuer,
        AUDIENCE,
    );
    assert_eq!(claims["sub"], SUBJECT);
    assert_eq!(claims["client_id"], APP_ID);
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert!(claims["auth_time"].is_u64());

    let public = token_from(post(&node, None, &format!("{body}&client_id={PUBLIC_ID}")));
    let claims = verify_access_token(
        public["access_token"].as_str().unwrap(),
        &node.issuer,
        AUDIENCE,
    );
    assert_eq!(claims["client_id"], PUBLIC_ID);
}

#[test]
fn every_rfc6749_error() {
    let node = SingleNode::start("errors");
    let machine = Some((MACHINE_ID, MACHINE_SECRET));
    let app = Some((APP_ID, APP_SECRET));
    let login = format!("username={USERNAME}&password={}", form_encode(PASSWORD));

    // invalid_request
    assert_error(
        post(&node, machine, "scope=orders.read"),
        400,
        "invalid_request",
    );
    let d = assert_error(
        post(
            &node,
            machine,
            "grant_type=client_credentials&scope=a&scope=b",
        ),
        400,
        "invalid_request",
    );
    assert!(d.contains("scope"), "{d}");
    assert_error(
        post(
            &node,
            machine,
            &format!("grant_type=client_credentials&client_secret={MACHINE_SECRET}"),
        ),
        400,
        "invalid_request",
    );
    assert_error(
        post(&node, app, "grant_type=password&username=alice"),
        400,
        "invalid_request",
    );
    let json = Client::new()
        .post(node.token_endpoint())
        .header("authorization", basic(MACHINE_ID, MACHINE_SECRET))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .unwrap();
    assert_error(json, 400, "invalid_request");

    // invalid_client
    assert_error(
        post(
            &node,
            Some((MACHINE_ID, "wrong")),
            "grant_type=client_credentials",
        ),
        401,
        "invalid_client",
    );
    assert_error(
        post(
            &node,
            Some(("nobody", "x")),
            "grant_type=client_credentials",
        ),
        401,
        "invalid_client",
    );
    assert_error(
        post(&node, None, "grant_type=client_credentials"),
        401,
        "invalid_client",
    );
    assert_error(
        post(
            &node,
            None,
            &format!("grant_type=password&client_id={APP_ID}&{login}"),
        ),
        401,
        "invalid_client",
    );

    // invalid_grant
    assert_error(
        post(
            &node,
            app,
            "grant_type=password&username=alice&password=wrong",
        ),
        400,
        "invalid_grant",
    );
    assert_error(
        post(
            &node,
            app,
            &format!(
                "grant_type=password&username=mallory&password={}",
                form_encode(PASSWORD)
            ),
        ),
        400,
        "invalid_grant",
    );

    // unauthorized_client: a grant the client is not allowed
    assert_error(
        post(&node, machine, &format!("grant_type=password&{login}")),
        400,
        "unauthorized_client",
    );
    assert_error(
        post(
            &node,
            None,
            &format!("grant_type=client_credentials&client_id={PUBLIC_ID}"),
        ),
        400,
        "unauthorized_client",
    );

    // unsupported_grant_type
    for grant in ["urn:example:magic", "device_code", "implicit", "hybrid"] {
        assert_error(
            post(&node, machine, &format!("grant_type={grant}")),
            400,
            "unsupported_grant_type",
        );
    }

    // invalid_scope: not allowed, about a user, malformed
    let d = assert_error(
        post(
            &node,
            machine,
            "grant_type=client_credentials&scope=orders.write",
        ),
        400,
        "invalid_scope",
    );
    assert!(d.contains("orders.write"), "{d}");
    assert_error(
        post(&node, app, "grant_type=client_credentials&scope=openid"),
        400,
        "invalid_scope",
    );
    assert_error(
        post(
            &node,
            machine,
            "grant_type=client_credentials&scope=%22quoted%22",
        ),
        400,
        "invalid_scope",
    );
    assert_error(
        post(
            &node,
            app,
            &format!("grant_type=password&{login}&scope=offline_access"),
        ),
        400,
        "invalid_scope",
    );
}

#[test]
fn hostile_bodies_are_refused_and_the_node_keeps_serving() {
    let node = SingleNode::start("hostile");
    let machine = Some((MACHINE_ID, MACHINE_SECRET));

    // Garbage: not UTF-8, stray separators and broken escapes.
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let response = Client::new()
        .post(node.token_endpoint())
        .header("content-type", FORM)
        .header("authorization", basic(MACHINE_ID, MACHINE_SECRET))
        .body(garbage)
        .send()
        .unwrap();
    assert_error(response, 400, "invalid_request");
    assert_error(
        post(&node, machine, "%%%&&&==grant_type"),
        400,
        "invalid_request",
    );

    // Huge bodies: declared, and streamed without a length.
    let huge = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(4 * 1024 * 1024)
    );
    let d = assert_error(post(&node, machine, &huge), 400, "invalid_request");
    assert!(d.contains("exceeds"), "{d}");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|_| Ok(vec![b'a'; 64 * 1024])).collect();
    let streamed = Client::new()
        .post(node.token_endpoint())
        .header("content-type", FORM)
        .header("authorization", basic(MACHINE_ID, MACHINE_SECRET))
        .body(reqwest::blocking::Body::new(ChunkReader::new(chunks)))
        .send();
    // The node may answer before reading everything and close the connection;
    // either way it must refuse, not accept.
    if let Ok(response) = streamed {
        assert_error(response, 400, "invalid_request");
    }

    // Wrong method.
    let get = Client::new().get(node.token_endpoint()).send().unwrap();
    assert_eq!(get.status().as_u16(), 405);

    // Still healthy and serving.
    token_from(post(&node, machine, "grant_type=client_credentials"));
}

/// A `Read` over chunks, so that reqwest sends a body without Content-Length.
struct ChunkReader {
    chunks: std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>,
    current: std::io::Cursor<Vec<u8>>,
}

impl ChunkReader {
    fn new(chunks: Vec<Result<Vec<u8>, std::io::Error>>) -> Self {
        Self {
            chunks: chunks.into_iter(),
            current: std::io::Cursor::new(Vec::new()),
        }
    }
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            match self.chunks.next() {
                Some(chunk) => self.current = std::io::Cursor::new(chunk?),
                None => return Ok(0),
            }
        }
    }
}

#[test]
fn concurrent_requests_all_succeed_with_distinct_tokens() {
    let node = SingleNode::start("concurrent");
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let endpoint = node.token_endpoint();
            std::thread::spawn(move || {
                let client = Client::new();
                (0..20)
                    .map(|j| {
                        let (auth, body) = if (i + j) % 4 == 0 {
                            (
                                basic(APP_ID, APP_SECRET),
                                format!(
                                    "grant_type=password&username={USERNAME}&password={}",
                                    form_encode(PASSWORD)
                                ),
                            )
                        } else {
                            (
                                basic(MACHINE_ID, MACHINE_SECRET),
                                "grant_type=client_credentials".into(),
                            )
                        };
                        let response = client
                            .post(&endpoint)
                            .header("content-type", FORM)
                            .header("authorization", auth)
                            .body(body)
                            .send()
                            .unwrap();
                        assert_eq!(response.status().as_u16(), 200);
                        response.json::<Value>().unwrap()["access_token"]
                            .as_str()
                            .unwrap()
                            .to_owned()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let tokens: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(tokens.len(), 320);
    let jtis: HashSet<String> = tokens
        .iter()
        .map(|t| {
            verify_access_token(t, &node.issuer, AUDIENCE)["jti"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(jtis.len(), 320, "every token has its own jti");

    let metrics = Client::new()
        .get(format!("{}/metrics", node.issuer))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let issued = |grant: &str, client: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("ostium_tokens_issued_total")
                    && l.contains(&format!("grant_type=\"{grant}\""))
                    && l.contains(&format!("client_id=\"{client}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    assert_eq!(issued("password", APP_ID), Some(80));
    assert_eq!(issued("client_credentials", MACHINE_ID), Some(240));
}

#[test]
fn every_algorithm_signs_verifiable_tokens() {
    for algorithm in ["EdDSA", "PS256", "RS256"] {
        let node = SingleNode::start_with(&format!("alg-{algorithm}"), algorithm, "");
        let token = token_from(post(
            &node,
            Some((MACHINE_ID, MACHINE_SECRET)),
            "grant_type=client_credentials",
        ));
        let token = token["access_token"].as_str().unwrap();
        assert_eq!(
            format!("{:?}", jsonwebtoken::decode_header(token).unwrap().alg),
            algorithm
        );
        verify_access_token(token, &node.issuer, AUDIENCE);
    }
}

#[test]
fn signing_keys_survive_a_restart() {
    let mut node = SingleNode::start("restart");
    let machine = Some((MACHINE_ID, MACHINE_SECRET));
    let before = token_from(post(&node, machine, "grant_type=client_credentials"));
    node.node.restart();
    let before = before["access_token"].as_str().unwrap();
    verify_access_token(before, &node.issuer, AUDIENCE);
    let after = token_from(post(&node, machine, "grant_type=client_credentials"));
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid;
    assert_eq!(kid(before), kid(after["access_token"].as_str().unwrap()));
}

#[test]
fn discovery_and_operations_endpoints() {
    let node = SingleNode::start("discovery");
    let client = Client::new();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let metadata: Value = client
            .get(format!("{}{path}", node.issuer))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(metadata["issuer"], node.issuer.as_str());
        assert_eq!(metadata["token_endpoint"], node.token_endpoint());
        assert_eq!(
            metadata["jwks_uri"],
            format!("{}/.well-known/jwks", node.issuer)
        );
        assert_eq!(
            metadata["grant_types_supported"],
            serde_json::json!([
                "client_credentials",
                "password",
                "refresh_token",
                "authorization_code",
                "implicit"
            ])
        );
        assert_eq!(
            metadata["authorization_endpoint"],
            format!("{}/connect/authorize", node.issuer)
        );
        assert_eq!(
            metadata["authorization_response_iss_parameter_supported"],
            true
        );
        // Nothing is advertised that does not work yet.
        for absent in ["device_authorization_endpoint", "registration_endpoint"] {
            assert!(metadata.get(absent).is_none(), "{path} advertises {absent}");
        }
        assert_eq!(
            metadata["revocation_endpoint"],
            format!("{}/connect/revocation", node.issuer)
        );
        assert_eq!(
            metadata["introspection_endpoint"],
            format!("{}/connect/introspect", node.issuer)
        );
    }
    let jwks: Value = client
        .get(format!("{}/.well-known/jwks", node.issuer))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "EC");
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(key.get(private).is_none(), "JWKS leaks {private}");
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            client
                .get(format!("{}{path}", node.issuer))
                .send()
                .unwrap()
                .status()
                .as_u16(),
            200,
            "{path}"
        );
    }
}
