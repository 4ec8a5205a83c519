#!/usr/bin/env bash
# Load on a local three-node cluster: refresh-token rotation or introspection, with
# one wrk per node so that every node serves load, and the nodes' figures summed.
#
# Usage: bench/run-cluster-bench.sh [--record] [rotation|introspect|introspect-reference]...
#
#   rotation     refresh_token grant with one-time tokens (bench/wrk/refresh_rotation.lua):
#                each request spends a token and gets its successor (one Raft write)
#   introspect   introspection of one active ES256 JWT by an API resource
#                (bench/wrk/introspect.lua): a catch-up read and a signature check
#   introspect-reference
#                the same with a reference access token: a catch-up read and a
#                digest lookup, no signature
#   --record     append the markdown result block to bench/RESULTS.md
#
# Without a scenario, rotation and introspect run. Environment:
#   OSTIUM_BIN   Ostium binary (default target/release/ostium, or
#                $CARGO_TARGET_DIR/release/ostium when CARGO_TARGET_DIR is set)
#   NODES        core nodes (default 3)
#   DURATION     seconds per measured round (default 10)
#   ROUNDS       measured rounds per scenario (default 3)
#   WARMUP       seconds of discarded warm-up load per scenario (default 3)
#   CONNECTIONS  wrk connections per node (default 32; wrk -t1 each)
#   WORKERS      [server] workers of each node (default: unset, the CPUs it may use)
#   PIN          set to 1 to pin every node to CPU 0 and every wrk to CPU 1, as
#                run-token-bench.sh does (meant for NODES=1: one node, one core)
#   RESULTS_FILE where --record appends (default bench/RESULTS.md)
#   REDIS_URL    when set, every node gets `[cache] redis_url` (a namespace of its
#                own per run): cores then write what they apply through to Redis
#
# Unless PIN=1, nothing is pinned: the nodes (each with its actix workers and its
# Raft runtime) and the wrk processes share every CPU of the machine, and "per
# core" divides the sum by `nproc`. Because the machine may be shared, each round
# also reads the CPU time the nodes used (/proc/PID/stat) and the machine's busy
# time (/proc/stat): "per node CPU-second" is requests over the nodes' own CPU
# time, which other load on the machine disturbs far less than requests/s. Each round gets refresh tokens of its own,
# issued beforehand with the password grant (so Argon2 is not in the measurement),
# because a round leaves its tokens spent. Every process started here is stopped on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RECORD=0
SCENARIOS=()
ORIG_ARGS=("$@")
while [[ $# -gt 0 ]]; do
  case "$1" in
    --record) RECORD=1 ;;
    rotation|introspect|introspect-reference) SCENARIOS+=("$1") ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ ${#SCENARIOS[@]} -gt 0 ]] || SCENARIOS=(rotation introspect)

DEFAULT_OSTIUM_BIN=${CARGO_TARGET_DIR:-target}/release/ostium
OSTIUM_BIN=${OSTIUM_BIN:-$DEFAULT_OSTIUM_BIN}
NODES=${NODES:-3}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-}
PIN=${PIN:-0}
NODE_CMD=()
WRK_CMD=(wrk)
if [[ $PIN == 1 ]]; then
  NODE_CMD=(taskset -c 0)
  WRK_CMD=(taskset -c 1 wrk)
fi
RESULTS_FILE=${RESULTS_FILE:-bench/RESULTS.md}
TOKENS_PER_ROUND=$((CONNECTIONS * 2))
APP_ID=bench-app
APP_SECRET=bench-secret
REF_ID=bench-reference
RESOURCE=urn-bench
RESOURCE_SECRET=resource-secret
USERNAME=alice
PASSWORD=bench-password
SCOPE=bench.api

for v in NODES DURATION ROUNDS WARMUP CONNECTIONS ${WORKERS:+WORKERS}; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer, got '${!v}'" >&2; exit 2; }
done

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ostium-cluster-bench.XXXXXX")
PIDS=()
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in curl python3 sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update
  $SUDO apt-get install -y wrk
fi
if [[ ! -x $OSTIUM_BIN ]]; then
  if [[ $OSTIUM_BIN == "$DEFAULT_OSTIUM_BIN" ]]; then
    log "building $OSTIUM_BIN"
    cargo build --release -p ostium
  fi
  [[ -x $OSTIUM_BIN ]] || die "Ostium binary $OSTIUM_BIN not found"
fi

# 2 * NODES free loopback ports (HTTP and Raft for each node), chosen together.
read -r -a PORTS < <(python3 - "$((2 * NODES))" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
)
http_port() { echo "${PORTS[$((2 * ($1 - 1)))]}"; }
raft_port() { echo "${PORTS[$((2 * ($1 - 1) + 1))]}"; }
url() { echo "http://127.0.0.1:$(http_port "$1")"; }

# ---------------------------------------------------------------- the cluster
digest() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
PASSWORD_HASH=$(printf '%s' "$PASSWORD" | "$OSTIUM_BIN" hash-password)
openssl rand -hex 32 >"$TMP/cluster.secret" 2>/dev/null || digest "$TMP$RANDOM$RANDOM" >"$TMP/cluster.secret"
PEERS=""
for id in $(seq 1 "$NODES"); do PEERS+="$id = \"127.0.0.1:$(raft_port "$id")\""$'\n'; done
ISSUER=$(url 1)
CACHE_SECTION=""
if [[ -n ${REDIS_URL:-} ]]; then
  CACHE_SECTION=$(printf '[cache]\nredis_url = "%s"\nnamespace = "bench-%s"\n' "$REDIS_URL" "$$")
fi

for id in $(seq 1 "$NODES"); do
  mkdir -p "$TMP/node$id"
  cat >"$TMP/node$id/ostium.toml" <<EOF
[server]
issuer = "$ISSUER"
listen = "127.0.0.1:$(http_port "$id")"
data_dir = "$TMP/node$id/data"
${WORKERS:+workers = $WORKERS}

[cluster]
node_id = $id
raft_listen = "127.0.0.1:$(raft_port "$id")"
secret_file = "$TMP/cluster.secret"

[cluster.peers]
$PEERS
$CACHE_SECTION

[[api_scopes]]
name = "$SCOPE"

[[api_resources]]
name = "$RESOURCE"
scopes = ["$SCOPE"]
api_secrets = ["sha256:$(digest "$RESOURCE_SECRET")"]

[[clients]]
client_id = "$APP_ID"
client_secrets = ["sha256:$(digest "$APP_SECRET")"]
allowed_grant_types = "resource_owner_password_and_client_credentials"
allowed_scopes = ["$SCOPE"]
allow_offline_access = true

[[clients]]
client_id = "$REF_ID"
client_secrets = ["sha256:$(digest "$APP_SECRET")"]
allowed_grant_types = "client_credentials"
allowed_scopes = ["$SCOPE"]
access_token_type = "reference"

[[users]]
subject = "alice-subject"
username = "$USERNAME"
password_hash = "$PASSWORD_HASH"
EOF
done

log "starting $NODES nodes ($OSTIUM_BIN)"
for id in $(seq 1 "$NODES"); do
  ${NODE_CMD[@]+"${NODE_CMD[@]}"} "$OSTIUM_BIN" serve --config "$TMP/node$id/ostium.toml" >"$TMP/node$id/ostium.log" 2>&1 &
  PIDS+=("$!")
done
# Ready once every node answers /readyz and all name the same leader.
deadline=$((SECONDS + 60))
while :; do
  leaders=()
  for id in $(seq 1 "$NODES"); do
    pid=${PIDS[$((id - 1))]}
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$TMP/node$id/ostium.log" >&2; die "node $id exited"; }
    leaders+=("$(curl -s --max-time 2 "$(url "$id")/readyz" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin).get("raft_leader"))' 2>/dev/null || echo none)")
  done
  if [[ ${leaders[0]} =~ ^[0-9]+$ ]] && [[ $(printf '%s\n' "${leaders[@]}" | sort -u | wc -l) -eq 1 ]]; then
    LEADER=${leaders[0]}
    break
  fi
  (( SECONDS < deadline )) || die "no common leader within 60 s: ${leaders[*]}"
  sleep 0.2
done
log "cluster ready; leader is node $LEADER"

BASIC_APP=$(printf '%s:%s' "$APP_ID" "$APP_SECRET" | base64 -w0)
BASIC_RESOURCE=$(printf '%s:%s' "$RESOURCE" "$RESOURCE_SECRET" | base64 -w0)

# issue_refresh_tokens NODE COUNT FILE: COUNT refresh tokens issued at NODE.
issue_refresh_tokens() {
  local node=$1 count=$2 file=$3
  seq "$count" | xargs -P 4 -I{} curl -sS --max-time 30 -H "Authorization: Basic $BASIC_APP" \
    -d grant_type=password -d "username=$USERNAME" -d "password=$PASSWORD" \
    --data-urlencode "scope=$SCOPE offline_access" "$(url "$node")/connect/token" \
    | python3 -c '
import json, sys
dec = json.JSONDecoder()
text, pos = sys.stdin.read(), 0
while pos < len(text):
    obj, pos = dec.raw_decode(text, pos)
    print(obj["refresh_token"])
    while pos < len(text) and text[pos].isspace():
        pos += 1
' >"$file"
  [[ $(wc -l <"$file") -eq $count ]] || die "node $node issued $(wc -l <"$file") of $count refresh tokens"
}

# CPU time (clock ticks, user + system, every thread) each node has used so far,
# space-separated in node order; and the machine's busy ticks over all CPUs.
CLK_TCK=$(getconf CLK_TCK)
node_cpu_ticks() {
  local pid out=()
  for pid in "${PIDS[@]}"; do
    out+=("$(awk '{print $14 + $15}' "/proc/$pid/stat")")
  done
  echo "${out[*]}"
}
machine_busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# run_load SCENARIO LABEL SECONDS: one wrk per node at once; appends
# "SCENARIO LABEL NODE RPS REQUESTS NON2XX SOCKET_ERRORS P50_US P99_US INACTIVE
#  NODE_CPU_S MACHINE_BUSY_CPU_S WRK_SECONDS" to $TMP/rows.
run_load() {
  local scenario=$1 label=$2 secs=$3 id wrk_pids=() lua path
  case $scenario in
    rotation) lua=bench/wrk/refresh_rotation.lua path=/connect/token ;;
    introspect*) lua=bench/wrk/introspect.lua path=/connect/introspect ;;
  esac
  if [[ $scenario == rotation ]]; then
    log "issuing $TOKENS_PER_ROUND refresh tokens per node for $label"
    for id in $(seq 1 "$NODES"); do issue_refresh_tokens "$id" "$TOKENS_PER_ROUND" "$TMP/tokens-$label-$id"; done
  fi
  log "$scenario $label: ${secs}s, $NODES x wrk -t1 -c$CONNECTIONS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  local cpu_before machine_before
  cpu_before=$(node_cpu_ticks)
  machine_before=$(machine_busy_ticks)
  for id in $(seq 1 "$NODES"); do
    BENCH_TOKENS="$TMP/tokens-$label-$id" BENCH_BASIC=$([[ $scenario == rotation ]] && echo "$BASIC_APP" || echo "$BASIC_RESOURCE") \
      BENCH_TOKEN=${INTROSPECTED_TOKEN:-} \
      "${WRK_CMD[@]}" -t1 "-c$CONNECTIONS" "-d${secs}s" -s "$lua" "$(url "$id")$path" >"$TMP/wrk-$scenario-$label-$id.txt" 2>&1 &
    wrk_pids+=("$!")
  done
  for id in $(seq 1 "$NODES"); do
    wait "${wrk_pids[$((id - 1))]}" || { cat "$TMP/wrk-$scenario-$label-$id.txt" >&2; die "wrk at node $id failed"; }
  done
  local cpu_after machine_after
  cpu_after=$(node_cpu_ticks)
  machine_after=$(machine_busy_ticks)
  for id in $(seq 1 "$NODES"); do
    python3 - "$scenario" "$label" "$id" "$TMP/wrk-$scenario-$label-$id.txt" \
      "$(echo "$cpu_before" | cut -d' ' -f"$id")" "$(echo "$cpu_after" | cut -d' ' -f"$id")" \
      "$((machine_after - machine_before))" "$CLK_TCK" >>"$TMP/rows" <<'EOF'
import sys
scenario, label, node, path = sys.argv[1:5]
before, after, machine, tck = (int(x) for x in sys.argv[5:9])
kv = {}
for line in open(path):
    if line.startswith(("bench-result ", "bench-latency ", "bench-counters ")):
        kv.update(f.split("=", 1) for f in line.split()[1:] if "=" in f)
if "rps" not in kv:
    sys.exit(f"no bench-result line in {path}")
sock = sum(int(kv[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
print(scenario, label, node, kv["rps"], kv["requests"], kv["non2xx"], sock,
      kv["p50_us"], kv["p99_us"], kv.get("inactive_answers", "-"),
      f"{(after - before) / tck:.2f}", f"{machine / tck:.2f}", f"{int(kv['duration_us']) / 1e6:.2f}")
EOF
  done
  awk -v s="$scenario" -v l="$label" '$1 == s && $2 == l {t += $4; printf "    node %s: %.0f/s, %s non-2xx, %s socket errors\n", $3, $4, $6, $7} END {printf "    total: %.0f/s\n", t}' "$TMP/rows" >&2
  for id in $(seq 1 "$NODES"); do
    kill -0 "${PIDS[$((id - 1))]}" 2>/dev/null || { tail -n 40 "$TMP/node$id/ostium.log" >&2; die "node $id died"; }
  done
}

: >"$TMP/rows"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for scenario in "${SCENARIOS[@]}"; do
  if [[ $scenario == introspect* ]]; then
    client=$([[ $scenario == introspect ]] && echo "$APP_ID" || echo "$REF_ID")
    INTROSPECTED_TOKEN=$(curl -sS -u "$client:$APP_SECRET" -d grant_type=client_credentials \
      -d "scope=$SCOPE" "$(url 1)/connect/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  fi
  run_load "$scenario" warmup "$WARMUP"
  for r in $(seq 1 "$ROUNDS"); do run_load "$scenario" "$r" "$DURATION"; done
done

# ---------------------------------------------------------------- report
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ $COMMIT != unknown ]] && ! git diff --quiet HEAD -- 2>/dev/null; then COMMIT="$COMMIT (dirty)"; fi
PIN_FLAG=""
[[ $PIN != 1 ]] || PIN_FLAG=" PIN=1"
CMDLINE="NODES=$NODES$PIN_FLAG DURATION=$DURATION ROUNDS=$ROUNDS WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS${WORKERS:+ WORKERS=$WORKERS}${REDIS_URL:+ REDIS_URL=$REDIS_URL}"
[[ $OSTIUM_BIN == "$DEFAULT_OSTIUM_BIN" ]] || CMDLINE+=" OSTIUM_BIN=$OSTIUM_BIN"
CMDLINE+=" bench/run-cluster-bench.sh${ORIG_ARGS[*]+ ${ORIG_ARGS[*]}}"
PIN_NOTE="nothing pinned"
[[ $PIN != 1 ]] || PIN_NOTE="nodes pinned to CPU 0, wrk to CPU 1"
export PIN_NOTE
export COMMIT CMDLINE NODES LEADER CONNECTIONS DURATION ROUNDS WARMUP LOAD_BEFORE
export NPROC=$(nproc) CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
export REPORT_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) WORKERS_NOTE=${WORKERS:-"default (CPUs)"}

python3 - "$TMP/rows" >"$TMP/report.md" <<'EOF'
import os, statistics, sys
E = os.environ
rows = [l.split() for l in open(sys.argv[1])]
nproc = int(E["NPROC"])
pinned = E["PIN_NOTE"] != "nothing pinned"
# Pinned, the nodes have one core to themselves; otherwise every core is shared.
cores = 1 if pinned else nproc
out = []
w = out.append
names = {
    "rotation": "refresh_token grant with rotation",
    "introspect": "introspection of an active ES256 JWT",
    "introspect-reference": "introspection of an active reference token",
}
for scenario in names:
    rs = [r for r in rows if r[0] == scenario and r[1] != "warmup"]
    if not rs:
        continue
    nodes = sorted({r[2] for r in rs}, key=int)
    intro = scenario.startswith("introspect")
    w(f"### {names[scenario]} on a {E['NODES']}-node cluster, {E['REPORT_DATE']}")
    w("")
    w(f"- commit: `{E['COMMIT']}`; machine: {nproc} CPUs, {E['CPU_MODEL']}; load average before: {E['LOAD_BEFORE']}")
    w(f"- command: `{E['CMDLINE']}`")
    w(f"- {E['NODES']} release node(s) on loopback (leader: node {E['LEADER']}), workers {E['WORKERS_NOTE']}; "
      f"one `wrk -t1 -c{E['CONNECTIONS']}` per node at once, {E['PIN_NOTE']}; {E['ROUNDS']} rounds of {E['DURATION']} s after {E['WARMUP']} s warm-up")
    w("")
    w("| round | " + " | ".join(f"node {n} /s" for n in nodes)
      + f" | total /s | per core /s ({cores}) | nodes' CPU s | per node CPU-second | machine busy | non-2xx | socket errors | p99 ms (worst node) |"
      + (" inactive answers |" if intro else ""))
    w("|---:|" + "---:|" * (len(nodes) + 8) + ("---:|" if intro else ""))
    totals, per_cpu = [], []
    for label in sorted({r[1] for r in rs}, key=int):
        rr = sorted((r for r in rs if r[1] == label), key=lambda r: int(r[2]))
        total = sum(float(r[3]) for r in rr)
        requests = sum(int(r[4]) for r in rr)
        node_cpu = sum(float(r[10]) for r in rr)
        secs = max(float(r[12]) for r in rr)
        busy = float(rr[0][11]) / secs / nproc if secs else 0
        totals.append(total)
        per_cpu.append(requests / node_cpu if node_cpu else 0)
        line = (f"| {label} | " + " | ".join(f"{float(r[3]):,.0f}" for r in rr)
                + f" | {total:,.0f} | {total / cores:,.0f} | {node_cpu:.1f} | {per_cpu[-1]:,.0f} | {100 * busy:.0f}%"
                + f" | {sum(int(r[5]) for r in rr)} | {sum(int(r[6]) for r in rr)}"
                + f" | {max(int(r[8]) for r in rr) / 1000:.1f} |")
        if intro:
            line += f" {sum(int(r[9]) for r in rr if r[9] != '-')} |"
        w(line)
    m, mc = statistics.median(totals), statistics.median(per_cpu)
    w("")
    if pinned:
        w(f"- **median: {m:,.0f}/s** (the nodes on one core, wrk on another); "
          f"**{mc:,.0f} requests per CPU-second of the node(s)**")
    else:
        w(f"- **median: {m:,.0f}/s in total, {m / nproc:,.0f}/s per core** ({nproc} cores for the nodes and wrk together); "
          f"**{mc:,.0f} requests per CPU-second of the nodes** (their own CPU time, wrk excluded)")
    w("- machine busy: all CPUs' busy time over the round (nodes, wrk and anything else running)")
    bad = sum(int(r[5]) + int(r[6]) for r in rs)
    if bad:
        w(f"- **WARNING: {bad} errors during the run; the figures above are not valid**")
    w("")
print("\n".join(out).rstrip())
EOF

echo
cat "$TMP/report.md"
if [[ $RECORD -eq 1 ]]; then
  { echo; cat "$TMP/report.md"; } >>"$RESULTS_FILE"
  log "appended to $RESULTS_FILE"
fi
if awk '$2 != "warmup" && ($6 > 0 || $7 > 0) {bad=1} END {exit !bad}' "$TMP/rows"; then
  die "some rounds had non-2xx responses or socket errors (see the table)"
fi
