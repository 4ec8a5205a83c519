//! A real `redis-server` for a test: on a free loopback port, keeping nothing on
//! disk, stopped when dropped. Tests flush, stop and restart it to check that
//! Ostium stays correct without its cache.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    /// Configuration given on the command line beyond the defaults.
    args: Vec<String>,
}

impl Redis {
    /// Starts `redis-server` (which `scripts/test.sh` installs) and waits for PONG.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// As [`Redis::start`], with more configuration, such as
    /// `["--maxmemory-policy", "allkeys-lru"]`.
    pub fn start_with(args: &[&str]) -> Self {
        let mut redis = Self {
            child: None,
            port: free_port(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        };
        redis.spawn();
        redis
    }

    /// `redis://127.0.0.1:PORT`, for `[cache] redis_url`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        self.child = Some(child);
        let started = Instant::now();
        while self.command(&["PING"]).as_deref() != Some("+PONG") {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not answer PING on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one command and returns the first reply line, or `None` if Redis is
    /// not reachable.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).ok()?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).ok()?;
        Some(line.trim_end().to_owned())
    }

    /// `FLUSHALL`: the cache loses everything at once.
    pub fn flush_all(&self) {
        assert_eq!(self.command(&["FLUSHALL"]).as_deref(), Some("+OK"));
    }

    /// Stops the server (`kill -9`); [`Redis::restart`] brings it back, empty.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_flushes_stops_and_restarts_empty() {
        let mut redis = Redis::start();
        assert_eq!(redis.command(&["SET", "k", "v"]).as_deref(), Some("+OK"));
        assert_eq!(redis.command(&["EXISTS", "k"]).as_deref(), Some(":1"));
        redis.flush_all();
        assert_eq!(redis.command(&["EXISTS", "k"]).as_deref(), Some(":0"));
        redis.command(&["SET", "k", "v"]);
        redis.stop();
        assert_eq!(redis.command(&["PING"]), None);
        redis.restart();
        assert_eq!(redis.command(&["EXISTS", "k"]).as_deref(), Some(":0"));
    }
}
