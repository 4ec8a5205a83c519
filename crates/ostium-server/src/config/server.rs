//! `[server]` and `[signing]`: where this node listens, the issuer it names in
//! tokens, and the algorithm it signs them with.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ostium_tokens::SigningAlgorithm;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub issuer: String,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// HTTP worker threads; defaults to the number of CPUs this process may use.
    pub workers: Option<usize>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
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
}

fn default_max_body_bytes() -> usize {
    16 * 1024
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SigningSection {
    #[serde(default)]
    pub(super) algorithm: SigningAlgorithm,
}

pub(super) fn check(s: ServerSection) -> Result<ServerSettings, String> {
    let issuer = check_issuer(&s.issuer).map_err(|e| format!("[server] issuer: {e}"))?;
    let listen = s.listen.parse().map_err(|_| {
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
    Ok(ServerSettings {
        issuer,
        listen,
        data_dir: s.data_dir,
        workers: s.workers,
        max_body_bytes: s.max_body_bytes,
    })
}

/// OpenID Connect Discovery §3: an https URL with no query or fragment; plain http is
/// accepted only for loopback hosts, for development and tests.
fn check_issuer(issuer: &str) -> Result<String, String> {
    let rest = if let Some(rest) = issuer.strip_prefix("https://") {
        rest
    } else if let Some(rest) = issuer.strip_prefix("http://") {
        if !is_loopback(rest.split('/').next().unwrap_or_default()) {
            return Err("must use https (http is accepted only for loopback hosts)".into());
        }
        rest
    } else {
        return Err("must be an absolute https URL".into());
    };
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain a query, fragment or whitespace".into());
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err("has no host".into());
    }
    if authority.contains('@') {
        return Err("must not contain user information (`user@`)".into());
    }
    if !path.is_empty() {
        return Err("must not have a path: Ostium serves its endpoints at the root".into());
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}

/// Whether an URL authority (`host[:port]`) names this machine.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
}
