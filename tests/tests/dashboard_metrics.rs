//! Every metric the Grafana dashboards in `deploy/grafana/dashboards` query exists
//! in `/metrics` of a freshly started node (a core with the Redis hot cache), so a
//! new cluster's dashboards show numbers rather than "no data".

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ostium_e2e::fixture::SingleNode;
use ostium_e2e::redis::Redis;
use serde_json::Value;

fn grafana() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana")
}

/// Every `expr` in a dashboard, wherever it is nested.
fn expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v.as_str()) {
                    ("expr", Some(expr)) => out.push(expr.to_owned()),
                    _ => expressions(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| expressions(v, out)),
        _ => {}
    }
}

/// The metric names in a PromQL expression: Ostium's all start with `ostium_`,
/// and no label, function or keyword does.
fn metric_names(expr: &str) -> impl Iterator<Item = String> + '_ {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.starts_with("ostium_"))
        .map(str::to_owned)
}

fn dashboards() -> Vec<(String, Value)> {
    let dir = grafana().join("dashboards");
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn queried() -> BTreeSet<String> {
    let mut exprs = Vec::new();
    for (_, dashboard) in dashboards() {
        expressions(&dashboard, &mut exprs);
    }
    exprs.iter().flat_map(|e| metric_names(e)).collect()
}

#[test]
fn dashboards_are_provisioned_with_the_prometheus_data_source() {
    let found = dashboards();
    assert!(
        found.len() >= 3,
        "{:?}",
        found.iter().map(|d| &d.0).collect::<Vec<_>>()
    );
    let mut uids = BTreeSet::new();
    for (file, dashboard) in &found {
        assert!(
            uids.insert(dashboard["uid"].to_string()),
            "{file}: uid reused"
        );
        let mut ids = BTreeSet::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            assert!(
                ids.insert(panel["id"].as_u64().unwrap()),
                "{file}: panel id reused"
            );
            assert_eq!(panel["datasource"]["uid"], "prometheus", "{file}");
            assert!(!panel["targets"].as_array().unwrap().is_empty(), "{file}");
        }
    }
    let datasource =
        std::fs::read_to_string(grafana().join("provisioning/datasources/prometheus.yaml"))
            .unwrap();
    assert!(datasource.contains("uid: prometheus"));
}

#[test]
fn every_metric_a_dashboard_queries_is_exposed_by_a_fresh_node() {
    let queried = queried();
    assert!(queried.len() > 10, "too few metrics found: {queried:?}");

    let redis = Redis::start();
    let node = SingleNode::start_with(
        "dashboard-metrics",
        "ES256",
        &format!(
            "[cache]\nredis_url = \"{}\"\nnamespace = \"dashboards\"\n",
            redis.url()
        ),
    );
    let scrape = reqwest::blocking::get(format!("{}/metrics", node.issuer))
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.text())
        .expect("scrape /metrics");
    let exposed: BTreeSet<String> = scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();

    let missing: Vec<_> = queried.difference(&exposed).collect();
    assert!(
        missing.is_empty(),
        "dashboards query metrics a fresh node does not expose: {missing:?}\nexposed: {exposed:?}"
    );
}
