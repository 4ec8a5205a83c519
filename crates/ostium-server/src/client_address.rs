//! Which address a request came from, for the per-address limits and the logs.
//! Directly connected, it is the connection's peer. Behind reverse proxies the peer
//! is a proxy, and every client would share its limits: so when the peer is one of
//! `[server] trusted_proxies`, the address is read from `X-Forwarded-For`, right to
//! left, skipping the trusted proxies; the first address that is not one is the
//! client. Entries further left were written by the client itself and could be
//! anything, so they are never read.

use std::net::IpAddr;
use std::str::FromStr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The networks whose connections are reverse proxies that name the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From CIDR blocks (`10.0.0.0/8`) or single addresses (`192.0.2.7`).
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                IpNet::from_str(entry)
                    .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                    .map_err(|_| format!("`{entry}` is neither an address nor a CIDR block"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        // An IPv4 peer of a dual-stack listener is seen as `::ffff:a.b.c.d`.
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The address `request` came from: see the module documentation.
    pub fn client_address(&self, request: &HttpRequest) -> Option<IpAddr> {
        let peer = request.peer_addr()?.ip();
        if !self.contains(peer) {
            return Some(peer);
        }
        let mut hops = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
            .into_iter()
            .rev();
        let mut client = peer;
        for hop in hops.by_ref() {
            // A hop that is not an address (`unknown`, an obfuscated name) ends what
            // can be known: the last trusted proxy is as far as it goes.
            let Some(address) = parse_hop(hop) else { break };
            client = address;
            if !self.contains(address) {
                break;
            }
        }
        Some(client)
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`[::1]:443`,
/// `192.0.2.7:443`), as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    IpAddr::from_str(hop)
        .ok()
        .or_else(|| std::net::SocketAddr::from_str(hop).ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse(&["10.0.0.0/8".into(), "2001:db8::1".into()]).unwrap()
    }

    fn from(peer: &str, forwarded: &[&str]) -> Option<String> {
        let mut request = TestRequest::default().peer_addr(peer.parse().unwrap());
        for value in forwarded {
            request = request.append_header(("X-Forwarded-For", *value));
        }
        proxies()
            .client_address(&request.to_http_request())
            .map(|a| a.to_string())
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_nobody_else_does() {
        let client = |peer, forwarded| from(peer, forwarded).unwrap();
        // Directly connected: the header is the client's own word, and ignored.
        assert_eq!(client("192.0.2.9:5000", &["203.0.113.5"]), "192.0.2.9");
        // Through a proxy: the right-most untrusted hop.
        assert_eq!(client("10.1.2.3:5000", &["203.0.113.5"]), "203.0.113.5");
        assert_eq!(
            client("10.1.2.3:5000", &["1.1.1.1, 203.0.113.5, 10.9.9.9"]),
            "203.0.113.5",
            "a forged entry on the left is never read"
        );
        assert_eq!(
            client("10.1.2.3:5000", &["1.1.1.1", "203.0.113.5:443"]),
            "203.0.113.5",
            "headers are read as one list"
        );
        assert_eq!(
            client("[2001:db8::1]:5000", &["[2001:db8::7]:1"]),
            "2001:db8::7"
        );
        assert_eq!(
            client("[::ffff:10.0.0.1]:5000", &["198.51.100.1"]),
            "198.51.100.1"
        );
        // A proxy that names nobody, or garbage: the proxy itself.
        assert_eq!(client("10.1.2.3:5000", &[]), "10.1.2.3");
        assert_eq!(client("10.1.2.3:5000", &["unknown"]), "10.1.2.3");
        assert_eq!(client("10.1.2.3:5000", &["10.4.4.4"]), "10.4.4.4");
    }

    #[test]
    fn entries_are_addresses_or_cidr_blocks() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.internal".into()]).is_err());
        let none = TrustedProxies::default();
        assert!(!none.contains("10.0.0.1".parse().unwrap()));
    }
}
