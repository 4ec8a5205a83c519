//! A real `redis-server` for one test: on a free loopback port, without persistence,
//! in its own temporary directory; it can be killed and restarted on the same port.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ostium_state::{CacheConfig, HotCache};
use tempfile::TempDir;

pub struct RedisServer {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
    /// Configuration given on the command line beyond the defaults.
    args: Vec<String>,
}

impl RedisServer {
    /// Starts `redis-server` on a port nothing listens on. Fails the test (never skips
    /// it) when redis-server is not installed.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts `redis-server` on `port`.
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// Starts `redis-server` on `port` with more configuration, such as
    /// `["--maxmemory-policy", "allkeys-lru"]`.
    pub fn start_with(port: u16, args: &[&str]) -> Self {
        let mut server = Self {
            port,
            dir: tempfile::tempdir().expect("temporary directory"),
            child: None,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        url(self.port)
    }

    /// A cache on this server in `cluster`'s namespace.
    pub fn cache(&self, cluster: &str) -> HotCache {
        HotCache::connect(&CacheConfig::new(self.url(), cluster)).expect("Redis cache")
    }

    /// A plain connection, to look at what the cache wrote.
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("raw connection to redis-server")
    }

    /// Stops the server the hard way, as a crash or `kill -9` would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing answers, as
    /// with a Redis that hangs or a network that drops packets.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// (Re)starts the server on the same port, empty, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let log = self.dir.path().join("redis.log");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}); the cache tests need it on PATH \
                     (Debian: apt-get install redis-server)"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers_ping(self.port) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "redis-server exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A paused server would not die of SIGKILL any less, but be sure.
        if self.child.is_some() {
            let _ = Command::new("kill")
                .args([
                    "-CONT",
                    &self.child.as_ref().map_or(0, Child::id).to_string(),
                ])
                .status();
        }
        self.kill();
    }
}

pub fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

/// A loopback port nothing listened on a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
