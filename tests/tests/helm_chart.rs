//! The Helm chart (`charts/ostium`), rendered with `helm template` for the setups
//! an operator picks (the defaults, one core, five cores with autoscaled edges, an
//! external Redis, TLS with an Ingress): each rendering passes `helm lint
//! --strict` and `kubernetes-validate --strict`, and keeps what makes the cluster
//! safe: peers that match the replica count, a disruption budget that keeps a
//! quorum, Raft off the public Service and reachable from Ostium's own pods only,
//! no secret in a ConfigMap, and node configurations that `ostium check-config`
//! accepts with the files the pod would mount.
//!
//! `helm` and `kubernetes-validate` are found through `OSTIUM_HELM` and
//! `OSTIUM_KUBERNETES_VALIDATE`, which `scripts/test.sh` sets (it installs them
//! with `scripts/chart-tools.sh`); without them these tests fail, saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use ostium_e2e::{TestDir, ostium_bin};
use serde::Deserialize;
use serde_json::Value;

const RELEASE: &str = "auth";
const NAMESPACE: &str = "identity";

/// Every setup the chart is tested in: a name and its values file under `ci/`.
const SETUPS: &[(&str, Option<&str>)] = &[
    ("defaults", None),
    ("one core", Some("one-core-values.yaml")),
    ("five cores and edges", Some("five-cores-edges-values.yaml")),
    ("external Redis", Some("external-redis-values.yaml")),
    ("TLS and Ingress", Some("tls-ingress-values.yaml")),
];

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/ostium")
}

fn tool(var: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "{var} is not set: scripts/test.sh installs the chart's tools and sets it; \
             by hand: eval \"$(scripts/chart-tools.sh)\""
        )
    });
    assert!(path.exists(), "{var}={} does not exist", path.display());
    path
}

/// Runs a command; (success, stdout, stderr).
fn run(command: &mut Command) -> (bool, String, String) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `helm template` of the chart with a values file from `ci/` and `--set`s.
fn helm_template(values: Option<&str>, sets: &[&str]) -> Result<String, String> {
    let mut command = Command::new(tool("OSTIUM_HELM"));
    command
        .args(["template", RELEASE])
        .arg(chart())
        .args(["--namespace", NAMESPACE]);
    if let Some(values) = values {
        command.arg("-f").arg(chart().join("ci").join(values));
    }
    for set in sets {
        command.args(["--set", set]);
    }
    let (ok, out, err) = run(&mut command);
    if ok { Ok(out) } else { Err(err) }
}

/// The rendered objects of one setup, as JSON values.
struct Rendering {
    name: &'static str,
    yaml: String,
    objects: Vec<Value>,
}

impl Rendering {
    fn of(name: &'static str, values: Option<&str>) -> Self {
        let yaml = helm_template(values, &[])
            .unwrap_or_else(|e| panic!("{name}: helm template failed:\n{e}"));
        let objects = serde_norway::Deserializer::from_str(&yaml)
            .map(|doc| Value::deserialize(doc).expect("helm renders YAML"))
            .filter(|doc| !doc.is_null())
            .collect();
        Self {
            name,
            yaml,
            objects,
        }
    }

    fn all() -> Vec<Self> {
        SETUPS
            .iter()
            .map(|(name, values)| Self::of(name, *values))
            .collect()
    }

    fn kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Value> + 'a {
        let kind = kind.to_owned();
        self.objects
            .iter()
            .filter(move |o| o["kind"] == kind.as_str())
    }

    fn one(&self, kind: &str) -> &Value {
        let found: Vec<_> = self.kind(kind).collect();
        assert_eq!(found.len(), 1, "{}: one {kind} expected", self.name);
        found[0]
    }

    fn named(&self, kind: &str, name: &str) -> Option<&Value> {
        self.kind(kind).find(|o| o["metadata"]["name"] == name)
    }

    fn statefulset(&self) -> &Value {
        self.one("StatefulSet")
    }

    fn replicas(&self) -> u64 {
        self.statefulset()["spec"]["replicas"]
            .as_u64()
            .expect("replicas is a number")
    }

    fn config_files(&self) -> BTreeMap<String, String> {
        let data = self.one("ConfigMap")["data"]
            .as_object()
            .expect("ConfigMap data");
        data.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect()
    }

    /// The Raft port number of the cores.
    fn raft_port(&self) -> u64 {
        container(self.statefulset())["ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["name"] == "raft"))
            .and_then(|p| p["containerPort"].as_u64())
            .expect("the core container names its raft port")
    }
}

fn container(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]["containers"][0]
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

#[test]
fn the_chart_lints_strictly_in_every_setup() {
    for (name, values) in SETUPS {
        let mut command = Command::new(tool("OSTIUM_HELM"));
        command.args(["lint", "--strict"]).arg(chart());
        if let Some(values) = values {
            command.arg("-f").arg(chart().join("ci").join(values));
        }
        let (ok, out, err) = run(&mut command);
        assert!(ok, "{name}: helm lint --strict failed:\n{out}{err}");
    }
}

#[test]
fn every_rendering_is_valid_kubernetes() {
    let version = std::env::var("OSTIUM_KUBERNETES_VERSION").unwrap_or_else(|_| "1.37.0".into());
    let dir = TestDir::new("helm-validate");
    for rendering in Rendering::all() {
        let file = dir
            .path()
            .join(format!("{}.yaml", rendering.name.replace(' ', "-")));
        std::fs::write(&file, &rendering.yaml).unwrap();
        let (ok, out, err) = run(Command::new(tool("OSTIUM_KUBERNETES_VALIDATE"))
            .args(["--strict", "--quiet", "--kubernetes-version", &version])
            .arg(&file));
        let report = format!("{out}{err}");
        assert!(
            ok,
            "{}: kubernetes-validate --strict failed:\n{report}",
            rendering.name
        );
        // Only the Prometheus Operator's own kind has no schema in Kubernetes'.
        for line in report.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                line.contains("Couldn't find schema for kind ServiceMonitor"),
                "{}: {line}",
                rendering.name
            );
        }
    }
}

#[test]
fn each_core_is_a_peer_with_its_ordinal_as_node_id() {
    for rendering in Rendering::all() {
        let name = rendering.name;
        let sts = rendering.statefulset();
        let replicas = rendering.replicas();
        let sts_name = sts["metadata"]["name"].as_str().unwrap();
        let headless_name = sts["spec"]["serviceName"].as_str().unwrap();
        assert_eq!(sts["spec"]["podManagementPolicy"], "Parallel", "{name}");
        let headless = rendering
            .named("Service", headless_name)
            .unwrap_or_else(|| panic!("{name}: no Service {headless_name}"));
        assert_eq!(headless["spec"]["clusterIP"], "None", "{name}");
        assert_eq!(
            headless["spec"]["publishNotReadyAddresses"], true,
            "{name}: peers must resolve before they are ready"
        );
        let core = container(sts);
        assert_eq!(
            core["args"],
            serde_json::json!(["serve", "--config", "/etc/ostium/config/$(POD_NAME).toml"]),
            "{name}"
        );
        assert_eq!(
            core["env"][0],
            serde_json::json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
            "{name}"
        );
        let expected_peers: BTreeMap<String, String> = (0..replicas)
            .map(|i| {
                (
                    (i + 1).to_string(),
                    format!(
                        "{sts_name}-{i}.{headless_name}.{NAMESPACE}.svc.cluster.local:{}",
                        rendering.raft_port()
                    ),
                )
            })
            .collect();
        let files = rendering.config_files();
        let core_files: Vec<_> = files.keys().filter(|k| *k != "edge.toml").collect();
        assert_eq!(core_files.len() as u64, replicas, "{name}: {core_files:?}");
        for i in 0..replicas {
            let file = format!("{sts_name}-{i}.toml");
            let text = files
                .get(&file)
                .unwrap_or_else(|| panic!("{name}: no {file}"));
            let config: toml::Value = toml::from_str(text).unwrap();
            let cluster = &config["cluster"];
            assert_eq!(
                cluster["node_id"].as_integer(),
                Some(i as i64 + 1),
                "{name}: {file}"
            );
            let peers: BTreeMap<String, String> = cluster["peers"]
                .as_table()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            assert_eq!(peers, expected_peers, "{name}: {file}");
        }
        if let Some(edge) = files.get("edge.toml") {
            let config: toml::Value = toml::from_str(edge).unwrap();
            assert_eq!(config["cluster"]["role"].as_str(), Some("edge"));
            let id = config["cluster"]["node_id"].as_integer().unwrap();
            assert!(
                id > replicas as i64,
                "{name}: edge id {id} among the cores'"
            );
            let peers = config["cluster"]["peers"].as_table().unwrap();
            assert_eq!(peers.len() as u64, replicas, "{name}: edge peers");
        }
    }
}

/// `[signing]`'s key lifecycle reaches every node and `[state] cache_mb` every core,
/// as numbers (values files give them as floats, which a template may print as
/// 2.592e+06); unset, they are left to Ostium's defaults.
#[test]
fn key_rotation_and_the_state_cache_reach_the_configuration() {
    let rendering = Rendering::of("five cores and edges", Some("five-cores-edges-values.yaml"));
    let files = rendering.config_files();
    assert_eq!(
        files.len(),
        6,
        "five cores and the edges: {:?}",
        files.keys()
    );
    for (file, text) in &files {
        let config: toml::Value = toml::from_str(text).unwrap();
        let field = |table: &str, key: &str| config.get(table)?.get(key)?.as_integer();
        assert_eq!(
            field("signing", "rotation_interval"),
            Some(2_592_000),
            "{file}"
        );
        assert_eq!(field("signing", "publish_ahead"), Some(86_400), "{file}");
        assert_eq!(field("signing", "retire_after"), Some(604_800), "{file}");
        // Numbers stay integers however the values file writes them, and 0 is a value.
        assert_eq!(
            field("login", "max_failures_per_address"),
            Some(2_592_000),
            "{file}"
        );
        assert_eq!(field("login", "max_waiting_per_address"), Some(0), "{file}");
        if file == "edge.toml" {
            assert!(
                config.get("state").is_none(),
                "{file}: edges hold no records"
            );
        } else {
            assert_eq!(field("state", "cache_mb"), Some(128), "{file}");
        }
    }
    // The cores' memory request leaves room for the cache and the rest of a core.
    let request = container(rendering.statefulset())["resources"]["requests"]["memory"]
        .as_str()
        .expect("the cores request memory")
        .to_owned();
    let mib: i64 = match request.split_at(request.len() - 2) {
        (n, "Mi") => n.parse().unwrap(),
        (n, "Gi") => n.parse::<i64>().unwrap() * 1024,
        _ => panic!("a memory request in Mi or Gi: {request}"),
    };
    assert!(mib >= 128 + 160, "{request} for a 128 MiB cache");

    for (file, text) in Rendering::of("defaults", None).config_files() {
        let config: toml::Value = toml::from_str(&text).unwrap();
        let signing = config.get("signing").expect("[signing]");
        for key in ["rotation_interval", "publish_ahead", "retire_after"] {
            assert!(signing.get(key).is_none(), "{file}: {key}");
        }
        let state = config.get("state").and_then(|s| s.get("cache_mb"));
        assert!(state.is_none(), "{file}: cache_mb");
    }
}

/// Without the management listener, metrics are scraped from the public port, which
/// serves TLS with the issuer's certificate: the scrape must ask for that name (or
/// what the values give), not the pod's address.
#[test]
fn a_service_monitor_scrapes_a_tls_port_by_the_issuers_name() {
    let monitor = |sets: &[&str]| {
        let yaml = helm_template(Some("tls-ingress-values.yaml"), sets).unwrap();
        let objects: Vec<Value> = serde_norway::Deserializer::from_str(&yaml)
            .map(|doc| Value::deserialize(doc).unwrap())
            .filter(|doc| doc["kind"] == "ServiceMonitor")
            .collect();
        objects[0]["spec"]["endpoints"][0].clone()
    };
    let public = monitor(&["management.enabled=false"]);
    assert_eq!(public["scheme"], "https", "{public}");
    assert_eq!(
        public["tlsConfig"]["serverName"], "id.example.com",
        "{public}"
    );
    let own = monitor(&[
        "management.enabled=false",
        "serviceMonitor.tlsConfig.serverName=ostium.internal",
        "serviceMonitor.tlsConfig.ca.secret.name=internal-ca",
        "serviceMonitor.tlsConfig.ca.secret.key=ca.crt",
    ]);
    assert_eq!(own["tlsConfig"]["serverName"], "ostium.internal", "{own}");
    assert_eq!(
        own["tlsConfig"]["ca"]["secret"]["name"], "internal-ca",
        "{own}"
    );
    let management = monitor(&[]);
    assert_eq!(management["port"], "management", "{management}");
    assert!(management.get("tlsConfig").is_none(), "{management}");
}

#[test]
fn the_disruption_budget_keeps_a_quorum() {
    for rendering in Rendering::all() {
        let replicas = rendering.replicas();
        let quorum = replicas / 2 + 1;
        let pdb = rendering.one("PodDisruptionBudget");
        assert_eq!(
            pdb["spec"]["maxUnavailable"].as_u64(),
            Some(replicas - quorum),
            "{}: {replicas} cores keep a quorum of {quorum}",
            rendering.name
        );
        assert!(pdb["spec"]["minAvailable"].is_null(), "{}", rendering.name);
        let pod_labels = &rendering.statefulset()["spec"]["template"]["metadata"]["labels"];
        assert!(
            labels_match(&pdb["spec"]["selector"]["matchLabels"], pod_labels),
            "{}: the budget selects the cores",
            rendering.name
        );
    }
}

#[test]
fn raft_is_reachable_from_ostium_pods_only_and_never_public() {
    for rendering in Rendering::all() {
        let name = rendering.name;
        let raft = rendering.raft_port();
        let headless = rendering.statefulset()["spec"]["serviceName"].clone();
        for service in rendering.kind("Service") {
            if service["metadata"]["name"] == headless {
                continue;
            }
            for port in service["spec"]["ports"].as_array().unwrap() {
                assert!(
                    port["targetPort"] != "raft" && port["targetPort"].as_u64() != Some(raft),
                    "{name}: Service {} exposes Raft",
                    service["metadata"]["name"]
                );
                assert_ne!(port["port"].as_u64(), Some(raft), "{name}");
            }
        }
        // The core pods' policy: Raft only from cores and edges; no rule opens every port.
        let core_labels = &rendering.statefulset()["spec"]["template"]["metadata"]["labels"];
        let edge_labels = rendering
            .kind("Deployment")
            .find(|d| d["metadata"]["labels"]["app.kubernetes.io/component"] == "edge")
            .map(|d| d["spec"]["template"]["metadata"]["labels"].clone());
        let policy = rendering
            .kind("NetworkPolicy")
            .find(|p| labels_match(&p["spec"]["podSelector"]["matchLabels"], core_labels))
            .unwrap_or_else(|| panic!("{name}: no NetworkPolicy for the cores"));
        let mut raft_rules = 0;
        for rule in policy["spec"]["ingress"].as_array().unwrap() {
            let ports = rule["ports"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: a rule without ports opens Raft"));
            if !ports.iter().any(|p| p["port"] == "raft") {
                continue;
            }
            raft_rules += 1;
            let from = rule["from"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: Raft open to everyone"));
            assert!(!from.is_empty(), "{name}: Raft open to everyone");
            for peer in from {
                let selector = &peer["podSelector"]["matchLabels"];
                let ours = labels_match(selector, core_labels)
                    || edge_labels
                        .as_ref()
                        .is_some_and(|edge| labels_match(selector, edge));
                assert!(
                    ours && peer["namespaceSelector"].is_null() && peer["ipBlock"].is_null(),
                    "{name}: Raft reachable from {peer}"
                );
            }
        }
        assert_eq!(raft_rules, 1, "{name}: one rule admits Raft traffic");
    }
}

/// Every secret value the chart puts in a Secret, decoded, and those the values
/// files give.
fn secret_values(rendering: &Rendering) -> Vec<String> {
    let mut values = vec!["s3cret-redis-password".to_owned()];
    for secret in rendering.kind("Secret") {
        for value in secret["data"]
            .as_object()
            .into_iter()
            .flat_map(|d| d.values())
        {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.as_str().unwrap())
                .unwrap();
            values.push(String::from_utf8(decoded).unwrap());
        }
    }
    values
}

#[test]
fn no_secret_is_in_a_configmap() {
    for rendering in Rendering::all() {
        let name = rendering.name;
        let secrets = secret_values(&rendering);
        assert!(secrets.len() > 1, "{name}: at least the cluster secret");
        for configmap in rendering.kind("ConfigMap") {
            let text = configmap["data"].to_string();
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{name}: a secret is in a ConfigMap"
                );
            }
            for field in ["client_secrets =", "api_secrets =", "password ="] {
                assert!(!text.contains(field), "{name}: {field} in a ConfigMap");
            }
            assert!(
                !text.contains("sha256:"),
                "{name}: a secret's digest in a ConfigMap"
            );
            for file in configmap["data"].as_object().unwrap().values() {
                let file = file.as_str().unwrap_or_default();
                for line in file.lines().filter(|l| l.starts_with("redis_url =")) {
                    assert!(
                        !line.contains('@'),
                        "{name}: Redis credentials in a ConfigMap"
                    );
                }
            }
        }
    }
}

/// Lays out the files a pod of `workload` would see (its ConfigMap and Secret
/// volumes) under `root`, from the rendering; Secrets the chart does not make
/// (existing ones) get a stand-in value.
fn pod_files(rendering: &Rendering, workload: &Value, root: &Path) {
    let spec = &workload["spec"]["template"]["spec"];
    for mount in container(workload)["volumeMounts"].as_array().unwrap() {
        let volume = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .or_else(|| {
                workload["spec"]["volumeClaimTemplates"]
                    .as_array()
                    .and_then(|t| t.iter().find(|v| v["metadata"]["name"] == mount["name"]))
            })
            .unwrap_or_else(|| panic!("{}: no volume {}", rendering.name, mount["name"]));
        let dir = root.join(mount["mountPath"].as_str().unwrap().trim_start_matches('/'));
        std::fs::create_dir_all(&dir).unwrap();
        let mut sources = Vec::new();
        if let Some(name) = volume["configMap"]["name"].as_str() {
            let data = rendering.named("ConfigMap", name).expect("the ConfigMap")["data"].clone();
            for (key, value) in data.as_object().unwrap() {
                std::fs::write(dir.join(key), value.as_str().unwrap()).unwrap();
            }
        }
        if let Some(name) = volume["secret"]["secretName"].as_str() {
            sources.push(serde_json::json!({"secret": {"name": name}}));
        }
        sources.extend(
            volume["projected"]["sources"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        // An existing TLS Secret holds a real pair: check-config loads it.
        let tls = rcgen::generate_simple_self_signed(vec!["id.example.com".to_owned()]).unwrap();
        for source in sources {
            let name = source["secret"]["name"].as_str().unwrap();
            let data = rendering
                .named("Secret", name)
                .map(|s| s["data"].clone())
                .unwrap_or(Value::Null);
            let items: Vec<(String, String)> = match source["secret"]["items"].as_array() {
                Some(items) => items
                    .iter()
                    .map(|i| {
                        (
                            i["key"].as_str().unwrap().into(),
                            i["path"].as_str().unwrap().into(),
                        )
                    })
                    .collect(),
                None => ["tls.crt", "tls.key"]
                    .iter()
                    .map(|k| ((*k).into(), (*k).into()))
                    .collect(),
            };
            for (key, path) in items {
                let value = match data[&key].as_str() {
                    Some(b64) => base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap(),
                    None if key.contains("redis") => {
                        b"redis://:stand-in@redis.example:6379/".to_vec()
                    }
                    None if key == "tls.crt" => tls.cert.pem().into_bytes(),
                    None if key == "tls.key" => tls.signing_key.serialize_pem().into_bytes(),
                    None => format!("stand-in for existing Secret {name} key {key}").into_bytes(),
                };
                let file = dir.join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, value).unwrap();
            }
        }
    }
}

#[test]
fn every_node_configuration_passes_check_config_with_the_files_its_pod_mounts() {
    for rendering in Rendering::all() {
        let name = rendering.name;
        let workloads: Vec<&Value> = rendering
            .kind("StatefulSet")
            .chain(rendering.kind("Deployment"))
            .filter(|w| container(w)["name"] == "ostium")
            .collect();
        let mut checked = BTreeSet::new();
        for workload in workloads {
            let dir = TestDir::new("helm-pod");
            pod_files(&rendering, workload, dir.path());
            let config = container(workload)["args"][2].as_str().unwrap();
            let pods: Vec<String> = match workload["kind"].as_str() {
                Some("StatefulSet") => (0..rendering.replicas())
                    .map(|i| format!("{}-{i}", workload["metadata"]["name"].as_str().unwrap()))
                    .collect(),
                _ => vec!["edge".into()],
            };
            for pod in pods {
                let path = config.replace("$(POD_NAME)", &pod);
                let on_disk = dir.path().join(path.trim_start_matches('/'));
                // The configuration names files by their paths in the pod.
                let text = std::fs::read_to_string(&on_disk)
                    .unwrap_or_else(|e| panic!("{name}: {path} is not mounted: {e}"))
                    .replace(
                        "/etc/ostium/",
                        &format!("{}/etc/ostium/", dir.path().display()),
                    );
                std::fs::write(&on_disk, text).unwrap();
                let (ok, out, err) =
                    run(Command::new(ostium_bin()).arg("check-config").arg(&on_disk));
                assert!(ok, "{name}: {path}: check-config failed:\n{out}{err}");
                assert!(err.is_empty(), "{name}: {path}: warnings:\n{err}");
                checked.insert(path);
            }
        }
        let expected = rendering.replicas() as usize
            + usize::from(rendering.config_files().contains_key("edge.toml"));
        assert_eq!(checked.len(), expected, "{name}: {checked:?}");
    }
}

#[test]
fn the_schema_refuses_what_cannot_run() {
    for (sets, why) in [
        (&["core.replicas=2"][..], "an even number of cores"),
        (&["core.replicas=4"][..], "an even number of cores"),
        (&["core.replicas=7"][..], "more than five voters"),
        (
            &["edge.enabled=true", "redis.enabled=false"][..],
            "edges without a hot cache",
        ),
        (&["tls.enabled=true"][..], "TLS without a certificate"),
        (
            &["issuer=https://id.example.com/path"][..],
            "an issuer with a path",
        ),
        (&["core.replica=3"][..], "a misspelt value"),
        (&["state.cacheMb=3"][..], "a records cache under 4 MiB"),
        (&["state.cacheMb=-64"][..], "a negative records cache"),
        (
            &["state.cacheMb=big"][..],
            "a records cache that is no number",
        ),
        (&["signing.rotationInterval=0"][..], "keys that never sign"),
        (&["signing.retireAfter=0"][..], "keys retired at once"),
        (&["signing.publishAhead=-1"][..], "a negative publication"),
        (
            &["signing.rotationInterval=86400"][..],
            "a key that signs before it is published (the default two days ahead)",
        ),
        (
            &["signing.rotationInterval=600", "signing.publishAhead=600"][..],
            "a key that signs before it is published",
        ),
    ] {
        assert!(
            helm_template(None, sets).is_err(),
            "{why} ({sets:?}) was accepted"
        );
    }
    assert!(helm_template(None, &["core.replicas=5"]).is_ok());
    let minimal = helm_template(
        None,
        &[
            "state.cacheMb=4",
            "signing.rotationInterval=6",
            "signing.publishAhead=0",
            "signing.retireAfter=1",
        ],
    )
    .expect("the smallest lifecycle and cache Ostium accepts");
    for line in ["cache_mb = 4", "rotation_interval = 6", "publish_ahead = 0"] {
        assert!(minimal.contains(line), "{line} not rendered");
    }
}

/// Every value's path in values.yaml: `a.b.c` for leaves and for empty maps.
fn value_paths(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value.as_object() {
        Some(map)
            if !map.is_empty()
                && !prefix.ends_with("SecurityContext")
                && prefix != "securityContext" =>
        {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                value_paths(&path, v, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

#[test]
fn the_chart_readme_describes_every_value() {
    let values: Value =
        serde_norway::from_str(&std::fs::read_to_string(chart().join("values.yaml")).unwrap())
            .unwrap();
    let readme = std::fs::read_to_string(chart().join("README.md")).unwrap();
    let mut paths = Vec::new();
    value_paths("", &values, &mut paths);
    let missing: Vec<_> = paths
        .iter()
        .filter(|p| !readme.contains(&format!("`{p}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "values not in charts/ostium/README.md: {missing:?}"
    );
}
