//! Who sent a request to a grant: the client it authenticated as, and the network
//! address it came from (brute-force protection counts by address). Behind a reverse
//! proxy the address is the proxy's, unless the server trusts the proxy to name the
//! client (`[server] trusted_proxies`).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use ostium_protocol::Client;

#[derive(Debug, Clone)]
pub struct Requester {
    pub client: Arc<Client>,
    /// The peer address of the HTTP connection, when there is one.
    pub address: Option<IpAddr>,
}

impl Requester {
    pub fn new(client: Arc<Client>, address: Option<IpAddr>) -> Self {
        Self { client, address }
    }
}

/// The network a client address is counted as, by every per-address limit: an IPv4
/// address itself; an IPv6 address's /64, since one subscriber is given a whole /64
/// and could otherwise take a fresh address for every guess. An IPv4 address mapped
/// into IPv6 (a dual-stack listener's view of an IPv4 peer) counts as itself.
pub fn network_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_subscriber_counts_as_one_whatever_address_it_takes() {
        let network = |a: &str| network_of(a.parse().unwrap()).to_string();
        assert_eq!(network("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(network("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::");
        assert_eq!(network("2001:db8:1:3::1"), "2001:db8:1:3::");
        assert_eq!(network("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(network("192.0.2.7"), "192.0.2.7");
    }
}
