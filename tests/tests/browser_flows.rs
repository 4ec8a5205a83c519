//! The browser flows: a real Chromium and npm openid-client through the pages and
//! the code exchange (`tests/js/browser.test.mjs`), pip authlib checking the hybrid
//! flow's hashes, and every refusal the front channel owes: redirect URIs that are
//! not the client's, PKCE missing or wrong, a replayed or expired code, a client
//! asking for what it may not have, a form without its anti-forgery token.

use std::process::Command;

use ostium_e2e::browser::{Browser, parameter, pkce};
use ostium_e2e::fixture::*;
use ostium_e2e::{chromium, post_form, run_node_tests};
use serde_json::Value;

fn node(name: &str) -> SingleNode {
    SingleNode::start_with(name, "ES256", &browser_clients())
}

/// An authorization request URL at `issuer` for `client` with `params` added to
/// the usual ones (the callback, `state`, `nonce`).
fn authorize(issuer: &str, client: &str, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("client_id", client)
        .append_pair("redirect_uri", "http://127.0.0.1:8765/callback")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1");
    for (name, value) in params {
        query.append_pair(name, value);
    }
    format!("{issuer}/connect/authorize?{}", query.finish())
}

/// A code-flow request of `client` for `scope`, with a fresh PKCE challenge; and
/// the verifier that goes with it.
fn code_request(issuer: &str, client: &str, scope: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let url = authorize(
        issuer,
        client,
        &[
            ("response_type", "code"),
            ("scope", scope),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    (url, verifier)
}

/// A code for `WEB_ID` (scopes `openid email orders.read offline_access`), the
/// browser signed in and consenting; with the PKCE verifier it was asked with.
fn code(node: &SingleNode, browser: &mut Browser) -> (String, String) {
    let (url, verifier) = code_request(
        &node.issuer,
        WEB_ID,
        "openid email orders.read offline_access",
    );
    let back = browser.sign_in(&node.issuer, &url, USERNAME, PASSWORD, true);
    assert_eq!(parameter(&back, "state").as_deref(), Some("st-1"));
    assert_eq!(
        parameter(&back, "iss").as_deref(),
        Some(node.issuer.as_str())
    );
    (parameter(&back, "code").expect("a code"), verifier)
}

fn exchange(issuer: &str, code: &str, verifier: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", WEB_ID),
        ("code", code),
        ("redirect_uri", "http://127.0.0.1:8765/callback"),
    ];
    form.extend(verifier.map(|v| ("code_verifier", v)));
    let response = post_form(&format!("{issuer}/connect/token"), None, &form);
    let status = response.status().as_u16();
    (status, response.json().expect("a JSON answer"))
}

fn introspect(issuer: &str, token: &str) -> Value {
    post_form(
        &format!("{issuer}/connect/introspect"),
        Some((AUDIENCE, RESOURCE_SECRET)),
        &[("token", token)],
    )
    .json()
    .expect("an introspection")
}

#[test]
fn chromium_signs_in_and_consents_and_openid_client_redeems_the_code() {
    let node = node("browser-chromium");
    let chromium = chromium();
    run_node_tests(
        "browser.test.mjs",
        &[
            ("OSTIUM_ISSUER", &node.issuer),
            ("OSTIUM_CHROMIUM", &chromium),
            ("OSTIUM_WEB_CLIENT_ID", WEB_ID),
            ("OSTIUM_USERNAME", USERNAME),
            ("OSTIUM_PASSWORD", PASSWORD),
            ("OSTIUM_SUBJECT", SUBJECT),
            ("OSTIUM_EMAIL", EMAIL),
            ("OSTIUM_API_SCOPE", API_SCOPE),
        ],
    );
}

#[test]
fn a_redirect_uri_that_is_not_the_clients_gets_an_error_page_never_a_redirect() {
    let node = node("browser-redirect-uris");
    let mut browser = Browser::new();
    for (client, redirect_uri) in [
        (WEB_ID, "http://127.0.0.1:8765/Callback"),
        (WEB_ID, "http://127.0.0.1:8765/callback/more"),
        (WEB_ID, "http://127.0.0.1:8765/callback?x=1"),
        (WEB_ID, "http://localhost:8765/callback"),
        (WEB_ID, "https://attacker.example/callback"),
        ("no-such-client", "http://127.0.0.1:8765/callback"),
    ] {
        let url = format!(
            "{}/connect/authorize?client_id={client}&response_type=code&scope=openid&\
             redirect_uri={}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&\
             code_challenge_method=S256",
            node.issuer,
            form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect::<String>()
        );
        let page = browser.get(&url);
        assert_eq!(page.status, 400, "{redirect_uri}: {}", page.body);
        assert_eq!(page.location, None, "{redirect_uri} was redirected to");
        assert!(page.body.contains("Something is wrong"), "{}", page.body);
    }
}

#[test]
fn pkce_is_required_and_a_missing_or_wrong_verifier_spends_nothing() {
    let node = node("browser-pkce");
    let mut browser = Browser::new();
    // No challenge, or the plain method: refused at the client's redirect URI.
    for extra in [&[][..], &[("code_challenge", "x".repeat(43).as_str())][..]] {
        let mut params = vec![("response_type", "code"), ("scope", "openid")];
        params.extend_from_slice(extra);
        let refused = browser.get(&authorize(&node.issuer, WEB_ID, &params));
        let location = refused.location.expect("a redirect to the client");
        assert_eq!(
            parameter(&location, "error").as_deref(),
            Some("invalid_request")
        );
        assert_eq!(parameter(&location, "state").as_deref(), Some("st-1"));
    }
    let (code, verifier) = code(&node, &mut browser);
    let (_, other) = pkce();
    for wrong in [None, Some(other.as_str())] {
        let (status, body) = exchange(&node.issuer, &code, wrong);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    let (status, tokens) = exchange(&node.issuer, &code, Some(&verifier));
    assert_eq!(status, 200, "{tokens}");
}

#[test]
fn a_replayed_code_is_refused_and_revokes_what_it_issued() {
    let node = node("browser-replay");
    let mut browser = Browser::new();
    let (code, verifier) = code(&node, &mut browser);
    let (status, tokens) = exchange(&node.issuer, &code, Some(&verifier));
    assert_eq!(status, 200, "{tokens}");
    let access_token = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&node.issuer, access_token)["active"], true);

    let (status, replayed) = exchange(&node.issuer, &code, Some(&verifier));
    assert_eq!(
        (status, replayed["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(introspect(&node.issuer, access_token)["active"], false);
    let refreshed = post_form(
        &node.token_endpoint(),
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", WEB_ID),
            ("refresh_token", refresh_token),
        ],
    );
    assert_eq!(refreshed.status(), 400);
}

#[test]
fn a_code_past_its_lifetime_is_refused() {
    let quick = format!(
        "{}\n[[clients]]\nclient_id = \"quick-web\"\nrequire_client_secret = false\n\
         allowed_grant_types = \"code\"\nredirect_uris = [\"{CALLBACK}\"]\n\
         allowed_scopes = [\"openid\"]\nauthorization_code_lifetime = 1\n",
        browser_clients()
    );
    let node = SingleNode::start_with("browser-expired", "ES256", &quick);
    let mut browser = Browser::new();
    let (url, verifier) = code_request(&node.issuer, "quick-web", "openid");
    let back = browser.sign_in(&node.issuer, &url, USERNAME, PASSWORD, true);
    let code = parameter(&back, "code").expect("a code");
    // The code lives one second; the exchange comes two seconds later.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let response = post_form(
        &node.token_endpoint(),
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "quick-web"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:8765/callback"),
            ("code_verifier", &verifier),
        ],
    );
    assert_eq!(response.status(), 400);
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[test]
fn the_browser_gets_only_what_the_client_is_allowed() {
    let node = node("browser-allowed");
    let mut browser = Browser::new();
    // Sign in once, through the implicit client's ID-token-only flow, which works.
    let url = authorize(
        &node.issuer,
        IMPLICIT_ID,
        &[("response_type", "id_token"), ("scope", "openid email")],
    );
    let back = browser.sign_in(&node.issuer, &url, USERNAME, PASSWORD, true);
    let id_token = parameter(&back, "id_token").expect("an ID token in the fragment");
    assert!(
        back.contains('#'),
        "the ID token comes in the fragment: {back}"
    );
    let claims = ostium_e2e::verify_id_token(&id_token, &node.issuer, IMPLICIT_ID);
    assert_eq!(claims["nonce"], "n-1");
    // No access token to ask userinfo with: the claims are in the ID token.
    assert_eq!(claims["email"], EMAIL);

    for (client, response_type, error) in [
        // An access token in the browser needs allow_access_tokens_via_browser.
        (IMPLICIT_ID, "id_token token", "unauthorized_client"),
        (IMPLICIT_ID, "token", "unauthorized_client"),
        // Grant types the client does not have.
        (IMPLICIT_ID, "code", "unauthorized_client"),
        (WEB_ID, "code id_token", "unauthorized_client"),
        (HYBRID_ID, "code", "unauthorized_client"),
        (WEB_ID, "none", "unsupported_response_type"),
    ] {
        let url = authorize(
            &node.issuer,
            client,
            &[("response_type", response_type), ("scope", "openid")],
        );
        let location = browser
            .get(&url)
            .location
            .unwrap_or_else(|| panic!("{client} {response_type}: no redirect"));
        assert_eq!(
            parameter(&location, "error").as_deref(),
            Some(error),
            "{client} {response_type}: {location}"
        );
        assert_eq!(
            parameter(&location, "iss").as_deref(),
            Some(node.issuer.as_str())
        );
    }
}

#[test]
fn a_form_posted_without_its_csrf_token_changes_nothing() {
    let node = node("browser-csrf");
    let mut browser = Browser::new();
    let (url, _) = code_request(&node.issuer, WEB_ID, "openid");
    let page = browser.follow(&node.issuer, &url);
    let return_url = ostium_e2e::browser::hidden_field(&page.body, "return_url").unwrap();
    for csrf in ["", "forged-token"] {
        let refused = browser.post(
            &format!("{}/account/login", node.issuer),
            &[
                ("csrf", csrf),
                ("return_url", &return_url),
                ("username", USERNAME),
                ("password", PASSWORD),
            ],
        );
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(!browser.has_cookie("ostium_session"), "a session was made");
    }
    // A page's token does not work from another browser either.
    let token = ostium_e2e::browser::hidden_field(&page.body, "csrf").unwrap();
    let mut other = Browser::new();
    let refused = other.post(
        &format!("{}/account/login", node.issuer),
        &[
            ("csrf", &token),
            ("return_url", &return_url),
            ("username", USERNAME),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(refused.status, 400);
    assert!(!other.has_cookie("ostium_session"));
}

#[test]
fn pages_are_never_framed_cached_or_leaked() {
    let node = node("browser-headers");
    let (url, _) = code_request(&node.issuer, WEB_ID, "openid");
    let login = Browser::new().follow(&node.issuer, &url);
    assert_eq!(login.status, 200, "{}", login.body);
    let headers = &login.headers;
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // Plain http on loopback: no `Secure`, which the browser would refuse to send.
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[test]
fn authlib_validates_the_hybrid_flows_c_hash_and_at_hash() {
    let node = node("browser-hybrid");
    let mut browser = Browser::new();
    let url = authorize(
        &node.issuer,
        HYBRID_ID,
        &[
            ("response_type", "code id_token token"),
            ("scope", "openid email orders.read"),
        ],
    );
    let back = browser.sign_in(&node.issuer, &url, USERNAME, PASSWORD, true);
    let [code, id_token, access_token] =
        ["code", "id_token", "access_token"].map(|name| parameter(&back, name).expect(name));
    let python = std::env::var("OSTIUM_AUTHLIB_PYTHON")
        .expect("OSTIUM_AUTHLIB_PYTHON (scripts/test.sh makes a virtualenv with authlib)");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/hybrid_id_token.py");
    let output = Command::new(python)
        .arg(script)
        .env("OSTIUM_ISSUER", &node.issuer)
        .env("OSTIUM_CLIENT_ID", HYBRID_ID)
        .env("OSTIUM_NONCE", "n-1")
        .env("OSTIUM_CODE", &code)
        .env("OSTIUM_ID_TOKEN", &id_token)
        .env("OSTIUM_ACCESS_TOKEN", &access_token)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "authlib refused the hybrid ID token:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The code redeems at the token endpoint with the client's secret.
    let redeemed = post_form(
        &node.token_endpoint(),
        Some((HYBRID_ID, HYBRID_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:8765/callback"),
        ],
    );
    assert_eq!(redeemed.status(), 200);
}

#[test]
fn cors_answers_only_a_clients_origin_and_never_at_the_authorization_endpoint() {
    let node = node("browser-cors");
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let allowed = "http://127.0.0.1:9";
    let preflight = |origin: &str| {
        http.request(reqwest::Method::OPTIONS, node.token_endpoint())
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
            .unwrap()
    };
    let answer = preflight(allowed);
    assert_eq!(answer.status(), 204);
    assert_eq!(answer.headers()["access-control-allow-origin"], allowed);
    let refused = preflight("https://attacker.example");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let discovery = http
        .get(format!("{}/.well-known/openid-configuration", node.issuer))
        .header("Origin", allowed)
        .send()
        .unwrap();
    assert_eq!(discovery.headers()["access-control-allow-origin"], allowed);
    let authorize = http
        .get(authorize(
            &node.issuer,
            WEB_ID,
            &[("response_type", "code")],
        ))
        .header("Origin", allowed)
        .send()
        .unwrap();
    assert!(
        authorize
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[test]
fn the_sign_in_page_says_when_a_username_is_throttled_and_creates_no_session() {
    let throttled = format!(
        "{}\n[login]\nmax_failures_per_username = 2\n",
        browser_clients()
    );
    let node = SingleNode::start_with("browser-throttle", "ES256", &throttled);
    let mut browser = Browser::new();
    let (url, _) = code_request(&node.issuer, WEB_ID, "openid");
    let page = browser.follow(&node.issuer, &url);
    for _ in 0..2 {
        let wrong = browser.submit(
            &node.issuer,
            "/account/login",
            &page.body,
            &[("username", USERNAME), ("password", "wrong")],
        );
        assert_eq!(wrong.status, 200);
        assert!(
            wrong.body.contains("Wrong username or password."),
            "{}",
            wrong.body
        );
    }
    // Now even the right password is refused, saying why.
    let refused = browser.submit(
        &node.issuer,
        "/account/login",
        &page.body,
        &[("username", USERNAME), ("password", PASSWORD)],
    );
    assert_eq!(refused.status, 429);
    assert!(
        refused.body.contains("Too many failed sign-ins"),
        "{}",
        refused.body
    );
    assert!(!browser.has_cookie("ostium_session"));
}

#[test]
fn userinfo_answers_a_bearer_token_with_its_scopes_claims_and_challenges_the_rest() {
    let node = node("browser-userinfo");
    let mut browser = Browser::new();
    let (code, verifier) = code(&node, &mut browser);
    let (_, tokens) = exchange(&node.issuer, &code, Some(&verifier));
    let access_token = tokens["access_token"].as_str().unwrap();
    let userinfo = format!("{}/connect/userinfo", node.issuer);
    let http = reqwest::blocking::Client::new();
    let by_header: Value = http
        .get(&userinfo)
        .bearer_auth(access_token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(by_header["sub"], SUBJECT);
    assert_eq!(by_header["email"], EMAIL);
    assert!(by_header.get("name").is_none(), "profile was not granted");
    let by_form = post_form(&userinfo, None, &[("access_token", access_token)]);
    assert_eq!(by_form.status(), 200);
    // No token: the bare challenge. A bad one, or a token of a client acting for
    // itself (no openid): the error in the challenge.
    let none = http.get(&userinfo).send().unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        r#"Bearer realm="ostium""#
    );
    let bad = http
        .get(&userinfo)
        .bearer_auth("not-a-token")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 401);
    let challenge = bad.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    let machine: Value = post_form(
        &node.token_endpoint(),
        Some((MACHINE_ID, MACHINE_SECRET)),
        &[("grant_type", "client_credentials")],
    )
    .json()
    .unwrap();
    let forbidden = http
        .get(&userinfo)
        .bearer_auth(machine["access_token"].as_str().unwrap())
        .send()
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    let challenge = forbidden.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
}
