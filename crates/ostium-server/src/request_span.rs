//! The span of an HTTP request, named and described as the OpenTelemetry semantic
//! conventions for HTTP servers say (`POST /connect/token`; `http.request.method`,
//! `http.route`, `http.response.status_code`, `url.path`, `url.scheme`), and
//! continuing the caller's trace from a W3C `traceparent` header.
//!
//! tracing-actix-web's default span uses the older attribute names (`http.method`,
//! `http.status_code`), and records the query string, the client's address and its
//! user agent, which traces do not need.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::Extractor;
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::RootSpanBuilder;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::http_metrics::method_name;

pub(crate) struct RequestSpans;

impl RootSpanBuilder for RequestSpans {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let method = method_name(request.method());
        let route = request.match_pattern();
        // `{method} {route}`, or the method alone when no route matched (the path is
        // the client's, and span names must stay few).
        let name = match &route {
            Some(route) => format!("{method} {route}"),
            None => method.to_owned(),
        };
        let span = tracing::info_span!(
            "HTTP request",
            otel.name = %name,
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = method,
            http.route = Empty,
            http.response.status_code = Empty,
            url.path = request.path(),
            url.scheme = if request.app_config().secure() { "https" } else { "http" },
            error.type = Empty,
        );
        if let Some(route) = &route {
            span.record("http.route", route.as_str());
        }
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&Headers(request.headers()))
        });
        // Without a `traceparent` the context is empty and the span starts a trace.
        let _ = span.set_parent(parent);
        span
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("http.response.status_code", status.as_u16());
        // A 4xx is the client's error, not the server's: the span is not an error.
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", status.as_str());
        }
    }
}

/// Request headers as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
