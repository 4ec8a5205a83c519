#!/usr/bin/env bash
# Checks what scripts/test.sh needs and cannot install by itself, before anything is
# built: a Rust toolchain of the workspace's rust-version with rustfmt and clippy, a
# C compiler (aws-lc-sys builds C), Node.js 20 or later for tests/js (Debian 12's
# nodejs is 18), and Redis 7.0 or later where one is installed. Prints every missing
# piece with the command that gets it, and exits 1 if anything is missing.
#
# It uses only bash, sed and grep, so that it runs on a machine with nothing else.
set -uo pipefail
cd "${BASH_SOURCE[0]%/*}/.." || exit 1

problems=()
missing() { problems+=("$1"$'\n      '"$2"); }

# "1.95.0" "1.95" -> true when the first is at least the second (major.minor).
at_least() {
  local have_major have_minor want_major want_minor
  IFS=. read -r have_major have_minor _ <<<"$1"
  IFS=. read -r want_major want_minor _ <<<"$2"
  ((have_major > want_major || (have_major == want_major && ${have_minor:-0} >= ${want_minor:-0})))
}

# The first version number (1.95.0, 20.20.2) on a command's --version line.
version_of() { sed -n 's/^[^0-9]*\([0-9][0-9]*\.[0-9][0-9.]*\).*/\1/p' | sed -n 1p; }

rust=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml)
if command -v rustup >/dev/null; then
  get_rust="Get it with: rustup toolchain install $rust --component rustfmt,clippy && rustup default $rust"
else
  get_rust="Get it with rustup (Debian's rustc is older):
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --default-toolchain $rust --component rustfmt,clippy"
fi
if ! command -v rustc >/dev/null || ! command -v cargo >/dev/null; then
  missing "Rust $rust or later (rustc and cargo): not found." "$get_rust"
else
  found=$(rustc --version 2>/dev/null | version_of)
  if [ -z "$found" ] || ! at_least "$found" "$rust"; then
    missing "Rust $rust or later (the workspace's rust-version): found rustc ${found:-of unknown version}." \
      "$get_rust"
  fi
  component() {
    if ! cargo "$1" --version >/dev/null 2>&1; then
      if command -v rustup >/dev/null; then
        missing "$2 (cargo $1): not installed for this toolchain." "Get it with: rustup component add $2"
      else
        missing "$2 (cargo $1): not found." "$get_rust"
      fi
    fi
  }
  component fmt rustfmt
  component clippy clippy
fi

if ! command -v "${CC:-cc}" >/dev/null && ! command -v gcc >/dev/null && ! command -v clang >/dev/null; then
  missing "A C compiler (cc, gcc or clang; aws-lc-sys compiles C): not found." \
    "Get it with: apt-get install gcc (Debian), or set CC to one"
fi

# Debian 12's package is Node.js 18, too old for openid-client 6 (tests/js).
get_node="install Node.js 20 or later from https://nodejs.org/en/download, or from NodeSource:
      curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs"
if command -v node >/dev/null; then
  found=$(node --version 2>/dev/null | version_of)
  if [ -z "$found" ] || ! at_least "$found" 20.0; then
    missing "Node.js 20 or later (tests/js): found ${found:-a node of unknown version}." "To get it, $get_node"
  fi
else
  # scripts/test.sh installs the distribution's nodejs if it is recent enough.
  candidate=""
  if command -v apt-cache >/dev/null; then
    candidate=$(apt-cache policy nodejs 2>/dev/null | sed -n 's/^ *Candidate: *//p' | sed 's/^[0-9]*://' | version_of)
  fi
  if [ -z "$candidate" ] || ! at_least "$candidate" 20.0; then
    missing "Node.js 20 or later (tests/js): not found, and apt-get offers ${candidate:-none}." "To get it, $get_node"
  fi
fi

# PEXPIRE … GT, which the hot cache uses, came with Redis 7.0.
if command -v redis-server >/dev/null; then
  found=$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9.]*\).*/\1/p')
  if [ -z "$found" ] || ! at_least "$found" 7.0; then
    missing "Redis 7.0 or later (the cache tests): found redis-server ${found:-of unknown version}." \
      "Get it with: apt-get install redis-server (Debian 12 has 7.0), or from https://redis.io/downloads"
  fi
fi

if [ ${#problems[@]} -gt 0 ]; then
  echo "scripts/test.sh cannot run yet; missing:" >&2
  for problem in "${problems[@]}"; do
    echo "  - $problem" >&2
  done
  exit 1
fi
node=$(command -v node >/dev/null && node --version || echo "(installed next)")
echo "==> prerequisites: Rust $(rustc --version | version_of) with rustfmt and clippy, a C compiler, Node.js $node"
