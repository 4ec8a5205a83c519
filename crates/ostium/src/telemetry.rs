//! Logs, traces and metrics: `tracing` to standard error, and traces and metrics to
//! an OpenTelemetry collector over OTLP when the standard `OTEL_*` variables say so
//! (docs/architecture.md §10).
//!
//! `RUST_LOG` filters as usual; without it, Ostium's own events are logged from
//! `info` and every library's from `warn` ([`DEFAULT_FILTER`]). Repeated warnings
//! are held back ([`RepeatLimit`]). `OSTIUM_LOG_FORMAT=json` writes one JSON object
//! per line for log shippers. The W3C trace-context propagator is installed so that
//! a `traceparent` header on a request continues the caller's trace.
//!
//! Export: traces when `OTEL_EXPORTER_OTLP_ENDPOINT` or `…_TRACES_ENDPOINT` is set,
//! metrics when `OTEL_EXPORTER_OTLP_ENDPOINT` or `…_METRICS_ENDPOINT` is set (either
//! turned off by `OTEL_TRACES_EXPORTER=none` / `OTEL_METRICS_EXPORTER=none`), over
//! gRPC or HTTP/protobuf as `OTEL_EXPORTER_OTLP_{TRACES_,METRICS_,}PROTOCOL` says
//! (`http/protobuf` by default, as the specification's default). The exporters read
//! the other `OTEL_*` variables themselves (headers, timeouts, batch and export
//! intervals). The resource names the service, the node and its role.

use anyhow::{Context as _, bail};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{MetricExporter, SpanExporter};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
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

/// Which node this process is, for the resource every span and metric carries.
pub struct NodeIdentity {
    /// `[cluster] node_id`, 1 for a single node.
    pub node_id: u64,
    /// `core` or `edge`.
    pub role: &'static str,
}

/// The exporters; flushes what they hold when shut down.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
    /// The gRPC exporters' connections run here (tonic needs a tokio runtime, and
    /// the exporters' own threads have none); kept until the exporters are shut down.
    grpc_runtime: Option<tokio::runtime::Runtime>,
}

impl Telemetry {
    /// Whether traces are exported, and so whether request spans are worth building.
    pub fn exporting_traces(&self) -> bool {
        self.traces.is_some()
    }

    /// The meter HTTP server metrics are recorded with, when metrics are exported.
    pub fn meter(&self) -> Option<Meter> {
        self.metrics
            .as_ref()
            .map(|provider| provider.meter("ostium"))
    }

    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(e) = provider.shutdown()
        {
            eprintln!("could not flush traces: {e}");
        }
        if let Some(provider) = self.metrics
            && let Err(e) = provider.shutdown()
        {
            eprintln!("could not flush metrics: {e}");
        }
        if let Some(runtime) = self.grpc_runtime {
            runtime.shutdown_background();
        }
    }
}

/// OTLP's transports that Ostium speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// One signal's export settings, from the environment.
struct Signal {
    name: &'static str,
    endpoint_var: &'static str,
    protocol_var: &'static str,
    exporter_var: &'static str,
}

const TRACES: Signal = Signal {
    name: "traces",
    endpoint_var: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    protocol_var: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    exporter_var: "OTEL_TRACES_EXPORTER",
};

const METRICS: Signal = Signal {
    name: "metrics",
    endpoint_var: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    protocol_var: "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    exporter_var: "OTEL_METRICS_EXPORTER",
};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Signal {
    /// How this signal is exported, or `None` when it is not.
    fn protocol(&self) -> anyhow::Result<Option<Protocol>> {
        match var(self.exporter_var).as_deref() {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(other) => bail!(
                "{}: `{other}` is not supported; use `otlp` or `none`",
                self.exporter_var
            ),
        }
        if var("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() && var(self.endpoint_var).is_none() {
            return Ok(None);
        }
        let (name, value) = match var(self.protocol_var) {
            Some(value) => (self.protocol_var, value),
            None => (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                var("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_else(|| "http/protobuf".into()),
            ),
        };
        match value.trim() {
            "grpc" => Ok(Some(Protocol::Grpc)),
            "http/protobuf" => Ok(Some(Protocol::HttpProtobuf)),
            other => bail!(
                "{name}: `{other}` is not supported for {}; use `grpc` or `http/protobuf`",
                self.name
            ),
        }
    }
}

/// The resource of every span and metric: `service.name` (`OTEL_SERVICE_NAME`, or
/// `ostium`), `service.instance.id` (the node id unless `OTEL_RESOURCE_ATTRIBUTES`
/// gives one), `ostium.node.id` and `ostium.node.role`.
fn resource(node: &NodeIdentity) -> Resource {
    // The builder reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES itself.
    let from_env = Resource::builder().build();
    let mut resource = Resource::builder();
    if var("OTEL_SERVICE_NAME").is_none()
        && from_env
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .is_none_or(|name| name.as_str().starts_with("unknown_service"))
    {
        resource = resource.with_service_name("ostium");
    }
    if from_env
        .get(&opentelemetry::Key::from_static_str("service.instance.id"))
        .is_none()
    {
        resource = resource.with_attribute(KeyValue::new(
            "service.instance.id",
            node.node_id.to_string(),
        ));
    }
    resource
        .with_attribute(KeyValue::new(
            "ostium.node.id",
            i64::try_from(node.node_id).unwrap_or(i64::MAX),
        ))
        .with_attribute(KeyValue::new("ostium.node.role", node.role))
        .build()
}

pub fn init(node: &NodeIdentity) -> anyhow::Result<Telemetry> {
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

    let traces = TRACES.protocol()?;
    let metrics = METRICS.protocol()?;
    let grpc_runtime = if traces == Some(Protocol::Grpc) || metrics == Some(Protocol::Grpc) {
        Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("ostium-otlp")
                .enable_all()
                .build()
                .context("starting the OTLP/gRPC runtime")?,
        )
    } else {
        None
    };
    // tonic's channel starts its connection task on the runtime it is built in; the
    // HTTP exporters' blocking client must be built outside any runtime.
    let resource = resource(node);
    let traces = traces
        .map(|protocol| {
            let exporter = match protocol {
                Protocol::Grpc => {
                    let _entered = grpc_runtime.as_ref().map(|runtime| runtime.enter());
                    SpanExporter::builder().with_tonic().build()
                }
                Protocol::HttpProtobuf => SpanExporter::builder().with_http().build(),
            }
            .context("OTLP trace exporter")?;
            anyhow::Ok(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource.clone())
                    .build(),
            )
        })
        .transpose()?;
    let metrics = metrics
        .map(|protocol| {
            let exporter = match protocol {
                Protocol::Grpc => {
                    let _entered = grpc_runtime.as_ref().map(|runtime| runtime.enter());
                    MetricExporter::builder().with_tonic().build()
                }
                Protocol::HttpProtobuf => MetricExporter::builder().with_http().build(),
            }
            .context("OTLP metric exporter")?;
            // The reader reads OTEL_METRIC_EXPORT_INTERVAL itself (60 s by default).
            anyhow::Ok(
                SdkMeterProvider::builder()
                    .with_reader(PeriodicReader::builder(exporter).build())
                    .with_resource(resource.clone())
                    .build(),
            )
        })
        .transpose()?;

    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let logs = tracing_subscriber::registry().with(fmt);
    // Branches rather than an optional layer: an absent layer would still ask for
    // every span, and request spans would be built for nobody.
    match &traces {
        Some(provider) => logs
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("ostium"))
                    .with_filter(filter(TRACES_DEFAULT_FILTER)),
            )
            .try_init()?,
        None => logs.try_init()?,
    }
    Ok(Telemetry {
        traces,
        metrics,
        grpc_runtime,
    })
}
