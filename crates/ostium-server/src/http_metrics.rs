//! Request counts and latency per route: for Prometheus (`/metrics`), and, when
//! metrics are exported over OTLP, the semantic conventions' HTTP server histogram
//! (`http.server.request.duration`, docs/architecture.md §10).
//!
//! Every route's series exist from the start (at zero), so a fresh node's dashboards
//! show 0, not "no data".

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram as OtelHistogram, Meter};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::routes;
use crate::state::Shared;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

fn latency_histogram() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The semantic conventions' advice for `http.server.request.duration`, in seconds.
const SEMCONV_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The route label of requests no route matched.
pub(crate) const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug)]
pub(crate) struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// Only when metrics are exported: recording into a no-op meter would still cost
    /// the attributes on every request.
    semconv: Option<OtelHistogram<f64>>,
}

impl HttpMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            semconv: None,
        };
        registry.register(
            "ostium_http_requests",
            "HTTP requests, by route and status",
            metrics.requests.clone(),
        );
        registry.register(
            "ostium_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            metrics.latency.clone(),
        );
        for route in routes::PATHS.iter().chain([&UNMATCHED]) {
            let _ = metrics.latency.get_or_create(&RouteLabels { route });
        }
        // Served routes' successes; other statuses appear when first answered.
        for route in routes::PATHS {
            let _ = metrics
                .requests
                .get_or_create(&RequestLabels { route, status: 200 });
        }
        metrics
    }

    /// Records `http.server.request.duration` through `meter` as well.
    pub fn export_with(&mut self, meter: &Meter) {
        self.semconv = Some(
            meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Duration of HTTP server requests")
                .with_boundaries(SEMCONV_BOUNDARIES.to_vec())
                .build(),
        );
    }

    /// `route` is the matched route (never the raw path, so labels stay bounded).
    pub fn observe(
        &self,
        route: &'static str,
        method: &Method,
        status: u16,
        secure: bool,
        elapsed: Duration,
    ) {
        let seconds = elapsed.as_secs_f64();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        if let Some(histogram) = &self.semconv {
            let mut attributes = vec![
                KeyValue::new("http.request.method", method_name(method)),
                KeyValue::new("http.response.status_code", i64::from(status)),
                KeyValue::new("url.scheme", if secure { "https" } else { "http" }),
            ];
            if route != UNMATCHED {
                attributes.push(KeyValue::new("http.route", route));
            }
            if status >= 500 {
                attributes.push(KeyValue::new("error.type", status.to_string()));
            }
            histogram.record(seconds, &attributes);
        }
    }
}

/// The method as the semantic conventions name it: a known method, or `_OTHER`
/// (a client must not be able to make new series).
pub(crate) fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// The route a response was served by, as a label: one of [`routes::PATHS`].
pub(crate) fn route_of<B>(response: &ServiceResponse<B>) -> &'static str {
    let name = response.request().match_name();
    routes::PATHS
        .iter()
        .find(|path| Some(**path) == name)
        .copied()
        .unwrap_or(UNMATCHED)
}

/// Middleware: counts and times every request, on the public and the management
/// listener alike.
pub(crate) async fn observe_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let shared = request.app_data::<web::Data<Shared>>().cloned();
    let method = request.method().clone();
    let secure = request.app_config().secure();
    let response = next.call(request).await?;
    if let Some(shared) = shared {
        shared.http_metrics.observe(
            route_of(&response),
            &method,
            response.status().as_u16(),
            secure,
            started.elapsed(),
        );
    }
    Ok(response)
}
