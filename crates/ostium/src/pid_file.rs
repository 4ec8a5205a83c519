//! `ostium.pid` in a node's data directory: how `ostium reload` finds the node to
//! signal. Written once the node listens for `SIGHUP`, removed when it stops. It
//! holds the process id and the process's start time (Linux's `/proc/PID/stat`):
//! a file left by a node killed outright may name a process id that has since been
//! given to another process, which has another start time and is never signalled.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rustix::process::{Pid, Signal, kill_process};

/// The running node's pid file, removed on drop.
pub struct PidFile(PathBuf);

impl PidFile {
    /// Without `/proc` (not Linux), the file holds the pid alone, and `ostium
    /// reload` refuses to signal what it cannot tell from another process.
    pub fn create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = path(data_dir);
        let pid = std::process::id();
        let started = start_time(pid).unwrap_or_else(|_| "unknown".to_owned());
        // An edge keeps nothing else there, so it may not exist yet.
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        std::fs::write(&path, format!("{pid} {started}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("ostium.pid")
}

/// Sends `SIGHUP` to the node whose data directory is `data_dir`; returns its pid.
pub fn signal_reload(data_dir: &Path) -> anyhow::Result<u32> {
    let path = path(data_dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no running node found: cannot read {} (a node writes it when it starts)",
            path.display()
        )
    })?;
    let malformed = || {
        format!(
            "{} does not hold a process id and start time",
            path.display()
        )
    };
    let (pid, started) = text.trim().split_once(' ').with_context(malformed)?;
    let pid: u32 = pid.parse().with_context(malformed)?;
    if started == "unknown" {
        bail!(
            "cannot tell whether process {pid} named by {} is the node (no /proc here): \
             send it SIGHUP yourself",
            path.display()
        );
    }
    let process = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .with_context(malformed)?;
    if start_time(pid).ok().as_deref() != Some(started) {
        bail!(
            "the node named by {} (process {pid}) is not running: it stopped without \
             removing the file",
            path.display()
        );
    }
    kill_process(process, Signal::HUP).with_context(|| format!("cannot signal process {pid}"))?;
    Ok(pid)
}

/// When process `pid` started, in clock ticks since boot: field 22 of
/// `/proc/PID/stat`, read after the command name, which may hold spaces.
fn start_time(pid: u32) -> anyhow::Result<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (_, after_name) = stat.rsplit_once(')').context("no command name")?;
    after_name
        .split_whitespace()
        .nth(19)
        .map(str::to_owned)
        .context("no start time")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_process_that_wrote_the_file_is_signalled() {
        let dir = std::env::temp_dir().join(format!("ostium-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = signal_reload(&dir).unwrap_err().to_string();
        assert!(missing.contains("no running node"), "{missing}");
        // The test runner that started this test, with a start time it does not
        // have: a process id given to another process since.
        let runner = std::os::unix::process::parent_id();
        let wrong = start_time(runner).unwrap() + "1";
        std::fs::write(path(&dir), format!("{runner} {wrong}\n")).unwrap();
        let other = signal_reload(&dir).unwrap_err().to_string();
        assert!(other.contains("is not running"), "{other}");
        std::fs::write(path(&dir), "banana").unwrap();
        assert!(signal_reload(&dir).is_err());
        {
            let _file = PidFile::create(&dir).unwrap();
            let written = std::fs::read_to_string(path(&dir)).unwrap();
            let own = format!(
                "{} {}\n",
                std::process::id(),
                start_time(std::process::id()).unwrap()
            );
            assert_eq!(written, own);
        }
        assert!(!path(&dir).exists(), "removed when the node stops");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
