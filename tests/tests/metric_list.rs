//! The list of series in docs/architecture.md §10, which the dashboards rely on, is
//! what a freshly started node serves on `/metrics`: every listed series is there
//! before any traffic (at zero where the list says so), with the listed labels, and
//! nothing unlisted is served.

use std::collections::{BTreeMap, BTreeSet};

use ostium_e2e::fixture::*;
use ostium_e2e::redis::Redis;
use ostium_e2e::{Node, TestDir, free_port};

/// One row of the list: the series name as queried, its type, its labels, and
/// whether it is zero on a fresh node (`0`) or only present (`present`).
#[derive(Debug)]
struct Listed {
    name: String,
    kind: String,
    labels: BTreeSet<String>,
    zero: bool,
}

fn listed() -> Vec<Listed> {
    let doc = include_str!("../../docs/architecture.md");
    let start = doc
        .find("<!-- metrics:begin -->")
        .expect("the metric list's start marker");
    let end = doc
        .find("<!-- metrics:end -->")
        .expect("the metric list's end marker");
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|cell| cell.trim().replace('`', ""))
            .collect()
    };
    doc[start..end]
        .lines()
        .filter(|line| line.trim_start().starts_with("| `"))
        .map(|line| {
            let cells = cells(line);
            assert_eq!(
                cells.len(),
                5,
                "a row of name, type, labels, at start, meaning: {line}"
            );
            Listed {
                name: cells[0].clone(),
                kind: cells[1].clone(),
                labels: cells[2]
                    .split(',')
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && *l != "none")
                    .map(str::to_owned)
                    .collect(),
                zero: match cells[3].as_str() {
                    "0" => true,
                    "present" => false,
                    other => panic!("`at start` must be 0 or present, not {other:?}: {line}"),
                },
            }
        })
        .collect()
}

/// A sample line: its name, labels and value.
fn samples(scrape: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample with a value");
            let value: f64 = value.parse().expect("a numeric value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => {
                    let labels = labels.trim_end_matches('}');
                    let labels = labels
                        .split(',')
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').expect("label=value");
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
                None => (series.to_owned(), BTreeMap::new()),
            };
            (name, labels, value)
        })
        .collect()
}

#[test]
fn every_listed_series_is_served_by_a_fresh_node_and_nothing_else() {
    let list = listed();
    assert!(list.len() >= 15, "the list is there: {list:?}");
    let redis = Redis::start();
    let dir = TestDir::new("metric-list");
    let port = free_port();
    let management = free_port();
    let cache = format!(
        "[cache]\nredis_url = \"{}\"\nnamespace = \"metric-list\"\n",
        redis.url()
    );
    let config = config(port, dir.path(), "ES256", &cache).replace(
        "workers = 2\n",
        &format!("workers = 2\nmanagement_listen = \"127.0.0.1:{management}\"\n"),
    );
    let ops = format!("http://127.0.0.1:{management}");
    let _node = Node::start(dir.path(), &config, &ops);
    let scrape = reqwest::blocking::get(format!("{ops}/metrics"))
        .and_then(|r| r.text())
        .expect("a scrape");
    let samples = samples(&scrape);

    for series in &list {
        let sample_name = match series.kind.as_str() {
            "histogram" => format!("{}_count", series.name),
            "counter" | "gauge" => series.name.clone(),
            other => panic!("unknown type {other} for {}", series.name),
        };
        let found: Vec<_> = samples
            .iter()
            .filter(|(n, _, _)| *n == sample_name)
            .collect();
        assert!(
            !found.is_empty(),
            "{} is not served:\n{scrape}",
            series.name
        );
        for (_, labels, value) in &found {
            let keys: BTreeSet<String> = labels.keys().cloned().collect();
            assert_eq!(keys, series.labels, "labels of {}", series.name);
            if series.zero {
                assert_eq!(*value, 0.0, "{} {labels:?} is not 0 at start", series.name);
            }
        }
    }
    // The grant-type and client labels a dashboard filters on are there for every
    // configured pair, and refusals for every error code.
    for (name, labels) in [
        (
            "ostium_tokens_issued_total",
            [
                ("grant_type", "client_credentials"),
                ("client_id", MACHINE_ID),
            ],
        ),
        (
            "ostium_token_errors_total",
            [("grant_type", "refresh_token"), ("error", "invalid_grant")],
        ),
    ] {
        assert!(
            samples.iter().any(|(n, l, _)| n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))),
            "{name} {labels:?} is not served"
        );
    }

    // Nothing is served that the list does not name.
    let names: BTreeSet<&str> = list.iter().map(|s| s.name.as_str()).collect();
    for (name, _, _) in &samples {
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| names.contains(base))
            .unwrap_or(name);
        assert!(
            names.contains(base),
            "{name} is served but not listed in docs/architecture.md"
        );
    }
}
