//! Operations endpoints: liveness, readiness and the Prometheus scrape.

use actix_web::{HttpResponse, web};

use crate::state::Shared;

/// Liveness: the process answers HTTP.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: keys are loaded and every grant actor is started before the listener
/// opens, so a node that answers can issue access tokens; the Raft leader it knows
/// of (if any) says whether it can write refresh tokens and revocations too.
pub(crate) async fn readyz(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "status": "ready",
        "signing_key": shared.keys.active().kid(),
        "raft_leader": shared.state.node().metrics().leader,
    }))
}

/// Prometheus scrape, in the OpenMetrics text format.
pub(crate) async fn metrics(shared: web::Data<Shared>) -> HttpResponse {
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &shared.registry) {
        tracing::error!(error = %e, "could not encode metrics");
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(body)
}
