#!/usr/bin/env bash
# Client-credentials token endpoint: Ostium against the npm `oidc-provider` peer,
# measured in the same run on the same machine (machines are shared and noisy, so
# only the ratio between the two means anything).
#
# Usage: bench/run-token-bench.sh [--record] [--only ostium|peer] [--no-criterion]
#
#   --record         append the markdown result block to bench/RESULTS.md
#   --only WHICH     measure only one server (no ratio; for checking a setup)
#   --no-criterion   skip the criterion signer bench
#
# Environment:
#   OSTIUM_BIN   Ostium binary (default target/release/ostium; built with
#                `cargo build --release -p ostium` if that default is missing)
#   DURATION     seconds per measured wrk round (default 10)
#   ROUNDS       measured rounds per server (default 3)
#   WARMUP       seconds of discarded warm-up load per server (default 3)
#   RESULTS_FILE where --record appends (default bench/RESULTS.md)
#   GIT_COMMIT   commit to print instead of `git rev-parse --short HEAD`
#
# Each server is pinned to CPU 0 and wrk (-t1 -c32, keep-alive) to CPU 1. All
# traffic goes to 127.0.0.1 on ports chosen free at start. Every process started
# here is stopped on exit, also on failure or Ctrl-C.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ---------------------------------------------------------------- arguments
RECORD=0
ONLY=""
CRITERION=1
ORIG_ARGS=("$@")
while [[ $# -gt 0 ]]; do
  case "$1" in
    --record) RECORD=1 ;;
    --only)
      [[ $# -ge 2 ]] || { echo "--only needs ostium or peer" >&2; exit 2; }
      ONLY=$2; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    --no-criterion) CRITERION=0 ;;
    -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$ONLY" in ""|ostium|peer) ;; *) echo "--only takes ostium or peer" >&2; exit 2 ;; esac
run_ostium() { [[ -z "$ONLY" || "$ONLY" == ostium ]]; }
run_peer() { [[ -z "$ONLY" || "$ONLY" == peer ]]; }

DEFAULT_OSTIUM_BIN=target/release/ostium
OSTIUM_BIN=${OSTIUM_BIN:-$DEFAULT_OSTIUM_BIN}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
RESULTS_FILE=${RESULTS_FILE:-bench/RESULTS.md}
THREADS=1
CONNECTIONS=32
LUA=bench/wrk/client_credentials.lua
PEER_DIR=bench/peer/oidc-provider
SERVER_CPU=0
CLIENT_CPU=1
CLIENT_ID=bench-client
CLIENT_SECRET=bench-secret
SCOPE=bench.api

for v in DURATION ROUNDS WARMUP; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer, got '${!v}'" >&2; exit 2; }
done

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ostium-token-bench.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do
    # give each a moment, then insist
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop_pid PID: stop one server started here and forget it.
stop_pid() {
  local pid=$1 keep=() p
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in ${PIDS[@]+"${PIDS[@]}"}; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}

# ---------------------------------------------------------------- prerequisites
NPROC=$(nproc)
[[ $NPROC -ge 2 ]] || die "needs at least 2 CPUs (server on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU); nproc says $NPROC"
for tool in taskset curl python3 openssl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

if ! command -v wrk >/dev/null; then
  log "installing wrk"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update
  $SUDO apt-get install -y wrk
fi

if run_peer; then
  command -v node >/dev/null || die "node is required for the peer"
  if [[ ! -d $PEER_DIR/node_modules ]]; then
    log "npm ci in $PEER_DIR"
    (cd "$PEER_DIR" && npm ci --no-audit --no-fund)
  fi
fi

if run_ostium && [[ ! -x $OSTIUM_BIN ]]; then
  if [[ $OSTIUM_BIN == "$DEFAULT_OSTIUM_BIN" ]]; then
    log "building $OSTIUM_BIN"
    cargo build --release -p ostium
  fi
  [[ -x $OSTIUM_BIN ]] || die "Ostium binary $OSTIUM_BIN not found"
fi

# Free loopback ports, chosen together so they differ.
read -r OSTIUM_PORT PEER_PORT < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
)

# ---------------------------------------------------------------- helpers
# wait_http URL PID LOG: until GET URL answers 200 (30 s), or the server dies.
wait_http() {
  local url=$1 pid=$2 logf=$3 code deadline=$((SECONDS + 30))
  while :; do
    kill -0 "$pid" 2>/dev/null || { tail -n 50 "$logf" >&2; die "server exited before $url answered"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    [[ $code == 200 ]] && return 0
    (( SECONDS < deadline )) || { tail -n 50 "$logf" >&2; die "$url did not answer 200 within 30 s (last: $code)"; }
    sleep 0.2
  done
}

# wait_line PID LOG LINE: until LOG contains a line equal to LINE (30 s).
wait_line() {
  local pid=$1 logf=$2 line=$3 deadline=$((SECONDS + 30))
  until grep -qx "$line" "$logf" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { tail -n 50 "$logf" >&2; die "server exited before printing '$line'"; }
    (( SECONDS < deadline )) || { tail -n 50 "$logf" >&2; die "server did not print '$line' within 30 s"; }
    sleep 0.1
  done
}

# check_token NAME URL: one token request; fails loudly without an access_token.
# Prints the decoded JWT header (or "opaque") on stdout.
check_token() {
  local name=$1 url=$2 body
  body=$(curl -sS --max-time 10 -u "$CLIENT_ID:$CLIENT_SECRET" \
    -H 'Content-Type: application/x-www-form-urlencoded' \
    --data "grant_type=client_credentials&scope=$SCOPE" "$url") \
    || die "$name: token request to $url failed"
  python3 - "$name" "$body" <<'EOF'
import base64, json, sys
name, body = sys.argv[1], sys.argv[2]
try:
    tok = json.loads(body)["access_token"]
    assert isinstance(tok, str) and tok
except Exception:
    sys.exit(f"ERROR: {name}: token response has no access_token: {body[:500]}")
parts = tok.split(".")
if len(parts) == 3:
    seg = parts[0] + "=" * (-len(parts[0]) % 4)
    try:
        hdr = json.loads(base64.urlsafe_b64decode(seg))
        print(json.dumps(hdr, separators=(",", ":"), sort_keys=True))
    except Exception:
        print("unparseable JWT header")
else:
    print("opaque")
EOF
}

# bench_server NAME URL: warm-up, then ROUNDS wrk rounds; appends
# "NAME ROUND RPS REQUESTS NON2XX SOCKET_ERRORS P50_US P99_US" lines to $TMP/rounds.
WRK_CMD=(taskset -c "$CLIENT_CPU" wrk "-t$THREADS" "-c$CONNECTIONS")
bench_server() {
  local name=$1 url=$2 r out line
  log "$name: warm-up ${WARMUP}s"
  "${WRK_CMD[@]}" "-d${WARMUP}s" -s "$LUA" "$url" >"$TMP/$name-warmup.txt" 2>&1 \
    || { cat "$TMP/$name-warmup.txt" >&2; die "$name: wrk warm-up failed"; }
  for r in $(seq 1 "$ROUNDS"); do
    out=$TMP/$name-round$r.txt
    log "$name: round $r/$ROUNDS (${DURATION}s)"
    "${WRK_CMD[@]}" "-d${DURATION}s" -s "$LUA" "$url" >"$out" 2>&1 \
      || { cat "$out" >&2; die "$name: wrk failed"; }
    line=$(grep '^bench-result ' "$out" || true)
    [[ -n $line ]] || { cat "$out" >&2; die "$name: no bench-result line from wrk (lua script not run?)"; }
    python3 - "$name" "$r" "$line" "$(grep '^bench-latency ' "$out" || true)" >>"$TMP/rounds" <<'EOF'
import sys
name, rnd, res, lat = sys.argv[1:5]
kv = dict(f.split("=", 1) for f in (res + " " + lat).split()[1:] if "=" in f)
sock = sum(int(kv[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
print(name, rnd, kv["rps"], kv["requests"], kv["non2xx"], sock,
      kv.get("p50_us", "?"), kv.get("p99_us", "?"))
EOF
    tail -n 1 "$TMP/rounds" | awk '{printf "    %s round %s: %s req/s, %s non-2xx, %s socket errors\n", $1, $2, $3, $5, $6}' >&2
  done
}

: >"$TMP/rounds"
OSTIUM_TOKEN_HDR="not run"
PEER_TOKEN_HDR="not run"

# ---------------------------------------------------------------- Ostium
if run_ostium; then
  SECRET_HEX=$(printf '%s' "$CLIENT_SECRET" | sha256sum | cut -d' ' -f1)
  mkdir -p "$TMP/data"
  cat >"$TMP/ostium.toml" <<EOF
[server]
issuer = "http://127.0.0.1:$OSTIUM_PORT"
listen = "127.0.0.1:$OSTIUM_PORT"
data_dir = "$TMP/data"

[signing]
algorithm = "ES256"

[[api_scopes]]
name = "$SCOPE"

[[api_resources]]
name = "urn:bench"
scopes = ["$SCOPE"]

[[clients]]
client_id = "$CLIENT_ID"
client_secrets = ["sha256:$SECRET_HEX"]
allowed_grant_types = "client_credentials"
allowed_scopes = ["$SCOPE"]
EOF
  log "starting Ostium ($OSTIUM_BIN) on 127.0.0.1:$OSTIUM_PORT, CPU $SERVER_CPU"
  taskset -c "$SERVER_CPU" "$OSTIUM_BIN" serve --config "$TMP/ostium.toml" >"$TMP/ostium.log" 2>&1 &
  OSTIUM_PID=$!
  PIDS+=("$OSTIUM_PID")
  wait_http "http://127.0.0.1:$OSTIUM_PORT/readyz" "$OSTIUM_PID" "$TMP/ostium.log"
  OSTIUM_TOKEN_HDR=$(check_token ostium "http://127.0.0.1:$OSTIUM_PORT/connect/token")
  log "Ostium token header: $OSTIUM_TOKEN_HDR"
  bench_server ostium "http://127.0.0.1:$OSTIUM_PORT/connect/token"
  kill -0 "$OSTIUM_PID" 2>/dev/null || { tail -n 50 "$TMP/ostium.log" >&2; die "Ostium died during the run"; }
  stop_pid "$OSTIUM_PID"
fi

# ---------------------------------------------------------------- peer
if run_peer; then
  PEER_VERSION=$(node -p "require('./$PEER_DIR/node_modules/oidc-provider/package.json').version")
  log "starting oidc-provider $PEER_VERSION on 127.0.0.1:$PEER_PORT, CPU $SERVER_CPU"
  (cd "$PEER_DIR" && PORT=$PEER_PORT NODE_ENV=production exec taskset -c "$SERVER_CPU" node server.js) \
    >"$TMP/peer.log" 2>&1 &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  wait_line "$PEER_PID" "$TMP/peer.log" ready
  wait_http "http://127.0.0.1:$PEER_PORT/.well-known/openid-configuration" "$PEER_PID" "$TMP/peer.log"
  PEER_TOKEN_HDR=$(check_token peer "http://127.0.0.1:$PEER_PORT/token")
  log "peer token header: $PEER_TOKEN_HDR"
  bench_server peer "http://127.0.0.1:$PEER_PORT/token"
  kill -0 "$PEER_PID" 2>/dev/null || { tail -n 50 "$TMP/peer.log" >&2; die "peer died during the run"; }
  stop_pid "$PEER_PID"
fi

# Warn if the two are not doing the same work (an ES256 at+jwt each).
for pair in "ostium:$OSTIUM_TOKEN_HDR" "peer:$PEER_TOKEN_HDR"; do
  name=${pair%%:*} hdr=${pair#*:}
  [[ $hdr == "not run" ]] && continue
  if [[ $hdr != *'"alg":"ES256"'* || $hdr != *'"typ":"at+jwt"'* ]]; then
    log "WARNING: $name does not issue ES256 at+jwt access tokens (header: $hdr); the comparison is not like for like"
  fi
done

# ---------------------------------------------------------------- ceilings
log "openssl speed ecdsap256 (3 s, CPU $SERVER_CPU)"
OPENSSL_VERSION=$(openssl version | awk '{print $1, $2}')
OPENSSL_SIGN=$(taskset -c "$SERVER_CPU" openssl speed -seconds 3 ecdsap256 2>/dev/null \
  | awk '/ecdsa \(nistp256\)/ {print $(NF-1)}' | tail -n 1)
[[ -n $OPENSSL_SIGN ]] || { log "WARNING: could not read ES256 sign/s from openssl speed"; OPENSSL_SIGN=""; }

: >"$TMP/criterion"
CRITERION_NOTE=""
if [[ $CRITERION -eq 0 ]]; then
  CRITERION_NOTE="skipped (--no-criterion)"
elif [[ -f bench/benches/signer.rs ]] || grep -Eq '^[[:space:]]*name[[:space:]]*=[[:space:]]*"signer"' bench/Cargo.toml 2>/dev/null; then
  CRIT_DIR=${CRITERION_HOME:-${CARGO_TARGET_DIR:-target}/criterion}
  touch "$TMP/criterion-start"
  log "building the criterion signer bench"
  cargo bench -p ostium-bench --bench signer --no-run
  log "cargo bench -p ostium-bench --bench signer (CPU $SERVER_CPU)"
  taskset -c "$SERVER_CPU" cargo bench -p ostium-bench --bench signer -- --noplot >"$TMP/criterion.txt" 2>&1 \
    || { tail -n 50 "$TMP/criterion.txt" >&2; die "cargo bench failed"; }
  # Every benchmark in group "signer" written by this run: "ID OPS_PER_S MEDIAN_NS".
  python3 - "$CRIT_DIR" "$TMP/criterion-start" >"$TMP/criterion" <<'EOF'
import json, os, sys
root, marker = sys.argv[1], sys.argv[2]
since = os.path.getmtime(marker)
rows = []
for dirpath, _dirs, files in os.walk(root):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
        continue
    est = os.path.join(dirpath, "estimates.json")
    if os.path.getmtime(est) < since:
        continue  # left over from an earlier run
    rel = os.path.relpath(os.path.dirname(dirpath), root)
    group, full_id = rel.split(os.sep)[0], rel.replace(os.sep, "/")
    meta = os.path.join(dirpath, "benchmark.json")
    if os.path.exists(meta):
        with open(meta) as f:
            m = json.load(f)
        group, full_id = m.get("group_id", group), m.get("full_id", full_id)
    if group != "signer":
        continue
    with open(est) as f:
        ns = json.load(f)["median"]["point_estimate"]
    rows.append((full_id.replace(" ", "_"), 1e9 / ns, ns))
for r in sorted(rows):
    print(r[0], f"{r[1]:.1f}", f"{r[2]:.1f}")
EOF
  [[ -s $TMP/criterion ]] || CRITERION_NOTE="ran, but found no results for group \`signer\` under $CRIT_DIR"
else
  log "NOTICE: no criterion bench \`signer\` in bench/ (bench/benches/signer.rs) yet; skipping it"
  CRITERION_NOTE="skipped: bench/benches/signer.rs does not exist yet"
fi

# ---------------------------------------------------------------- report
if [[ -n ${GIT_COMMIT:-} ]]; then
  COMMIT=$GIT_COMMIT
else
  COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ $COMMIT != unknown ]] && ! git diff --quiet HEAD -- 2>/dev/null; then COMMIT="$COMMIT (dirty)"; fi
fi
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
CMDLINE="DURATION=$DURATION ROUNDS=$ROUNDS WARMUP=$WARMUP"
[[ $OSTIUM_BIN == "$DEFAULT_OSTIUM_BIN" ]] || CMDLINE+=" OSTIUM_BIN=$OSTIUM_BIN"
CMDLINE+=" bench/run-token-bench.sh${ORIG_ARGS[*]+ ${ORIG_ARGS[*]}}"

REPORT_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
REPORT_COMMIT=$COMMIT
KERNEL=$(uname -sr)
NODE_VERSION=$(node --version 2>/dev/null || echo none)
PEER_VERSION=${PEER_VERSION:-not run}
export REPORT_DATE REPORT_COMMIT NPROC CPU_MODEL CMDLINE KERNEL NODE_VERSION PEER_VERSION \
  DURATION ROUNDS WARMUP THREADS CONNECTIONS LUA SERVER_CPU CLIENT_CPU \
  OSTIUM_PORT PEER_PORT OSTIUM_BIN OSTIUM_TOKEN_HDR PEER_TOKEN_HDR \
  OPENSSL_SIGN OPENSSL_VERSION CRITERION_NOTE

python3 - "$TMP/rounds" "$TMP/criterion" >"$TMP/report.md" <<'EOF'
import os, statistics, sys
E = os.environ
rounds = {"ostium": [], "peer": []}
with open(sys.argv[1]) as f:
    for line in f:
        name, rnd, rps, reqs, non2xx, sock, p50, p99 = line.split()
        rounds[name].append(dict(round=int(rnd), rps=float(rps), requests=int(reqs),
                                 non2xx=int(non2xx), sock=int(sock), p50=p50, p99=p99))
crit = []
with open(sys.argv[2]) as f:
    for line in f:
        bid, ops, ns = line.split()
        crit.append((bid, float(ops), float(ns)))

def med(name):
    v = [r["rps"] for r in rounds[name]]
    return statistics.median(v) if v else None
def fmt(x, d=0):
    return "n/a" if x is None else f"{x:,.{d}f}"
def ms(us):
    try: return f"{int(us) / 1000:.1f}"
    except ValueError: return "?"

mo, mp = med("ostium"), med("peer")
out = []
w = out.append
w(f"### Client-credentials token endpoint, {E['REPORT_DATE']}")
w("")
w(f"- commit: `{E['REPORT_COMMIT']}`")
w(f"- machine: {E['NPROC']} CPUs, {E['CPU_MODEL'] or 'unknown CPU'}; {E['KERNEL']}")
w(f"- command: `{E['CMDLINE']}`")
w(f"- load: `taskset -c {E['CLIENT_CPU']} wrk -t{E['THREADS']} -c{E['CONNECTIONS']} -d{E['DURATION']}s -s {E['LUA']} URL`, "
  f"{E['ROUNDS']} rounds after {E['WARMUP']} s warm-up; servers on CPU {E['SERVER_CPU']}")
w(f"- ostium: `{E['OSTIUM_BIN']}`, `POST /connect/token`; token header `{E['OSTIUM_TOKEN_HDR']}`")
w(f"- peer: oidc-provider {E['PEER_VERSION']} on Node.js {E['NODE_VERSION']}, `POST /token`; token header `{E['PEER_TOKEN_HDR']}`")
w("")
w("| server | round | requests/s | requests | non-2xx | socket errors | p50 ms | p99 ms |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
for name in ("ostium", "peer"):
    for r in rounds[name]:
        w(f"| {name} | {r['round']} | {r['rps']:,.0f} | {r['requests']:,} | {r['non2xx']} | {r['sock']} | {ms(r['p50'])} | {ms(r['p99'])} |")
    if rounds[name]:
        tot_bad = sum(r["non2xx"] for r in rounds[name])
        tot_sock = sum(r["sock"] for r in rounds[name])
        w(f"| **{name}** | **median** | **{fmt(med(name))}** | | {tot_bad} (total) | {tot_sock} (total) | | |")
w("")
w(f"- **ostium / peer: {'n/a' if mo is None or not mp else f'{mo / mp:.2f}x'}** (median requests/s)")
osign = float(E["OPENSSL_SIGN"]) if E.get("OPENSSL_SIGN") else None
w(f"- openssl speed ES256 sign on one core ({E['OPENSSL_VERSION']}): {fmt(osign)} sign/s"
  + ("" if osign is None or mo is None else f"; ostium at {100 * mo / osign:.1f}% of it")
  + ("" if osign is None or mp is None else f", peer at {100 * mp / osign:.1f}%"))
if crit:
    w("- criterion `signer` group (median, one core):")
    for bid, ops, ns in crit:
        pct = "" if mo is None else f"; ostium token endpoint at {100 * mo / ops:.1f}% of it"
        w(f"  - `{bid}`: {ops:,.0f} ops/s ({ns:,.0f} ns){pct}")
else:
    w(f"- criterion `signer` group: {E['CRITERION_NOTE'] or 'no results'}")
bad = {n: sum(r["non2xx"] + r["sock"] for r in rounds[n]) for n in rounds}
if any(bad.values()):
    w(f"- **WARNING: errors during the run** ({', '.join(f'{n}: {c}' for n, c in bad.items() if c)}); the figures above are not valid")
print("\n".join(out))
EOF

echo
cat "$TMP/report.md"

if [[ $RECORD -eq 1 ]]; then
  if [[ ! -f $RESULTS_FILE ]]; then
    cat >"$RESULTS_FILE" <<'EOF'
# Benchmark results

Appended by `bench/run-token-bench.sh --record`. Each block is one run that measures
Ostium and its peer (npm `oidc-provider`, `bench/peer/oidc-provider/`) one after the
other on the same machine; the machines are shared and noisy, so compare the
**ratio** between them, never absolute figures across blocks.

To reproduce, from the repository root on a machine with at least 2 CPUs, Node.js,
npm, python3 and (or apt-get for) wrk:

    cargo build --release -p ostium
    bench/run-token-bench.sh            # print only
    bench/run-token-bench.sh --record   # also append here

Each server runs pinned to CPU 0; `wrk -t1 -c32` (keep-alive) runs pinned to CPU 1
with `bench/wrk/client_credentials.lua`. `DURATION`, `ROUNDS`, `WARMUP` and
`OSTIUM_BIN` can be set in the environment.
EOF
  fi
  { echo; cat "$TMP/report.md"; } >>"$RESULTS_FILE"
  log "appended to $RESULTS_FILE"
fi

# Non-zero exit if any round saw errors, so a broken run does not look fine in CI.
if awk '$5 > 0 || $6 > 0 {bad=1} END {exit !bad}' "$TMP/rounds"; then
  die "some rounds had non-2xx responses or socket errors (see the table)"
fi
