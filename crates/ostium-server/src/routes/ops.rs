//! Operations endpoints: liveness, readiness and the Prometheus scrape.

use actix_web::{HttpResponse, web};
use ostium_state::NodeStatus;

use crate::state::Shared;

/// Liveness: the process answers HTTP.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: keys are loaded and every grant actor is started before the listener
/// opens, so a node that answers can issue access tokens. A core reports the Raft
/// leader it has heard from within the election timeout, and whether it can write
/// (refresh tokens, revocations, reference tokens) now; an edge whether the hot
/// cache is vouched for (else its reads go to the cores). A node that cannot write
/// stays ready: reads and stateless grants keep working. Every node names the
/// fingerprint of the client configuration it serves, which every node of a
/// cluster should share.
pub(crate) async fn readyz(shared: web::Data<Shared>) -> HttpResponse {
    let kid = shared.keys.active().ok().map(|key| key.kid().to_owned());
    let mut body = match shared.grant_context.store.status().await {
        NodeStatus::Core { leader, writable } => serde_json::json!({
            "status": "ready",
            "role": "core",
            "signing_key": kid,
            "raft_leader": leader,
            "writable": writable,
        }),
        NodeStatus::Edge { cache_watermark } => serde_json::json!({
            "status": "ready",
            "role": "edge",
            "signing_key": kid,
            "cache_watermark": cache_watermark,
        }),
        NodeStatus::Memory => serde_json::json!({
            "status": "ready",
            "signing_key": kid,
        }),
    };
    body["configuration"] = shared.directory.load().fingerprint.clone().into();
    HttpResponse::Ok().json(body)
}

/// Prometheus scrape, in the OpenMetrics text format.
pub(crate) async fn metrics(shared: web::Data<Shared>) -> HttpResponse {
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &shared.metrics) {
        tracing::error!(error = %e, "could not encode metrics");
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(body)
}
