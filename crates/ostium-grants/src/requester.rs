//! Who sent a request to a grant: the client it authenticated as, the scopes and
//! resources of the configuration that client was found in, and the network address
//! it came from (brute-force protection counts by address). Behind a reverse proxy
//! the address is the proxy's, unless the server trusts the proxy to name the client
//! (`[server] trusted_proxies`).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use ostium_protocol::{Client, ResourceCatalog};

#[derive(Debug, Clone)]
pub struct Requester {
    pub client: Arc<Client>,
    /// The scopes and resources known when the client was authenticated: a
    /// configuration reload swaps both together, and a request keeps the pair.
    pub catalog: Arc<ResourceCatalog>,
    /// The peer address of the HTTP connection, when there is one.
    pub address: Option<IpAddr>,
}

impl Requester {
    pub fn new(
        client: Arc<Client>,
        catalog: Arc<ResourceCatalog>,
        address: Option<IpAddr>,
    ) -> Self {
        Self {
            client,
            catalog,
            address,
        }
    }
}

/// The network a client address is counted as, by every per-address limit: an IPv4
/// address itself; an IPv6 address's /64, since one subscriber is given a whole /64
/// and could otherwise take a fresh address for every guess. An IPv4 client seen
/// through IPv6 counts as its IPv4 address: mapped (a dual-stack listener's view of
/// an IPv4 peer) or translated by NAT64 (`64:ff9b::/96`, RFC 6052), where every
/// IPv4 client shares one /64.
pub fn network_of(address: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = address.to_canonical() else {
        return address.to_canonical();
    };
    let [a, b, c, d, e, f, g, h] = v6.segments();
    if [a, b, c, d, e, f] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [g1, g2] = g.to_be_bytes();
        let [h1, h2] = h.to_be_bytes();
        return IpAddr::from([g1, g2, h1, h2]);
    }
    IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
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
        assert_eq!(network("64:ff9b::c000:207"), "192.0.2.7");
        assert_eq!(network("64:ff9b::c000:208"), "192.0.2.8");
        assert_eq!(network("192.0.2.7"), "192.0.2.7");
    }
}
