//! What operators watch: request traces exported over OTLP to a collector, with
//! the caller's trace continued.

use std::time::Duration;

use ostium_e2e::fixture::*;
use ostium_e2e::otlp::OtlpReceiver;

#[test]
fn request_traces_reach_an_otlp_collector_and_continue_the_callers_trace() {
    let receiver = OtlpReceiver::http();
    let mut env = receiver.env();
    env.push(("OTEL_SERVICE_NAME", "ostium-under-test".to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let node = SingleNode::start_with_env("otlp", "ES256", "", &env);
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

    let request = receiver.wait_for(
        "the request's span, in the caller's trace",
        Duration::from_secs(20),
        |spans, _| {
            spans
                .iter()
                .find(|s| {
                    hex::encode(&s.trace_id) == trace_id
                        && hex::encode(&s.parent_span_id) == "00f067aa0ba902b7"
                })
                .cloned()
        },
    );
    let route = request.attributes.get("http.route").map(String::as_str);
    assert!(
        route == Some("/connect/token") || request.name.contains("/connect/token"),
        "the span names the route: {request:?}"
    );
    assert_eq!(
        request.resource.get("service.name").map(String::as_str),
        Some("ostium-under-test"),
        "OTEL_SERVICE_NAME is honoured"
    );
    for span in receiver.spans() {
        let everything = format!("{span:?}");
        assert!(
            !everything.contains("not-the-secret"),
            "a secret reached a span: {span:?}"
        );
    }
}
