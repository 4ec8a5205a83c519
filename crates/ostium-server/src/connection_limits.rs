//! Connections per client address: a client that opens many connections and trickles
//! a body down each (one byte every few seconds) would otherwise hold them all, and
//! the node's open files with them. Every accepted connection takes a slot for its
//! peer address until it closes; past `[server] max_connections_per_address`, the
//! connection's first request is answered 503 and the connection closed, before any
//! body is read. An IPv6 client counts by its /64 (see `ostium_grants::network_of`).
//! Connections from `[server] trusted_proxies` are not counted: a proxy pools many
//! clients' requests, and has its own limits. Plain and TLS connections count alike:
//! actix hands `on_connect` the stream it accepted, a `TcpStream` or a rustls stream
//! over one, once the TLS handshake is done; handshakes themselves are bounded by
//! actix's per-worker limit on handshakes in progress and its handshake timeout.

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::rt::net::TcpStream;
use ostium_grants::login_guard::REFUSAL_DELAY;
use ostium_grants::network_of;
use ostium_protocol::OAuthError;

use crate::client_address::TrustedProxies;
use crate::routes::error_response;

/// Open connections by peer address, shared by every worker.
#[derive(Debug)]
pub(crate) struct ConnectionLimits {
    max_per_address: usize,
    trusted_proxies: TrustedProxies,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`ConnectionLimits`], given back when the connection
/// closes (actix drops a connection's data with it).
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    address: IpAddr,
    /// The address already held its share when this connection opened.
    pub over_limit: bool,
}

impl ConnectionLimits {
    pub(crate) fn new(max_per_address: usize, trusted_proxies: TrustedProxies) -> Arc<Self> {
        Arc::new(Self {
            max_per_address,
            trusted_proxies,
            open: Mutex::default(),
        })
    }

    /// For `HttpServer::on_connect`: takes a slot for the connection's peer.
    pub(crate) fn on_connect(self: &Arc<Self>, connection: &dyn Any, data: &mut Extensions) {
        // A stream of another kind would go uncounted, and the limit with it: every
        // listener `server.rs` binds must be one of these.
        let Some(address) = peer_address(connection) else {
            return;
        };
        if !self.trusted_proxies.contains(address) {
            data.insert(self.take(network_of(address)));
        }
    }

    fn take(self: &Arc<Self>, address: IpAddr) -> ConnectionSlot {
        let mut open = self.lock();
        let count = open.entry(address).or_default();
        *count += 1;
        ConnectionSlot {
            limits: self.clone(),
            address,
            over_limit: *count > self.max_per_address,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Counting never panics while the lock is held.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn open_from(&self, address: IpAddr) -> usize {
        self.lock().get(&address).copied().unwrap_or_default()
    }
}

/// The peer of a connection as actix accepted it: plain TCP, or TLS over TCP.
fn peer_address(connection: &dyn Any) -> Option<IpAddr> {
    let tcp = connection.downcast_ref::<TcpStream>().or_else(|| {
        connection
            .downcast_ref::<TlsStream<TcpStream>>()
            .map(|tls| tls.get_ref().0)
    })?;
    tcp.peer_addr().ok().map(|peer| peer.ip())
}

/// Middleware: the first request on a connection over its address's share is
/// answered `503 temporarily_unavailable` and the connection closed, before anything
/// of the request is read, a second late ([`REFUSAL_DELAY`], as a refused login):
/// a client that reconnects as fast as it is refused would otherwise keep a core
/// busy accepting and refusing.
pub(crate) async fn refuse_over_limit<B: MessageBody>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if request
        .conn_data::<ConnectionSlot>()
        .is_some_and(|slot| slot.over_limit)
    {
        actix_web::rt::time::sleep(REFUSAL_DELAY).await;
        let mut response = error_response(&OAuthError::temporarily_unavailable(
            "too many connections from this address",
        ));
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        return Ok(request.into_response(response).map_into_right_body());
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limits.lock();
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_share_and_closing_gives_it_back() {
        let limits = ConnectionLimits::new(2, TrustedProxies::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = limits.take(a);
        let second = limits.take(a);
        let third = limits.take(a);
        assert!(!first.over_limit && !second.over_limit && third.over_limit);
        assert!(!limits.take(b).over_limit);
        drop(third);
        drop(first);
        assert_eq!(limits.open_from(a), 1);
        assert!(!limits.take(a).over_limit);
        drop(second);
        assert_eq!(limits.open_from(b), 0);
    }
}
