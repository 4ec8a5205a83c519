//! `scripts/check-prerequisites.sh`, which `scripts/test.sh` runs before building
//! anything: on a machine whose tools are too old or missing, it names each one with
//! the command that gets it and stops; on one that has them, it lets the run go on.
//! The machine is simulated with a `PATH` of stand-ins that print the versions a
//! fresh Debian 12 would have.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use ostium_e2e::TestDir;

/// A directory for `PATH` holding `tools` (name → shell script body) and the few
/// real commands the check itself uses.
fn machine(dir: &TestDir, tools: &[(&str, &str)]) -> String {
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for real in ["sed", "grep"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(real))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{real} on this machine"));
        std::os::unix::fs::symlink(found, bin.join(real)).unwrap();
    }
    for (name, body) in tools {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin.display().to_string()
}

/// Runs the check on `path`: whether it passed, and what it printed.
fn check(path: &str) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check-prerequisites.sh");
    let output = Command::new("/bin/bash")
        .arg(script)
        .env_clear()
        .env("PATH", path)
        .output()
        .expect("run the check");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// The workspace's rust-version, as the check reads it.
fn rust_version() -> String {
    let manifest = include_str!("../../Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.starts_with("rust-version"))
        .expect("a rust-version");
    line.split('"').nth(1).expect("quoted").to_owned()
}

#[test]
fn a_machine_with_old_or_missing_tools_is_told_what_to_get() {
    let dir = TestDir::new("prerequisites-missing");
    let path = machine(
        &dir,
        &[
            ("rustc", "echo 'rustc 1.63.0'"),
            // Debian's cargo, without rustfmt.
            (
                "cargo",
                "case \"$1\" in fmt) exit 101;; *) echo 'cargo 1.63.0';; esac",
            ),
            ("node", "echo v18.19.0"),
            ("redis-server", "echo 'Redis server v=6.0.16 sha=0'"),
        ],
    );
    let (passed, text) = check(&path);
    assert!(!passed, "{text}");
    let rust = rust_version();
    for expected in [
        format!("Rust {rust} or later"),
        "found rustc 1.63.0".into(),
        "https://sh.rustup.rs".into(),
        "rustfmt (cargo fmt): not found".into(),
        "A C compiler".into(),
        "apt-get install gcc".into(),
        "Node.js 20 or later (tests/js): found 18.19.0".into(),
        "deb.nodesource.com".into(),
        "Redis 7.0 or later".into(),
    ] {
        assert!(text.contains(&expected), "`{expected}` in:\n{text}");
    }
    assert!(
        !text.contains("clippy (cargo clippy)"),
        "clippy is there:\n{text}"
    );
}

#[test]
fn rustup_is_named_where_it_is_installed_and_a_ready_machine_passes() {
    let dir = TestDir::new("prerequisites-rustup");
    let rust = rust_version();
    let path = machine(
        &dir,
        &[
            ("rustup", "exit 0"),
            ("rustc", &format!("echo 'rustc {rust}.0 (abc 2026-01-01)'")),
            (
                "cargo",
                "case \"$1\" in clippy) exit 101;; *) echo 'cargo 1.95.0';; esac",
            ),
            ("cc", "exit 0"),
            ("node", "echo v20.11.1"),
        ],
    );
    let (passed, text) = check(&path);
    assert!(!passed, "{text}");
    assert!(text.contains("rustup component add clippy"), "{text}");
    assert!(!text.contains("Node.js"), "{text}");

    let dir = TestDir::new("prerequisites-ready");
    let path = machine(
        &dir,
        &[
            ("rustc", &format!("echo 'rustc {rust}.2 (abc 2026-01-01)'")),
            ("cargo", "echo ok"),
            ("cc", "exit 0"),
            ("node", "echo v22.3.0"),
            ("redis-server", "echo 'Redis server v=7.0.15 sha=0'"),
        ],
    );
    let (passed, text) = check(&path);
    assert!(passed, "{text}");
    assert!(text.contains("==> prerequisites"), "{text}");
}
