#!/usr/bin/env bash
# Runs every Ostium test: formatting, lints, unit tests, and the end-to-end tests
# that start real nodes and drive them with real client libraries.
#
# It first checks what it cannot install by itself (scripts/check-prerequisites.sh:
# the Rust toolchain with rustfmt and clippy, a C compiler, Node.js 20 or later) and
# stops, saying what to get, if anything is missing. On a fresh Debian machine it
# then installs the rest (Node.js from apt-get when apt-get offers 20 or later, npm,
# redis-server, python3 with venv, cargo-nextest), and the Helm chart's tools
# (scripts/chart-tools.sh: helm and kubernetes-validate, into target/tools);
# everything the tests start binds free loopback ports and is stopped when they end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/check-prerequisites.sh

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v redis-server >/dev/null || missing+=(redis-server)
# The chart's tests validate renderings with kubernetes-validate, in a virtualenv.
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# The browser tests drive a real Chromium (tests/js/browser.test.mjs).
[ -n "${OSTIUM_CHROMIUM:-}" ] || command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "==> installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

echo "==> Helm chart test tools"
eval "$(scripts/chart-tools.sh)"

echo "==> JavaScript client test dependencies"
npm ci --prefix tests/js --no-audit --no-fund --silent

# A second relying-party library for the hybrid flow (tests/python), in a virtualenv.
AUTHLIB_VERSION=1.9.10
authlib_venv="target/tools/authlib-$AUTHLIB_VERSION"
if [ ! -x "$authlib_venv/bin/python" ] || ! "$authlib_venv/bin/python" -c 'import authlib' 2>/dev/null; then
  echo "==> installing authlib $AUTHLIB_VERSION (PyPI, in a virtualenv)"
  rm -rf "$authlib_venv"
  python3 -m venv "$authlib_venv"
  "$authlib_venv/bin/pip" install --quiet --disable-pip-version-check "authlib==$AUTHLIB_VERSION"
fi
export OSTIUM_AUTHLIB_PYTHON="$PWD/$authlib_venv/bin/python"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The test-only fault injection is compiled only with its feature: lint it too.
cargo clippy --workspace --all-targets --locked --features ostium/fault-injection -- -D warnings

# The end-to-end tests cut nodes off from their cluster through the test-only
# `fault-injection` feature (crates/ostium-state/src/network/fault.rs); release
# builds never have it.
echo "==> building the ostium binary for the end-to-end tests (with fault injection)"
cargo build --locked -p ostium --features fault-injection

echo "==> tests"
cargo nextest run --workspace --locked --no-fail-fast "$@"
