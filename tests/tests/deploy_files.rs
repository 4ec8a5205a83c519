//! The local cluster in `deploy/`: the compose file is valid (`docker compose
//! config` where Docker has compose; otherwise its structure is checked here), its
//! node configurations pass `ostium check-config`, its Redis cannot evict, every
//! node is scraped, and the image runs as a non-root user. The dashboards are
//! checked in `dashboard_metrics.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ostium_e2e::run_cli;
use serde_json::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut value: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // The compose file shares the nodes' settings through `<<: *ostium`.
    value.apply_merge().unwrap();
    serde_json::to_value(value).unwrap()
}

fn compose() -> Value {
    yaml(&deploy().join("compose.yaml"))
}

/// The services that run `ostium serve`, with the configuration file each serves
/// (its path on this machine, through the service's bind mounts).
fn ostium_services(compose: &Value) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for (name, service) in compose["services"].as_object().unwrap() {
        let command = &service["command"];
        if command[0] != "serve" {
            continue;
        }
        assert_eq!(command[1], "--config", "{name}");
        let in_container = command[2].as_str().unwrap();
        let host = service["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .filter_map(|v| {
                let mut parts = v.split(':');
                Some((parts.next()?, parts.next()?))
            })
            .find_map(|(source, target)| {
                let rest = in_container.strip_prefix(target)?;
                Some(deploy().join(source).join(rest.trim_start_matches('/')))
            })
            .unwrap_or_else(|| panic!("{name}: {in_container} is not mounted from deploy/"));
        found.push((name.clone(), host));
    }
    found
}

#[test]
fn the_compose_file_is_valid() {
    let docker = Command::new("docker").args(["compose", "version"]).output();
    if docker.is_ok_and(|o| o.status.success()) {
        let output = Command::new("docker")
            .args(["compose", "-f"])
            .arg(deploy().join("compose.yaml"))
            .args(["config", "--quiet"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "docker compose config:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Without Docker's compose (and with it too): the structure the cluster needs.
    let compose = compose();
    let services = compose["services"].as_object().expect("services");
    for needed in [
        "core-1",
        "core-2",
        "core-3",
        "edge",
        "redis",
        "otel-collector",
        "prometheus",
        "grafana",
    ] {
        assert!(services.contains_key(needed), "no service {needed}");
    }
    let allowed = BTreeSet::from([
        "image",
        "build",
        "command",
        "entrypoint",
        "environment",
        "ports",
        "volumes",
        "depends_on",
        "read_only",
        "restart",
        "user",
    ]);
    let named_volumes = compose["volumes"].as_object().expect("volumes");
    for (name, service) in services {
        let service = service.as_object().unwrap();
        for key in service.keys() {
            assert!(
                allowed.contains(key.as_str()),
                "{name}: unexpected key {key}"
            );
        }
        assert!(service.contains_key("image"), "{name}: no image");
        for depends in service
            .get("depends_on")
            .and_then(|d| d.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
            .or_else(|| {
                service.get("depends_on").and_then(|d| {
                    d.as_array()
                        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
                })
            })
            .unwrap_or_default()
        {
            assert!(
                services.contains_key(&depends),
                "{name}: depends on {depends}"
            );
        }
        for volume in service
            .get("volumes")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            let source = volume.as_str().unwrap().split(':').next().unwrap();
            if source.starts_with('.') {
                assert!(
                    deploy().join(source).exists(),
                    "{name}: {source} does not exist"
                );
            } else {
                assert!(
                    named_volumes.contains_key(source),
                    "{name}: volume {source}"
                );
            }
        }
    }
    let redis = services["redis"]["command"].to_string();
    assert!(
        redis.contains(r#""--maxmemory-policy","noeviction""#),
        "Ostium refuses a Redis that may evict: {redis}"
    );
}

#[test]
fn the_compose_nodes_configurations_pass_check_config() {
    let compose = compose();
    let nodes = ostium_services(&compose);
    assert_eq!(nodes.len(), 4, "three cores and an edge: {nodes:?}");
    let mut ids = BTreeSet::new();
    for (name, file) in &nodes {
        let (ok, out, err) = run_cli(&["check-config", file.to_str().unwrap()], None);
        assert!(ok, "{name}: check-config:\n{out}{err}");
        assert!(err.is_empty(), "{name}: warnings:\n{err}");
        let config: toml::Value = toml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        ids.insert(config["cluster"]["node_id"].as_integer().unwrap());
        let peers = config["cluster"]["peers"].as_table().unwrap();
        for addr in peers.values() {
            let host = addr.as_str().unwrap().split(':').next().unwrap();
            assert!(
                compose["services"].get(host).is_some(),
                "{name}: peer {host} is no service"
            );
        }
        assert_eq!(
            config["cache"]["redis_url"].as_str(),
            Some("redis://redis:6379/"),
            "{name}"
        );
    }
    assert_eq!(ids.len(), nodes.len(), "node ids are unique: {ids:?}");
}

#[test]
fn prometheus_scrapes_every_node_and_the_collector_takes_otlp() {
    let compose = compose();
    let prometheus = yaml(&deploy().join("prometheus/prometheus.yml"));
    let targets = prometheus["scrape_configs"].to_string();
    for (name, file) in ostium_services(&compose) {
        let config: toml::Value = toml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let port = config["server"]["listen"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned();
        assert!(
            targets.contains(&format!("\"{name}:{port}\"")),
            "{name}:{port} is not scraped"
        );
        let endpoint = &compose["services"][&name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"];
        assert_eq!(endpoint, "http://otel-collector:4318", "{name}");
    }
    let collector = yaml(&deploy().join("otel-collector/config.yaml"));
    let otlp = &collector["receivers"]["otlp"]["protocols"];
    assert_eq!(otlp["http"]["endpoint"], "0.0.0.0:4318");
    assert_eq!(otlp["grpc"]["endpoint"], "0.0.0.0:4317");
    for (pipeline, body) in collector["service"]["pipelines"].as_object().unwrap() {
        for exporter in body["exporters"].as_array().unwrap() {
            assert!(
                collector["exporters"]
                    .get(exporter.as_str().unwrap())
                    .is_some(),
                "{pipeline}: exporter {exporter} is not defined"
            );
        }
    }
}

#[test]
fn the_image_is_built_in_stages_and_runs_as_a_non_root_user() {
    let dockerfile = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let stages = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "a builder stage and a runtime stage");
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER line");
    let uid = user.split(':').next().unwrap().trim();
    assert!(uid != "0" && uid != "root", "runs as {user}");
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        last_stage.contains("USER "),
        "the runtime stage sets the user"
    );
}
