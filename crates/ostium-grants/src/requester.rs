//! Who sent a request to a grant: the client it authenticated as, and the network
//! address it came from (brute-force protection counts by address). Behind a reverse
//! proxy the address is the proxy's.

use std::net::IpAddr;
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
