//! How a node is served: native TLS on the public port with a certificate the test
//! makes (and replaces: the node picks the new one up without a restart), connection
//! limits that count TLS connections too, and the management listener that alone
//! serves `/metrics`, `/healthz` and `/readyz` when configured.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use ostium_e2e::fixture::*;
use ostium_e2e::{Node, TestDir, free_port};
use rustls::pki_types::{CertificateDer, ServerName};

const PATIENCE: Duration = Duration::from_secs(30);

/// A self-signed certificate for `localhost`: (certificate DER, certificate PEM,
/// key PEM).
fn certificate() -> (CertificateDer<'static>, String, String) {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    (
        made.cert.der().clone(),
        made.cert.pem(),
        made.signing_key.serialize_pem(),
    )
}

/// A TLS client that trusts `trusted` and nothing else.
fn client(trusted: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).expect("a trust anchor");
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// A TLS connection to `port`, handshake done.
fn connect(
    port: u16,
    trusted: &CertificateDer<'static>,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    let name = ServerName::try_from("localhost").expect("a server name");
    let connection =
        rustls::ClientConnection::new(client(trusted), name).map_err(|e| e.to_string())?;
    let socket = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| e.to_string())?;
    }
    Ok(stream)
}

/// A client-credentials token request over `stream`: the status and body.
fn token_request(
    mut stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
) -> Result<(u16, String), String> {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        encode(MACHINE_ID),
        encode(MACHINE_SECRET)
    ));
    let body = "grant_type=client_credentials";
    let request = format!(
        "POST /connect/token HTTP/1.1\r\nhost: localhost\r\nauthorization: Basic {basic}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    // A peer that closes without close_notify is an error to rustls; the response
    // read by then is what counts.
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP response: {response:?}"))?;
    Ok((status, response))
}

fn token_over_tls(port: u16, trusted: &CertificateDer<'static>) -> Result<(u16, String), String> {
    token_request(connect(port, trusted)?)
}

/// A node serving TLS on its public port with the files in `dir`, its operations
/// endpoints on a management listener (where the harness waits for readiness).
struct TlsNode {
    node: Node,
    port: u16,
    cert_file: std::path::PathBuf,
    key_file: std::path::PathBuf,
    _dir: TestDir,
}

fn tls_node(name: &str, cert: &str, key: &str, server_extra: &str) -> TlsNode {
    let dir = TestDir::new(name);
    let port = free_port();
    let management = free_port();
    let cert_file = dir.path().join("tls.crt");
    let key_file = dir.path().join("tls.key");
    std::fs::write(&cert_file, cert).expect("write the certificate");
    std::fs::write(&key_file, key).expect("write the key");
    let config = config_with_issuer(
        &format!("https://localhost:{port}"),
        port,
        dir.path(),
        "ES256",
        "",
    )
    .replace(
        "workers = 2\n",
        &format!(
            "workers = 2\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n\
             management_listen = \"127.0.0.1:{management}\"\n{server_extra}",
            cert_file.display(),
            key_file.display()
        ),
    );
    let node = Node::start(
        dir.path(),
        &config,
        &format!("http://127.0.0.1:{management}"),
    );
    TlsNode {
        node,
        port,
        cert_file,
        key_file,
        _dir: dir,
    }
}

#[test]
fn the_token_endpoint_is_served_over_tls_and_a_new_certificate_needs_no_restart() {
    let (first, first_pem, first_key) = certificate();
    let node = tls_node("tls", &first_pem, &first_key, "");
    let (status, body) = token_over_tls(node.port, &first).expect("a TLS token request");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("access_token"), "{body}");

    // Another certificate, trusted by nobody yet: a client trusting only it is
    // refused while the first is served.
    let (second, second_pem, second_key) = certificate();
    assert!(token_over_tls(node.port, &second).is_err());

    // Rotated as cert-manager does: new files in place of the old.
    std::fs::write(&node.key_file, &second_key).expect("write the new key");
    std::fs::write(&node.cert_file, &second_pem).expect("write the new certificate");
    let pid = node.node.pid();
    let started = Instant::now();
    loop {
        if let Ok((200, _)) = token_over_tls(node.port, &second) {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the new certificate is not served:\n{}",
            node.node.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        token_over_tls(node.port, &first).is_err(),
        "the old certificate is still served"
    );
    assert_eq!(node.node.pid(), pid, "the node was not restarted");

    // A broken file keeps the current certificate serving.
    std::fs::write(&node.cert_file, "-----BEGIN CERTIFICATE-----\ntruncated\n")
        .expect("write a broken certificate");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(token_over_tls(node.port, &second).map(|r| r.0), Ok(200));
    assert!(
        node.node
            .log_text()
            .contains("the TLS files changed but do not load"),
        "{}",
        node.node.log_text()
    );
    assert!(
        !node.node.log_text().contains("PRIVATE KEY"),
        "key material in the log"
    );
}

/// `on_connect` sees the TLS stream, not a `TcpStream`: the limit per address must
/// hold over TLS too.
#[test]
fn connection_limits_count_tls_connections() {
    let (cert, pem, key) = certificate();
    let node = tls_node(
        "tls-limits",
        &pem,
        &key,
        "max_connections_per_address = 2\n",
    );
    // Each held connection is answered once (and kept open) before the third is
    // made: the client's side of a TLS 1.3 handshake ends before the server's, and
    // the server counts a connection only once its side has.
    let held: Vec<_> = (0..2)
        .map(|_| {
            let mut stream = connect(node.port, &cert).expect("a TLS connection");
            stream
                .write_all(b"GET /.well-known/jwks HTTP/1.1\r\nhost: localhost\r\n\r\n")
                .expect("a request on a held connection");
            let mut status = [0u8; 12];
            stream
                .read_exact(&mut status)
                .expect("an answer on a held connection");
            assert_eq!(&status, b"HTTP/1.1 200");
            stream
        })
        .collect();
    let third = connect(node.port, &cert).expect("a third TLS connection");
    let (status, body) = token_request(third).expect("an answer");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("temporarily_unavailable"), "{body}");
    drop(held);
    let started = Instant::now();
    while token_over_tls(node.port, &cert).map(|r| r.0) != Ok(200) {
        assert!(
            started.elapsed() < PATIENCE,
            "closed connections were not given back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn operations_endpoints_move_to_the_management_listener() {
    let dir = TestDir::new("management");
    let port = free_port();
    let management = free_port();
    let config = config(port, dir.path(), "ES256", "").replace(
        "workers = 2\n",
        &format!("workers = 2\nmanagement_listen = \"127.0.0.1:{management}\"\n"),
    );
    let public = format!("http://127.0.0.1:{port}");
    let ops = format!("http://127.0.0.1:{management}");
    let _node = Node::start(dir.path(), &config, &ops);
    let get = |url: String| {
        reqwest::blocking::get(&url)
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .status()
            .as_u16()
    };
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(get(format!("{public}{path}")), 404, "public {path}");
        assert_eq!(get(format!("{ops}{path}")), 200, "management {path}");
    }
    let scrape = reqwest::blocking::get(format!("{ops}/metrics"))
        .and_then(|r| r.text())
        .expect("a scrape");
    assert!(scrape.contains("ostium_tokens_issued_total"), "{scrape}");
    // The OAuth endpoints stay on the public port only.
    assert_eq!(
        get(format!("{public}/.well-known/openid-configuration")),
        200
    );
    assert_eq!(get(format!("{ops}/.well-known/openid-configuration")), 404);
    assert_eq!(get(format!("{ops}/.well-known/jwks")), 404);
}

#[test]
fn check_config_loads_the_tls_files() {
    let dir = TestDir::new("tls-check");
    let port = free_port();
    let (_, pem, _) = certificate();
    let (_, _, other_key) = certificate();
    std::fs::write(dir.path().join("tls.crt"), pem).expect("write");
    std::fs::write(dir.path().join("tls.key"), other_key).expect("write");
    let config = config(port, dir.path(), "ES256", "").replace(
        "workers = 2\n",
        &format!(
            "workers = 2\ntls_cert_file = \"{0}/tls.crt\"\ntls_key_file = \"{0}/tls.key\"\n",
            dir.path().display()
        ),
    );
    let file = dir.path().join("ostium.toml");
    std::fs::write(&file, config).expect("write");
    let (ok, _, err) = ostium_e2e::run_cli(&["check-config", file.to_str().expect("utf-8")], None);
    assert!(!ok, "a key that does not go with the certificate passed");
    assert!(err.contains("does not go with"), "{err}");
    assert!(!err.contains("PRIVATE KEY"), "{err}");
}
