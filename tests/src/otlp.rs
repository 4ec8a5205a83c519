//! A local OTLP receiver for the telemetry tests: gRPC (tonic, the collector
//! services of `opentelemetry-proto`) or HTTP/protobuf (`POST /v1/traces`,
//! `/v1/metrics`), keeping every span and metric a node exports so that a test can
//! wait for the ones it expects.

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;
use prost::Message;

/// A span as received, with its resource's attributes.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub attributes: HashMap<String, String>,
    pub resource: HashMap<String, String>,
}

/// One data point of a metric as received (histogram and sum points alike), with
/// its attributes and its resource's.
#[derive(Debug, Clone)]
pub struct ReceivedPoint {
    pub metric: String,
    pub unit: String,
    pub attributes: HashMap<String, String>,
    pub resource: HashMap<String, String>,
    /// A histogram's count, or a sum's value.
    pub count: f64,
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    points: Vec<ReceivedPoint>,
}

/// A running receiver; stops with the test process.
pub struct OtlpReceiver {
    /// What `OTEL_EXPORTER_OTLP_ENDPOINT` should be.
    pub endpoint: String,
    /// What `OTEL_EXPORTER_OTLP_PROTOCOL` should be.
    pub protocol: &'static str,
    received: Arc<Mutex<Received>>,
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

impl Received {
    fn traces(&mut self, request: ExportTraceServiceRequest) {
        for resource_spans in request.resource_spans {
            let resource = attributes(
                &resource_spans
                    .resource
                    .map(|r| r.attributes)
                    .unwrap_or_default(),
            );
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    self.spans.push(ReceivedSpan {
                        name: span.name,
                        trace_id: span.trace_id,
                        span_id: span.span_id,
                        parent_span_id: span.parent_span_id,
                        attributes: attributes(&span.attributes),
                        resource: resource.clone(),
                    });
                }
            }
        }
    }

    fn metrics(&mut self, request: ExportMetricsServiceRequest) {
        for resource_metrics in request.resource_metrics {
            let resource = attributes(
                &resource_metrics
                    .resource
                    .map(|r| r.attributes)
                    .unwrap_or_default(),
            );
            for scope in resource_metrics.scope_metrics {
                for metric in scope.metrics {
                    let points: Vec<(HashMap<String, String>, f64)> = match metric.data {
                        Some(metric::Data::Histogram(h)) => h
                            .data_points
                            .iter()
                            .map(|p| (attributes(&p.attributes), p.count as f64))
                            .collect(),
                        Some(metric::Data::Sum(s)) => s
                            .data_points
                            .iter()
                            .map(|p| (attributes(&p.attributes), number(&p.value)))
                            .collect(),
                        Some(metric::Data::Gauge(g)) => g
                            .data_points
                            .iter()
                            .map(|p| (attributes(&p.attributes), number(&p.value)))
                            .collect(),
                        _ => Vec::new(),
                    };
                    for (attributes, count) in points {
                        self.points.push(ReceivedPoint {
                            metric: metric.name.clone(),
                            unit: metric.unit.clone(),
                            attributes,
                            resource: resource.clone(),
                            count,
                        });
                    }
                }
            }
        }
    }
}

fn number(
    value: &Option<opentelemetry_proto::tonic::metrics::v1::number_data_point::Value>,
) -> f64 {
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
    match value {
        Some(Value::AsDouble(d)) => *d,
        Some(Value::AsInt(i)) => *i as f64,
        None => 0.0,
    }
}

#[derive(Clone)]
struct Services(Arc<Mutex<Received>>);

#[tonic::async_trait]
impl TraceService for Services {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0
            .lock()
            .expect("receiver lock")
            .traces(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Services {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0
            .lock()
            .expect("receiver lock")
            .metrics(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl OtlpReceiver {
    /// A gRPC receiver (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`) on a loopback port.
    pub fn grpc() -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let listener = StdListener::bind("127.0.0.1:0").expect("bind the gRPC receiver");
        listener.set_nonblocking(true).expect("non-blocking");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let services = Services(received.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("receiver runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(services.clone()))
                    .add_service(MetricsServiceServer::new(services))
                    .serve_with_incoming(incoming)
                    .await
                    .expect("gRPC receiver");
            });
        });
        Self {
            endpoint,
            protocol: "grpc",
            received,
        }
    }

    /// An HTTP/protobuf receiver (`OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`).
    pub fn http() -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let listener = StdListener::bind("127.0.0.1:0").expect("bind the HTTP receiver");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let store = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let store = store.clone();
                std::thread::spawn(move || serve_http(stream, &store));
            }
        });
        Self {
            endpoint,
            protocol: "http/protobuf",
            received,
        }
    }

    /// The environment that points a node at this receiver, exporting often.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.endpoint.clone()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", self.protocol.to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500".to_owned()),
        ]
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().expect("receiver lock").spans.clone()
    }

    pub fn points(&self) -> Vec<ReceivedPoint> {
        self.received.lock().expect("receiver lock").points.clone()
    }

    /// Waits until `found` picks something out of what was received, failing the
    /// test with `what` (and what did arrive) after `timeout`.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut found: impl FnMut(&[ReceivedSpan], &[ReceivedPoint]) -> Option<T>,
    ) -> T {
        let started = Instant::now();
        loop {
            {
                let received = self.received.lock().expect("receiver lock");
                if let Some(value) = found(&received.spans, &received.points) {
                    return value;
                }
            }
            if started.elapsed() > timeout {
                let names: Vec<String> = self.spans().into_iter().map(|s| s.name).collect();
                let metrics: Vec<String> = self.points().into_iter().map(|p| p.metric).collect();
                panic!("{what}: not after {timeout:?}; spans {names:?}, metrics {metrics:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// One HTTP/1.1 connection of the HTTP receiver: requests with a `Content-Length`
/// body, answered 200 with an empty protobuf response.
fn serve_http(stream: std::net::TcpStream, store: &Mutex<Received>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = request_line.split(' ').nth(1).unwrap_or_default();
        {
            let mut received = store.lock().expect("receiver lock");
            match path {
                "/v1/traces" => {
                    if let Ok(request) = ExportTraceServiceRequest::decode(body.as_slice()) {
                        received.traces(request);
                    }
                }
                "/v1/metrics" => {
                    if let Ok(request) = ExportMetricsServiceRequest::decode(body.as_slice()) {
                        received.metrics(request);
                    }
                }
                _ => {}
            }
        }
        if writer
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
            )
            .is_err()
        {
            return;
        }
    }
}
