//! Logs and traces: `tracing` to standard error, and to an OpenTelemetry collector
//! over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set.
//!
//! `RUST_LOG` filters as usual; without it, Ostium's own events are logged from
//! `info` and every library's from `warn` ([`DEFAULT_FILTER`]). Repeated warnings
//! are held back ([`RepeatLimit`]). `OSTIUM_LOG_FORMAT=json` writes one JSON object
//! per line for log shippers. The W3C trace-context propagator is
//! installed so that a `traceparent` header on a request continues the caller's
//! trace. The standard `OTEL_*` variables configure the exporter.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::log_limit::RepeatLimit;

/// What is logged without `RUST_LOG`: Ostium's events (every crate of the
/// workspace: targets start with `ostium`) from `info`, everything else from
/// `warn`. openraft alone writes dozens of `info` lines per start and election,
/// which Ostium's own lines (leader elected, peer unreachable, snapshot taken)
/// replace. actix-http reports every malformed request it refuses (a 400 before any
/// handler runs) as an error: anyone could fill the log with them, and there is
/// nothing for an operator to do, so they are not logged.
pub const DEFAULT_FILTER: &str = "warn,ostium=info,actix_http::h1::dispatcher=off";

/// What is exported as traces without `RUST_LOG`: request spans come from a library
/// (tracing-actix-web) at `info`, so the logs' default would drop them.
const TRACES_DEFAULT_FILTER: &str = "info";

/// Flushes buffered spans when dropped at shutdown.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether traces are exported, and so whether request spans are worth building.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("could not flush traces: {e}");
        }
    }
}

pub fn init() -> anyhow::Result<Telemetry> {
    let filter = |default: &str| {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
    };
    // Colours only for a person at a terminal: escape codes in a file or a log
    // shipper's input are noise, and break searching for `field=value`.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let fmt = if std::env::var("OSTIUM_LOG_FORMAT").is_ok_and(|f| f == "json") {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    // The log sees events only: formatting every request span's fields costs a tenth
    // of a core at full load, and traces are the exporter's job. Without an exporter
    // no layer wants request spans, so they are never built.
    let fmt = fmt.with_filter(
        filter(DEFAULT_FILTER)
            .and(filter_fn(|meta| !meta.is_span()))
            .and(RepeatLimit::start()?),
    );
    let exporting = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()));
    let provider = if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()?;
        // The builder reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES itself.
        let mut resource = Resource::builder();
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name("ostium");
        }
        Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource.build())
                .build(),
        )
    } else {
        None
    };
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let logs = tracing_subscriber::registry().with(fmt);
    // Branches rather than an optional layer: an absent layer would still ask for
    // every span, and request spans would be built for nobody.
    match &provider {
        Some(provider) => logs
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("ostium"))
                    .with_filter(filter(TRACES_DEFAULT_FILTER)),
            )
            .try_init()?,
        None => logs.try_init()?,
    }
    Ok(Telemetry { provider })
}
