//! `ostium.pid` in a node's data directory: how `ostium reload` finds the node to
//! signal. Written once the node is built, removed when it stops. A file left by a
//! node killed outright may name a process that has since taken its number, so the
//! process is signalled only if it is an `ostium` (Linux's `/proc` says).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rustix::process::{Pid, Signal, kill_process};

/// The running node's pid file, removed on drop.
pub struct PidFile(PathBuf);

impl PidFile {
    pub fn create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = path(data_dir);
        // An edge keeps nothing else there, so it may not exist yet.
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        std::fs::write(&path, format!("{}\n", std::process::id()))
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
    let pid: u32 = text
        .trim()
        .parse()
        .with_context(|| format!("{} does not hold a process id", path.display()))?;
    let Some(process) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        bail!("{} does not hold a process id", path.display());
    };
    if !is_ostium(pid) {
        bail!(
            "process {pid} named by {} is not an ostium node (the node may have stopped \
             without removing it)",
            path.display()
        );
    }
    kill_process(process, Signal::HUP).with_context(|| format!("cannot signal process {pid}"))?;
    Ok(pid)
}

/// Whether process `pid` runs a program named `ostium…`.
fn is_ostium(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let name = program.rsplit(|b| *b == b'/').next().unwrap_or_default();
        name.starts_with(b"ostium")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_running_ostium_is_signalled() {
        let dir = std::env::temp_dir().join(format!("ostium-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = signal_reload(&dir).unwrap_err().to_string();
        assert!(missing.contains("no running node"), "{missing}");
        // This test runs as `ostium-<hash>`, an ostium by name; the test runner
        // that started it is not.
        let runner = std::os::unix::process::parent_id();
        std::fs::write(path(&dir), format!("{runner}\n")).unwrap();
        let other = signal_reload(&dir).unwrap_err().to_string();
        assert!(other.contains("not an ostium node"), "{other}");
        std::fs::write(path(&dir), "banana").unwrap();
        assert!(signal_reload(&dir).is_err());
        {
            let _file = PidFile::create(&dir).unwrap();
            assert!(path(&dir).exists());
        }
        assert!(!path(&dir).exists(), "removed when the node stops");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
