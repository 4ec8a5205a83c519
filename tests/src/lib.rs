//! The end-to-end test harness: start real `ostium` processes, wait until they are
//! ready, talk to them over loopback, kill and restart them.
//!
//! Every end-to-end test uses this one harness, so that starting a node, finding a
//! free port or waiting for readiness is written once. Nodes run the binary built
//! by `cargo build -p ostium` (or the one named by `OSTIUM_BIN`), each in its own
//! temporary directory that holds its configuration, data and log. [`redis::Redis`]
//! runs a real `redis-server` the same way.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod browser;
pub mod cluster;
pub mod fixture;
pub mod otlp;
pub mod redis;

/// How long a node may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The `ostium` binary under test.
pub fn ostium_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("OSTIUM_BIN") {
        return PathBuf::from(bin);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let bin = target.join("debug").join("ostium");
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo build -p ostium` first (scripts/test.sh does), \
         or set OSTIUM_BIN",
        bin.display()
    );
    bin
}

/// Ports handed to nodes come from below the kernel's ephemeral range (32768 and
/// up on Linux): a port taken from that range and released can be reused at once by
/// any outgoing connection, which made nodes fail to bind under parallel tests.
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A loopback port that was free a moment ago and that no outgoing connection will
/// take. Each test process walks the range from its own offset, so parallel test
/// processes rarely try the same port.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let span = u32::from(PORTS.end - PORTS.start);
    let offset = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let step = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = PORTS.start + u16::try_from(offset.wrapping_add(step) % span).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {PORTS:?}");
}

/// Waits until `condition` holds, checking every 100 ms, and fails the test with
/// `what` if it still does not after `timeout`. For states a cluster reaches by
/// itself (an election, a node noticing a peer is gone): the test waits for the
/// state, never for a time.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < timeout, "{what}: not after {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A directory removed when dropped (kept if the test panicked, for its logs).
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(name: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("ostium-e2e-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create test directory");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs `ostium ARGS` to completion and returns (success, stdout, stderr).
pub fn run_cli(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(ostium_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ostium");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait for ostium");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs the Node.js test file `file` of `tests/js` (`node --test FILE`) with `env`,
/// installing its packages first if they are missing, and fails the test unless
/// every JS test ran and passed (they skip themselves without their environment).
pub fn run_node_tests(file: &str, env: &[(&str, &str)]) {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    if !js.join("node_modules").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&js)
            .status()
            .expect("npm is installed (scripts/test.sh installs it)");
        assert!(status.success(), "npm ci in tests/js failed");
    }
    let output = Command::new("node")
        // A JS test waiting for something that never comes fails instead of hanging.
        .args(["--test", "--test-timeout=60000", file])
        .current_dir(&js)
        .envs(env.iter().copied())
        .output()
        .expect("node is installed (scripts/test.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{file} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("# skipped 0"),
        "some JS tests were skipped:\n{stdout}"
    );
    assert!(!stdout.contains("# pass 0"), "no JS test passed:\n{stdout}");
}

/// The Chromium the browser tests drive: `OSTIUM_CHROMIUM`, else Debian's
/// `chromium` (which scripts/test.sh installs).
pub fn chromium() -> String {
    std::env::var("OSTIUM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// The Argon2id PHC string of `password`, made by `ostium hash-password`; cached,
/// since hashing is deliberately slow.
pub fn password_hash(password: &str) -> String {
    static CACHE: OnceLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hash) = cache.lock().expect("cache lock").get(password) {
        return hash.clone();
    }
    let (ok, out, err) = run_cli(&["hash-password"], Some(password));
    assert!(ok, "hash-password failed: {err}");
    let hash = out.trim().to_owned();
    cache
        .lock()
        .expect("cache lock")
        .insert(password.to_owned(), hash.clone());
    hash
}

/// A running `ostium serve` process.
pub struct Node {
    child: Option<Child>,
    config: PathBuf,
    /// Arguments of `ostium serve` beyond `--config FILE`, such as `--dev`.
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    pub base_url: String,
}

impl Node {
    /// Writes `config` (TOML) into `dir`, starts a node on it and waits until
    /// `/readyz` answers. `base_url` is where the node listens.
    pub fn start(dir: &Path, config: &str, base_url: &str) -> Self {
        Self::start_with_env(dir, config, base_url, &[])
    }

    /// As [`Node::start`], with extra environment variables for the process.
    pub fn start_with_env(dir: &Path, config: &str, base_url: &str, env: &[(&str, &str)]) -> Self {
        let mut node = Self::launch(dir, config, base_url, env);
        node.wait_ready();
        node
    }

    /// Starts the process without waiting for it: a cluster node becomes ready only
    /// once a quorum of its peers runs, so a cluster launches all, then waits.
    pub fn launch(dir: &Path, config: &str, base_url: &str, env: &[(&str, &str)]) -> Self {
        Self::launch_with_args(dir, config, base_url, env, &[])
    }

    /// As [`Node::launch`], with more arguments for `ostium serve`, such as `--dev`.
    pub fn launch_with_args(
        dir: &Path,
        config: &str,
        base_url: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let path = dir.join("ostium.toml");
        std::fs::write(&path, config).expect("write configuration");
        let mut node = Self {
            child: None,
            config: path,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            log: dir.join("ostium.log"),
            base_url: base_url.to_owned(),
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open node log");
        let child = Command::new(ostium_bin())
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .args(&self.args)
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start ostium serve");
        self.child = Some(child);
    }

    /// Waits until `/readyz` answers, failing with the node's log if it exits first.
    pub fn wait_ready(&mut self) {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client");
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll node"))
            {
                panic!("node exited during start ({status}):\n{}", self.log_text());
            }
            let ready = client
                .get(format!("{}/readyz", self.base_url))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "node not ready after {READY_TIMEOUT:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the process exits by itself (a node that refuses to start) and
    /// returns how; fails the test if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            let child = self.child.as_mut().expect("the node was started");
            if let Some(status) = child.try_wait().expect("poll node") {
                self.child = None;
                return status;
            }
            assert!(
                started.elapsed() < timeout,
                "node still running after {timeout:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the node has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: no shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the node and starts it again on the same configuration and data.
    pub fn restart(&mut self) {
        self.relaunch();
        self.wait_ready();
    }

    /// Replaces the node's configuration file with `config` and restarts the node on
    /// it: what an operator does to change clients or users.
    pub fn reconfigure(&mut self, config: &str) {
        std::fs::write(&self.config, config).expect("write configuration");
        self.restart();
    }

    /// Kills the node and starts it again without waiting for it to be ready.
    pub fn relaunch(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The node's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends the node `SIGHUP`: re-read the configuration file.
    pub fn hang_up(&self) {
        use rustix::process::{Pid, Signal, kill_process};
        let pid = self.pid().expect("the node runs");
        let pid = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .expect("a pid");
        kill_process(pid, Signal::HUP).expect("signal the node");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Verifies an RFC 9068 access token against the issuer's published JWKS (fetched
/// now) and returns its claims. Panics, with the reason, if it does not verify.
pub fn verify_access_token(token: &str, issuer: &str, audience: &str) -> serde_json::Value {
    verify_jwt(token, "at+jwt", issuer, audience)
}

/// Verifies an ID token against the node's JWKS, its issuer and the client as its
/// audience (OpenID Connect Core §3.1.3.7), and returns its claims.
pub fn verify_id_token(token: &str, issuer: &str, client_id: &str) -> serde_json::Value {
    verify_jwt(token, "JWT", issuer, client_id)
}

fn verify_jwt(token: &str, typ: &str, issuer: &str, audience: &str) -> serde_json::Value {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
    let header = decode_header(token).expect("a JWS header");
    assert_eq!(header.typ.as_deref(), Some(typ), "the JWT's typ");
    let jwks: JwkSet = reqwest::blocking::get(format!("{issuer}/.well-known/jwks"))
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .expect("fetch the JWKS");
    let kid = header.kid.as_deref().expect("a kid in the header");
    let jwk = jwks.find(kid).expect("the kid is published in the JWKS");
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
    decode::<serde_json::Value>(
        token,
        &DecodingKey::from_jwk(jwk).expect("a usable JWK"),
        &validation,
    )
    .unwrap_or_else(|e| panic!("{typ} does not verify: {e}"))
    .claims
}

/// POSTs `form` (form-encoded) to `url`, authenticating with Basic credentials that
/// are form-encoded first, as RFC 6749 §2.3.1 says (`urn:orders` has a colon).
pub fn post_form(
    url: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::blocking::Response {
    try_post_form(url, basic, form, None).expect("POST request")
}

/// As [`post_form`], within `timeout` if given, and returning transport errors (a
/// node that was killed, or that did not answer in time) instead of panicking.
pub fn try_post_form(
    url: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
    timeout: Option<Duration>,
) -> reqwest::Result<reqwest::blocking::Response> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = reqwest::blocking::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(timeout) = timeout {
        request = request.timeout(timeout);
    }
    if let Some((id, secret)) = basic {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        request = request.basic_auth(encode(id), Some(encode(secret)));
    }
    request.send()
}
