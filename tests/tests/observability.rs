//! What operators watch: request traces exported over OTLP to a collector, with
//! the caller's trace continued, and the Prometheus scrape.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use ostium_e2e::fixture::*;

/// A minimal OTLP/HTTP collector: accepts POSTs and hands each body to the test.
fn collector() -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
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
            if reader.read_exact(&mut body).is_ok() {
                let path = request_line
                    .split(' ')
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send((path, body));
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
            );
        }
    });
    (endpoint, rx)
}

#[test]
fn request_traces_reach_an_otlp_collector_and_continue_the_callers_trace() {
    let (endpoint, bodies) = collector();
    let node = SingleNode::start_with_env(
        "otlp",
        "ES256",
        "",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_SERVICE_NAME", "ostium-under-test"),
        ],
    );
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = reqwest::blocking::Client::new()
        .post(node.token_endpoint())
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .basic_auth(MACHINE_ID, Some("not-the-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let trace_id_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let remaining = deadline.saturating_duration_since(std::time::Instant::now());
        let (path, body) = bodies
            .recv_timeout(remaining)
            .expect("no trace with the caller's trace id reached the collector");
        // Metrics are exported to the same collector (`/v1/metrics`).
        if path != "/v1/traces" {
            continue;
        }
        let contains = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
        if contains(&trace_id_bytes) {
            assert!(contains(b"/connect/token"), "the span names the route");
            assert!(
                contains(b"ostium-under-test"),
                "OTEL_SERVICE_NAME is honoured"
            );
            assert!(!contains(b"not-the-secret"), "a secret reached the trace");
            break;
        }
    }
}
