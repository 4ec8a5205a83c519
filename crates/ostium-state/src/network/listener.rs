//! The Raft listener: a small HTTP/1.1 server on the node's Raft address, on the Raft
//! runtime, serving `POST /raft/{rpc}` and `POST /cluster/{op}`. It starts with the
//! node, before anything waits for a quorum (peers must reach each other to form
//! one), and never shares the public port.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::auth::CLUSTER_AUTH_HEADER;
use super::cluster::ClusterService;
use super::fault;
use super::service::RaftService;

/// A log append or a snapshot chunk (4 MiB) are the largest bodies on this listener.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Binds `addr` and serves until `stop` is cancelled; also returns the address bound
/// (the port the system chose, for port 0).
pub async fn bind_and_serve(
    addr: SocketAddr,
    raft: RaftService,
    cluster: ClusterService,
    stop: CancellationToken,
) -> std::io::Result<(JoinHandle<()>, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((serve(listener, raft, cluster, stop), bound))
}

/// Serves on `listener` until `stop` is cancelled; that also ends every connection
/// it accepted, as a crash of the node would.
pub fn serve(
    listener: TcpListener,
    raft: RaftService,
    cluster: ClusterService,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Some(accepted) = stop.run_until_cancelled(listener.accept()).await {
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "Raft listener could not accept a connection");
                    continue;
                }
            };
            // A reply is small and awaited: never hold it back for Nagle's algorithm.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY on a Raft connection");
            }
            let (raft, cluster) = (raft.clone(), cluster.clone());
            connections.spawn(async move {
                let handler =
                    service_fn(move |request| handle(raft.clone(), cluster.clone(), request));
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), handler)
                    .await
                {
                    tracing::debug!(error = %e, "Raft connection ended");
                }
            });
            // Forget connections that have ended, so the set does not grow.
            while connections.try_join_next().is_some() {}
        }
    })
}

async fn handle(
    raft: RaftService,
    cluster: ClusterService,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::POST {
        return Ok(status(StatusCode::METHOD_NOT_ALLOWED));
    }
    let path = request.uri().path().to_owned();
    if fault::refuses(&path) {
        return Ok(status(StatusCode::SERVICE_UNAVAILABLE));
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let auth = header(CLUSTER_AUTH_HEADER);
    let traceparent = header(crate::trace::TRACEPARENT);
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(status(StatusCode::PAYLOAD_TOO_LARGE)),
    };
    let reply = if let Some(rpc) = path.strip_prefix("/raft/") {
        raft.handle(rpc, &body, auth.as_deref())
            .await
            .map_err(|e| e.http_status())
    } else if let Some(operation) = path.strip_prefix("/cluster/") {
        // Only a traced caller's call is traced: status polls and an edge's reads
        // outside any trace would each start a trace of their own.
        let span = match &traceparent {
            Some(traceparent) => {
                let span = tracing::info_span!(
                    "cluster call",
                    otel.name = %format!("cluster {operation}"),
                    otel.kind = "server",
                );
                crate::trace::continue_trace(&span, traceparent);
                span
            }
            None => tracing::Span::none(),
        };
        cluster
            .handle(operation, &body, auth.as_deref())
            .instrument(span)
            .await
            .map_err(|e| e.http_status())
    } else {
        Err(404)
    };
    Ok(match reply {
        Ok(bytes) => Response::new(Full::new(Bytes::from(bytes))),
        Err(code) => status(StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)),
    })
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
