//! `[server]` and `[signing]`: where this node listens, the issuer it names in
//! tokens, and the algorithm it signs them with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ostium_tokens::SigningAlgorithm;
use serde::Deserialize;
use url::{Host, ParseError, Url};

use crate::client_address::TrustedProxies;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub issuer: String,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// HTTP worker threads; defaults to the number of CPUs this process may use.
    pub workers: Option<usize>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request body.
    pub body_timeout: Duration,
    /// Connections one client address may hold open at once.
    pub max_connections_per_address: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// Serve the public port over TLS with this certificate chain and key (PEM),
    /// reloaded when the files change.
    pub tls: Option<TlsFiles>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served instead of the public
    /// port, when set.
    pub management_listen: Option<SocketAddr>,
}

/// The PEM files of the public port's certificate: `tls_cert_file` holds the chain,
/// leaf first; `tls_key_file` the private key (PKCS#8, PKCS#1 or SEC1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerSection {
    issuer: String,
    listen: String,
    data_dir: PathBuf,
    workers: Option<usize>,
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: usize,
    #[serde(default = "default_body_timeout")]
    body_timeout: u64,
    #[serde(default = "default_max_connections_per_address")]
    max_connections_per_address: usize,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    management_listen: Option<String>,
}

fn default_max_body_bytes() -> usize {
    16 * 1024
}

/// Seconds. A form body of a few kilobytes arrives in milliseconds; ten seconds allows
/// for a slow mobile network, and bounds what a client that trickles its body holds.
fn default_body_timeout() -> u64 {
    10
}

/// Enough for a reverse proxy's pool of keep-alive connections; a single client
/// holding more is hostile (one slow body per connection).
fn default_max_connections_per_address() -> usize {
    256
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SigningSection {
    #[serde(default)]
    pub(super) algorithm: SigningAlgorithm,
    #[serde(default = "default_rotation_interval")]
    rotation_interval: u64,
    #[serde(default = "default_publish_ahead")]
    publish_ahead: u64,
    #[serde(default = "default_retire_after")]
    retire_after: u64,
}

impl Default for SigningSection {
    fn default() -> Self {
        Self {
            algorithm: SigningAlgorithm::default(),
            rotation_interval: default_rotation_interval(),
            publish_ahead: default_publish_ahead(),
            retire_after: default_retire_after(),
        }
    }
}

/// `[signing]`'s key lifecycle, in seconds (docs/architecture.md, signing keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRotation {
    /// How long a key signs before the next one takes over.
    pub rotation_interval: u64,
    /// How long a new key is published before it signs.
    pub publish_ahead: u64,
    /// How long a replaced key keeps verifying once it stops signing.
    pub retire_after: u64,
}

const DAY: u64 = 24 * 60 * 60;

/// 90 days, as Duende IdentityServer's automatic key management.
fn default_rotation_interval() -> u64 {
    90 * DAY
}

/// Two days. Relying parties cache the JWKS: this server says five minutes, but
/// common libraries refresh it every 12 to 24 hours whatever it says (and fetch it
/// again early for an unknown `kid` at most every few minutes). A new key must be in
/// every such cache before the first token it signs arrives; two days cover a daily
/// refresh with a day of margin for a relying party that was down.
fn default_publish_ahead() -> u64 {
    2 * DAY
}

/// 14 days: longer than any token this server signs lives (access tokens at most a
/// day), so every token the replaced key signed expires before the key retires.
fn default_retire_after() -> u64 {
    14 * DAY
}

impl SigningSection {
    pub(super) fn rotation(&self) -> Result<KeyRotation, String> {
        if self.rotation_interval == 0 || self.retire_after == 0 {
            return Err(
                "[signing] rotation_interval and retire_after: must be at least 1 second".into(),
            );
        }
        if self.publish_ahead >= self.rotation_interval {
            return Err("[signing] publish_ahead: must be shorter than rotation_interval".into());
        }
        Ok(KeyRotation {
            rotation_interval: self.rotation_interval,
            publish_ahead: self.publish_ahead,
            retire_after: self.retire_after,
        })
    }
}

pub(super) fn check(s: ServerSection) -> Result<ServerSettings, String> {
    let issuer = check_issuer(&s.issuer).map_err(|e| format!("[server] issuer: {e}"))?;
    let listen: SocketAddr = s.listen.parse().map_err(|_| {
        format!(
            "[server] listen: `{}` is not an address and port such as 0.0.0.0:8080",
            s.listen
        )
    })?;
    if s.workers == Some(0) {
        return Err("[server] workers: must be at least 1".into());
    }
    if !(1024..=1024 * 1024).contains(&s.max_body_bytes) {
        return Err("[server] max_body_bytes: must be between 1024 and 1048576".into());
    }
    if !(1..=300).contains(&s.body_timeout) {
        return Err("[server] body_timeout: must be between 1 and 300 seconds".into());
    }
    if s.max_connections_per_address == 0 {
        return Err("[server] max_connections_per_address: must be at least 1".into());
    }
    let trusted_proxies = TrustedProxies::parse(&s.trusted_proxies)
        .map_err(|e| format!("[server] trusted_proxies: {e}"))?;
    // Whether the files load is checked where they are loaded (`crate::tls`), which
    // `check-config` runs too.
    let tls = match (s.tls_cert_file, s.tls_key_file) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => return Err("[server] tls_key_file: needed with tls_cert_file".into()),
        (None, Some(_)) => return Err("[server] tls_cert_file: needed with tls_key_file".into()),
    };
    let management_listen = s
        .management_listen
        .map(|m| {
            let addr: SocketAddr = m.parse().map_err(|_| {
                format!(
                    "[server] management_listen: `{m}` is not an address and port such as \
                     0.0.0.0:9090"
                )
            })?;
            if addr == listen {
                return Err(
                    "[server] management_listen: must differ from [server] listen".to_owned(),
                );
            }
            Ok(addr)
        })
        .transpose()?;
    Ok(ServerSettings {
        issuer,
        listen,
        data_dir: s.data_dir,
        workers: s.workers,
        max_body_bytes: s.max_body_bytes,
        body_timeout: Duration::from_secs(s.body_timeout),
        max_connections_per_address: s.max_connections_per_address,
        trusted_proxies,
        tls,
        management_listen,
    })
}

/// OpenID Connect Discovery §3: an https URL with no query or fragment; plain http is
/// accepted only for loopback hosts, for development and tests.
///
/// Relying parties compare the issuer byte for byte, so it is kept as written, less
/// one trailing `/`. What the URL parser forgives and rewrites (`HTTPS:`, `https:host`,
/// blanks, an empty `@`, `\` for `/`, dot segments) is therefore refused rather than
/// kept.
fn check_issuer(issuer: &str) -> Result<String, String> {
    let url = Url::parse(issuer).map_err(|e| match e {
        ParseError::RelativeUrlWithoutBase => "must be an absolute https URL".to_owned(),
        ParseError::EmptyHost => "has no host".to_owned(),
        e => e.to_string(),
    })?;
    let written = issuer
        .strip_prefix(url.scheme())
        .and_then(|rest| rest.strip_prefix("://"))
        .filter(|_| matches!(url.scheme(), "https" | "http"))
        .ok_or("must be an absolute https URL")?;
    if url.scheme() == "http" && !url.host().is_some_and(is_loopback) {
        return Err("must use https (http is accepted only for loopback hosts)".into());
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || issuer.contains(|c: char| c.is_whitespace() || c.is_control())
    {
        return Err("must not contain a query, fragment or whitespace".into());
    }
    if !url.username().is_empty() || url.password().is_some() || written.contains('@') {
        return Err("must not contain user information (`user@`)".into());
    }
    let authority = written.strip_suffix('/').unwrap_or(written);
    if url.path() != "/" || authority.contains(['/', '\\']) {
        return Err("must not have a path: Ostium serves its endpoints at the root".into());
    }
    Ok(issuer.strip_suffix('/').unwrap_or(issuer).to_owned())
}

/// Whether a host names this machine. The parser has lower-cased a domain and read
/// every spelling of an IP address, so `LOCALHOST` and `127.1` are loopback too.
fn is_loopback(host: Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name == "localhost",
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{BASE, parse};

    #[test]
    fn server_section_is_checked() {
        for (from, to, expected) in [
            (
                "https://id.example.com",
                "http://id.example.com",
                "must use https",
            ),
            (
                "https://id.example.com",
                "https://id.example.com/?x=1",
                "must not contain a query",
            ),
            (
                "https://id.example.com",
                "id.example.com",
                "absolute https URL",
            ),
            ("0.0.0.0:8080", "0.0.0.0", "[server] listen"),
            (
                "data_dir =",
                "tls_cert_file = \"/etc/ostium/tls.crt\"\ndata_dir =",
                "[server] tls_key_file: needed with tls_cert_file",
            ),
            (
                "data_dir =",
                "tls_key_file = \"/etc/ostium/tls.key\"\ndata_dir =",
                "[server] tls_cert_file: needed with tls_key_file",
            ),
            (
                "data_dir =",
                "management_listen = \"0.0.0.0:8080\"\ndata_dir =",
                "[server] management_listen: must differ from [server] listen",
            ),
            (
                "data_dir =",
                "management_listen = \"9090\"\ndata_dir =",
                "[server] management_listen: `9090` is not an address",
            ),
        ] {
            let err = parse(&BASE.replace(from, to)).unwrap_err().to_string();
            assert!(err.contains(expected), "{to}: {err}");
        }
        for loopback in [
            "http://127.0.0.1:8080",
            "http://localhost/",
            "http://[::1]:9000",
        ] {
            parse(&BASE.replace("https://id.example.com", loopback)).unwrap();
        }
        let both = "tls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\n\
                    management_listen = \"127.0.0.1:9090\"\ndata_dir =";
        let server = parse(&BASE.replace("data_dir =", both)).unwrap().server;
        assert_eq!(
            server.tls,
            Some(TlsFiles {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        assert_eq!(
            server.management_listen,
            Some("127.0.0.1:9090".parse().unwrap())
        );
    }

    /// The issuer is in every token and relying parties compare it byte for byte, so
    /// an accepted issuer is kept as written, less one trailing `/`: no lower-casing,
    /// no dropping of a default port, no punycode.
    #[test]
    fn accepted_issuers_are_kept_as_written() {
        for (written, kept) in [
            ("https://id.example.com", "https://id.example.com"),
            ("https://id.example.com/", "https://id.example.com"),
            ("https://id.example.com:443", "https://id.example.com:443"),
            (
                "https://id.example.com:8443/",
                "https://id.example.com:8443",
            ),
            ("https://id.example.com:", "https://id.example.com:"),
            ("https://ID.Example.COM", "https://ID.Example.COM"),
            ("https://bücher.example", "https://bücher.example"),
            ("https://10.0.0.1", "https://10.0.0.1"),
            ("https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.8.9.10", "http://127.8.9.10"),
            ("http://localhost/", "http://localhost"),
            ("http://localhost:8080/", "http://localhost:8080"),
            ("http://[::1]:9000", "http://[::1]:9000"),
            ("http://[::0001]", "http://[::0001]"),
        ] {
            assert_eq!(check_issuer(written).as_deref(), Ok(kept), "{written}");
        }
    }

    #[test]
    fn refused_issuers_say_why() {
        let https = "must use https (http is accepted only for loopback hosts)";
        let absolute = "must be an absolute https URL";
        let query = "must not contain a query, fragment or whitespace";
        let user = "must not contain user information (`user@`)";
        let path = "must not have a path: Ostium serves its endpoints at the root";
        for (written, why) in [
            ("http://id.example.com", https),
            ("http://localhost.", https),
            ("http://127.0.0.1.example.com", https),
            ("id.example.com", absolute),
            ("id.example.com:443", absolute),
            ("ftp://id.example.com", absolute),
            // The URL parser would read these as https://id.example.com, but the
            // issuer is kept as written.
            ("HTTPS://id.example.com", absolute),
            ("https:/id.example.com", absolute),
            ("https:id.example.com", absolute),
            (" https://id.example.com", absolute),
            ("https://id.example.com/?x=1", query),
            ("https://id.example.com#top", query),
            ("https://id.example.com?", query),
            ("https://id.example.com\n", query),
            ("https://", "has no host"),
            ("https://user@id.example.com", user),
            ("https://user:pw@id.example.com", user),
            ("https://@id.example.com", user),
            ("https://id.example.com/oauth", path),
            ("http://localhost:8080/oauth", path),
            ("https://id.example.com//", path),
            ("https://id.example.com/.", path),
            ("https://id.example.com/%2e", path),
        ] {
            assert_eq!(check_issuer(written), Err(why.to_owned()), "{written:?}");
        }
    }

    /// Where reading the issuer as a URL changed the outcome: hosts and ports that
    /// are not valid are refused, and loopback is decided on the host the parser
    /// read. An accepted issuer is still kept as written.
    #[test]
    fn issuers_are_read_as_urls() {
        for (written, kept) in [
            ("http://LOCALHOST", "http://LOCALHOST"),
            ("http://127.1:8080", "http://127.1:8080"),
        ] {
            assert_eq!(check_issuer(written).as_deref(), Ok(kept), "{written}");
        }
        let path = "must not have a path: Ostium serves its endpoints at the root";
        for (written, why) in [
            ("https://:443", "has no host"),
            ("http://", "has no host"),
            ("https://id.example.com:99999", "invalid port number"),
            ("https://id.example.com:https", "invalid port number"),
            (
                "https://id%example.com",
                "invalid international domain name",
            ),
            ("https://[::1", "invalid IPv6 address"),
            (
                "http://user@localhost",
                "must not contain user information (`user@`)",
            ),
            ("https://id.example.com\\", path),
            ("https://id.example.com\\oauth", path),
            ("https:///id.example.com", path),
        ] {
            assert_eq!(check_issuer(written), Err(why.to_owned()), "{written:?}");
        }
    }
}
