#!/usr/bin/env bash
# Authorization code exchange with an existing login session, on one core: Ostium
# against the npm `oidc-provider` peer, measured in the same run on the same machine
# (machines are shared and noisy, so only the ratio between the two means anything).
#
# One exchange is two requests, as a signed-in user's browser and a public client
# (PKCE S256, client_id in the body, no secret) make them:
#   GET  authorize ?response_type=code&client_id&redirect_uri&scope=openid
#                  &code_challenge&code_challenge_method=S256&state&nonce, with the
#                  session cookie -> 303, Location: REDIRECT_URI?code=..&state=..&iss=..
#   POST token     grant_type=authorization_code&code&redirect_uri&code_verifier&client_id
#                  -> 200, an ES256 ID token and an ES256 at+jwt access token
# counted as completed exchanges per second (bench/wrk/authorization_code.lua). The
# user signs in once per server before the run (curl, through its login page); no
# consent is asked. Ostium: /connect/authorize and /connect/token, client
# `bench-web` (require_client_secret = false, allowed_grant_types = "code"). Peer:
# bench/peer/oidc-provider/code-server.js, /auth and /token, configured as
# /work/shared/PEERS.md says (ES256, at+jwt access tokens for a default resource,
# PKCE required, a public client, the grant made at sign-in), storing in process
# with bench/peer/oidc-provider/memory-adapter.js: the built-in development adapter
# without a per-grant scan on each save that slows it down as a one-user run goes
# on (see that file).
#
# Usage: bench/run-code-bench.sh [--record] [--only ostium|peer]
#
#   --record         append the markdown result block to bench/RESULTS.md
#   --only WHICH     measure only one server (no ratio; for checking a setup)
#
# Environment:
#   OSTIUM_BIN   Ostium binary (default target/release/ostium; built with
#                `cargo build --release -p ostium` if that default is missing)
#   DURATION     seconds per measured wrk round (default 10)
#   ROUNDS       measured rounds per server (default 3)
#   WARMUP       seconds of discarded warm-up load per server (default 3)
#   RESULTS_FILE where --record appends (default bench/RESULTS.md)
#   GIT_COMMIT   commit to print instead of `git rev-parse --short HEAD`
#   PEER_ADAPTER set to `builtin` to give the peer oidc-provider's own in-memory
#                adapter instead of memory-adapter.js
#
# Both servers run from the start, pinned to CPU 0 (the one not under load is
# idle); wrk (-t1 -c32, keep-alive) runs pinned to CPU 1. Rounds alternate between
# the servers (ostium, peer; then peer, ostium; ...), so that a machine whose speed
# drifts during the run drifts for both; the medians of each server's rounds are
# compared. All traffic goes to 127.0.0.1 on ports chosen free at start. Every
# process started here is stopped on exit, also on failure or Ctrl-C.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ---------------------------------------------------------------- arguments
RECORD=0
ONLY=""
ORIG_ARGS=("$@")
while [[ $# -gt 0 ]]; do
  case "$1" in
    --record) RECORD=1 ;;
    --only)
      [[ $# -ge 2 ]] || { echo "--only needs ostium or peer" >&2; exit 2; }
      ONLY=$2; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    -h|--help) sed -n '2,45p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
LUA=bench/wrk/authorization_code.lua
PEER_DIR=bench/peer/oidc-provider
PEER_SCRIPT=code-server.js
SERVER_CPU=0
CLIENT_CPU=1
CLIENT_ID=bench-web
REDIRECT_URI=http://127.0.0.1/callback
USERNAME=bench
PASSWORD=bench-password

for v in DURATION ROUNDS WARMUP; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer, got '${!v}'" >&2; exit 2; }
done

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ostium-code-bench.XXXXXX")
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

# One PKCE pair (RFC 7636) for the whole run: a 43-character verifier and its S256
# challenge.
read -r VERIFIER CHALLENGE < <(python3 - <<'EOF'
import base64, hashlib, secrets
v = secrets.token_urlsafe(32)
c = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()
print(v, c)
EOF
)
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
REDIRECT_ENC=$(urlencode "$REDIRECT_URI")
# The authorization request but `state` and `nonce` (the wrk script adds those).
AUTHORIZE_QUERY="response_type=code&client_id=$CLIENT_ID&redirect_uri=$REDIRECT_ENC&scope=openid&code_challenge=$CHALLENGE&code_challenge_method=S256"
TOKEN_BODY="grant_type=authorization_code&client_id=$CLIENT_ID&redirect_uri=$REDIRECT_ENC&code_verifier=$VERIFIER"

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

# jar_cookie JAR NAME: the value of cookie NAME in curl's cookie jar (HttpOnly
# cookies are written there behind a `#HttpOnly_` prefix).
jar_cookie() {
  python3 - "$1" "$2" <<'EOF'
import sys
jar, name = sys.argv[1:3]
for line in open(jar):
    line = line.rstrip("\n")
    if line.startswith("#HttpOnly_"):
        line = line[len("#HttpOnly_"):]
    elif line.startswith("#") or not line:
        continue
    f = line.split("\t")
    if len(f) >= 7 and f[5] == name:
        print(f[6])
EOF
}

# location HEADERS_FILE: the Location of a response whose headers curl dumped.
location() { tr -d '\r' <"$1" | awk 'tolower($1) == "location:" {print $2}' | tail -n 1; }
status() { tr -d '\r' <"$1" | awk '/^HTTP\// {s = $2} END {print s}'; }

# ostium_sign_in ORIGIN: signs the user in through Ostium's login page; prints
# `ostium_session=VALUE`.
ostium_sign_in() {
  local origin=$1 jar=$TMP/ostium.jar login_url fields code session
  : >"$jar"
  curl -sS -o /dev/null -D "$TMP/h" -c "$jar" -b "$jar" \
    "$origin/connect/authorize?$AUTHORIZE_QUERY&state=sign-in&nonce=sign-in" || die "ostium: authorize failed"
  login_url=$(location "$TMP/h")
  [[ $(status "$TMP/h") == 303 && $login_url == /account/login\?* ]] \
    || { cat "$TMP/h" >&2; die "ostium: the first authorization request did not lead to /account/login"; }
  curl -sS -o "$TMP/login.html" -D "$TMP/h" -c "$jar" -b "$jar" "$origin$login_url" || die "ostium: login page failed"
  [[ $(status "$TMP/h") == 200 ]] || { cat "$TMP/h" >&2; die "ostium: the login page did not answer 200"; }
  # The hidden inputs, HTML entities decoded, one per line: csrf, return_url.
  mapfile -t fields < <(python3 - "$TMP/login.html" <<'EOF'
import html, re, sys
page = open(sys.argv[1]).read()
for name in ("csrf", "return_url"):
    m = re.search(r'name="%s" value="([^"]*)"' % name, page)
    if not m:
        sys.exit(f"ERROR: ostium: no hidden input {name} on the login page")
    print(html.unescape(m.group(1)))
EOF
  )
  [[ ${#fields[@]} -eq 2 ]] || die "ostium: could not read the login form"
  curl -sS -o "$TMP/body" -D "$TMP/h" -c "$jar" -b "$jar" \
    --data-urlencode "csrf=${fields[0]}" --data-urlencode "return_url=${fields[1]}" \
    --data-urlencode "username=$USERNAME" --data-urlencode "password=$PASSWORD" \
    "$origin/account/login" || die "ostium: login POST failed"
  code=$(status "$TMP/h")
  session=$(jar_cookie "$jar" ostium_session)
  [[ $code == 303 && -n $session ]] \
    || { cat "$TMP/h" "$TMP/body" >&2; die "ostium: the login answered $code without an ostium_session cookie"; }
  printf 'ostium_session=%s\n' "$session"
}

# peer_sign_in ORIGIN: signs the user in through the peer's interaction; prints
# `_session=VALUE`.
peer_sign_in() {
  local origin=$1 jar=$TMP/peer.jar url session
  : >"$jar"
  curl -sS -o /dev/null -D "$TMP/h" -c "$jar" -b "$jar" \
    "$origin/auth?$AUTHORIZE_QUERY&state=sign-in&nonce=sign-in" || die "peer: authorize failed"
  url=$(location "$TMP/h")
  [[ $(status "$TMP/h") == 303 && $url == /interaction/* ]] \
    || { cat "$TMP/h" >&2; die "peer: the first authorization request did not lead to /interaction/"; }
  curl -sS -o "$TMP/body" -D "$TMP/h" -c "$jar" -b "$jar" \
    --data-urlencode "login=$USERNAME" --data-urlencode "password=$PASSWORD" "$origin$url" \
    || die "peer: sign-in POST failed"
  url=$(location "$TMP/h")
  [[ $(status "$TMP/h") == 303 && -n $url ]] || { cat "$TMP/h" "$TMP/body" >&2; die "peer: the sign-in was refused"; }
  [[ $url == /* ]] && url=$origin$url
  # Resuming the authorization sets the session cookie and sends the code.
  curl -sS -o /dev/null -D "$TMP/h" -c "$jar" -b "$jar" "$url" || die "peer: resume failed"
  session=$(jar_cookie "$jar" _session)
  [[ $(status "$TMP/h") == 303 && $(location "$TMP/h") == "$REDIRECT_URI?"* && -n $session ]] \
    || { cat "$TMP/h" >&2; die "peer: resuming the authorization did not answer with a code and a _session cookie"; }
  printf '_session=%s\n' "$session"
}

# check_exchange NAME ORIGIN AUTHORIZE_PATH TOKEN_PATH COOKIE: one exchange with
# curl, checked; prints the ID token's and the access token's JWT headers (or
# "opaque"), one a line.
check_exchange() {
  local name=$1 origin=$2 authorize=$3 token=$4 cookie=$5 loc
  curl -sS -o /dev/null -D "$TMP/h" -H "Cookie: $cookie" \
    "$origin$authorize?$AUTHORIZE_QUERY&state=check-1&nonce=check-1" || die "$name: authorize failed"
  loc=$(location "$TMP/h")
  [[ $(status "$TMP/h") == 303 && $loc == "$REDIRECT_URI?"* ]] \
    || { cat "$TMP/h" >&2; die "$name: the signed-in authorization request did not answer 303 to $REDIRECT_URI"; }
  python3 - "$name" "$loc" "$origin" >"$TMP/code" <<'EOF'
import sys, urllib.parse
name, loc, origin = sys.argv[1:4]
q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
if q.get("state") != "check-1" or not q.get("code"):
    sys.exit(f"ERROR: {name}: the redirect has no code or the wrong state: {loc}")
if q.get("iss") != origin:
    print(f"==> WARNING: {name}: the redirect's iss is {q.get('iss')!r}, not {origin!r}", file=sys.stderr)
print(q["code"])
EOF
  curl -sS -o "$TMP/body" -H 'Content-Type: application/x-www-form-urlencoded' \
    --data "$TOKEN_BODY&code=$(urlencode "$(cat "$TMP/code")")" "$origin$token" || die "$name: token request failed"
  python3 - "$name" "$TMP/body" <<'EOF'
import base64, json, sys
name, path = sys.argv[1:3]
body = open(path).read()
try:
    resp = json.loads(body)
    tokens = [resp["id_token"], resp["access_token"]]
except Exception:
    sys.exit(f"ERROR: {name}: the token response has no id_token and access_token: {body[:500]}")
def header(tok):
    parts = tok.split(".")
    if len(parts) != 3:
        return "opaque"
    try:
        seg = parts[0] + "=" * (-len(parts[0]) % 4)
        return json.dumps(json.loads(base64.urlsafe_b64decode(seg)), separators=(",", ":"), sort_keys=True)
    except Exception:
        return "unparseable JWT header"
print("\n".join(header(t) for t in tokens))
EOF
}

# bench_round NAME ORIGIN AUTHORIZE_PATH TOKEN_PATH COOKIE SECONDS OUT: one wrk run.
WRK_CMD=(taskset -c "$CLIENT_CPU" wrk "-t$THREADS" "-c$CONNECTIONS")
bench_round() {
  local name=$1 origin=$2 authorize=$3 token=$4 cookie=$5 secs=$6 out=$7
  BENCH_AUTHORIZE_PATH="$authorize?$AUTHORIZE_QUERY" BENCH_TOKEN_PATH=$token \
    BENCH_COOKIE=$cookie BENCH_TOKEN_BODY=$TOKEN_BODY \
    "${WRK_CMD[@]}" "-d${secs}s" -s "$LUA" "$origin" >"$out" 2>&1 \
    || { cat "$out" >&2; die "$name: wrk failed"; }
  grep -q '^bench-result ' "$out" || { cat "$out" >&2; die "$name: no bench-result line from wrk (lua script not run?)"; }
}

# record_round NAME ROUND OUT: appends "NAME ROUND XPS RPS EXCHANGES NON2XX BAD
# SOCKET_ERRORS P50_US P99_US" to $TMP/rounds.
record_round() {
  local name=$1 r=$2 out=$3
  python3 - "$name" "$r" "$(grep '^bench-result ' "$out")" "$(grep '^bench-latency ' "$out" || true)" \
    "$(grep '^bench-counters ' "$out" || true)" >>"$TMP/rounds" <<'EOF'
import sys
name, rnd, res, lat, cnt = sys.argv[1:6]
kv = dict(f.split("=", 1) for f in (res + " " + lat + " " + cnt).split() if "=" in f)
secs = int(kv["duration_us"]) / 1e6
xps = int(kv.get("exchanges", 0)) / secs if secs > 0 else 0
sock = sum(int(kv[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
bad = int(kv.get("bad_authorize", 0)) + int(kv.get("bad_token", 0))
print(name, rnd, f"{xps:.2f}", kv["rps"], kv.get("exchanges", 0), kv["non2xx"], bad, sock,
      kv.get("p50_us", "?"), kv.get("p99_us", "?"))
EOF
  tail -n 1 "$TMP/rounds" | awk '{printf "    %s round %s: %s exchanges/s (%s req/s), %s non-2xx, %s without a code or token, %s socket errors\n", $1, $2, $3, $4, $6, $7, $8}' >&2
}

: >"$TMP/rounds"
OSTIUM_ID_HDR="not run" OSTIUM_AT_HDR="not run"
PEER_ID_HDR="not run" PEER_AT_HDR="not run"
SERVERS=()

# ---------------------------------------------------------------- Ostium
if run_ostium; then
  PASSWORD_HASH=$("$OSTIUM_BIN" hash-password "$PASSWORD") || die "ostium hash-password failed"
  mkdir -p "$TMP/data"
  cat >"$TMP/ostium.toml" <<EOF
[server]
issuer = "http://127.0.0.1:$OSTIUM_PORT"
listen = "127.0.0.1:$OSTIUM_PORT"
data_dir = "$TMP/data"

[signing]
algorithm = "ES256"

[[identity_resources]]
name = "openid"

[[clients]]
client_id = "$CLIENT_ID"
require_client_secret = false
allowed_grant_types = "code"
redirect_uris = ["$REDIRECT_URI"]
allowed_scopes = ["openid"]

[[users]]
subject = "bench-user"
username = "$USERNAME"
password_hash = "$PASSWORD_HASH"
EOF
  log "starting Ostium ($OSTIUM_BIN) on 127.0.0.1:$OSTIUM_PORT, CPU $SERVER_CPU"
  taskset -c "$SERVER_CPU" "$OSTIUM_BIN" serve --config "$TMP/ostium.toml" >"$TMP/ostium.log" 2>&1 &
  OSTIUM_PID=$!
  PIDS+=("$OSTIUM_PID")
  OSTIUM_ORIGIN=http://127.0.0.1:$OSTIUM_PORT
  wait_http "$OSTIUM_ORIGIN/readyz" "$OSTIUM_PID" "$TMP/ostium.log"
  OSTIUM_COOKIE=$(ostium_sign_in "$OSTIUM_ORIGIN")
  log "Ostium: signed in"
  check_exchange ostium "$OSTIUM_ORIGIN" /connect/authorize /connect/token "$OSTIUM_COOKIE" >"$TMP/hdrs"
  { read -r OSTIUM_ID_HDR; read -r OSTIUM_AT_HDR; } <"$TMP/hdrs"
  log "Ostium token headers: ID $OSTIUM_ID_HDR, access $OSTIUM_AT_HDR"
  SERVERS+=(ostium)
fi

# ---------------------------------------------------------------- peer
if run_peer; then
  PEER_VERSION=$(node -p "require('./$PEER_DIR/node_modules/oidc-provider/package.json').version")
  log "starting oidc-provider $PEER_VERSION ($PEER_SCRIPT) on 127.0.0.1:$PEER_PORT, CPU $SERVER_CPU"
  (cd "$PEER_DIR" && PORT=$PEER_PORT NODE_ENV=production BENCH_USERNAME=$USERNAME \
    BENCH_PASSWORD=$PASSWORD BENCH_CLIENT_ID=$CLIENT_ID BENCH_REDIRECT_URI=$REDIRECT_URI \
    exec taskset -c "$SERVER_CPU" node "$PEER_SCRIPT") >"$TMP/peer.log" 2>&1 &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  PEER_ORIGIN=http://127.0.0.1:$PEER_PORT
  wait_line "$PEER_PID" "$TMP/peer.log" ready
  wait_http "$PEER_ORIGIN/.well-known/openid-configuration" "$PEER_PID" "$TMP/peer.log"
  PEER_COOKIE=$(peer_sign_in "$PEER_ORIGIN")
  log "peer: signed in"
  check_exchange peer "$PEER_ORIGIN" /auth /token "$PEER_COOKIE" >"$TMP/hdrs"
  { read -r PEER_ID_HDR; read -r PEER_AT_HDR; } <"$TMP/hdrs"
  log "peer token headers: ID $PEER_ID_HDR, access $PEER_AT_HDR"
  SERVERS+=(peer)
fi

# ---------------------------------------------------------------- load
run_server_round() {
  local name=$1 secs=$2 out=$3
  case "$name" in
    ostium) bench_round ostium "$OSTIUM_ORIGIN" /connect/authorize /connect/token "$OSTIUM_COOKIE" "$secs" "$out"
            kill -0 "$OSTIUM_PID" 2>/dev/null || { tail -n 50 "$TMP/ostium.log" >&2; die "Ostium died during the run"; } ;;
    peer)   bench_round peer "$PEER_ORIGIN" /auth /token "$PEER_COOKIE" "$secs" "$out"
            kill -0 "$PEER_PID" 2>/dev/null || { tail -n 50 "$TMP/peer.log" >&2; die "peer died during the run"; } ;;
  esac
}

for name in "${SERVERS[@]}"; do
  log "$name: warm-up ${WARMUP}s"
  run_server_round "$name" "$WARMUP" "$TMP/$name-warmup.txt"
done
for r in $(seq 1 "$ROUNDS"); do
  order=("${SERVERS[@]}")
  if (( r % 2 == 0 && ${#SERVERS[@]} == 2 )); then order=("${SERVERS[1]}" "${SERVERS[0]}"); fi
  for name in "${order[@]}"; do
    log "$name: round $r/$ROUNDS (${DURATION}s)"
    run_server_round "$name" "$DURATION" "$TMP/$name-round$r.txt"
    record_round "$name" "$r" "$TMP/$name-round$r.txt"
  done
done

for pid in ${PIDS[@]+"${PIDS[@]}"}; do stop_pid "$pid"; done

# Warn if the two are not doing the same work (ES256 ID token, ES256 at+jwt).
for name in ostium peer; do
  if [[ $name == ostium ]]; then id_hdr=$OSTIUM_ID_HDR at_hdr=$OSTIUM_AT_HDR; else id_hdr=$PEER_ID_HDR at_hdr=$PEER_AT_HDR; fi
  [[ $id_hdr == "not run" ]] && continue
  if [[ $id_hdr != *'"alg":"ES256"'* || $at_hdr != *'"alg":"ES256"'* || $at_hdr != *'"typ":"at+jwt"'* ]]; then
    log "WARNING: $name does not issue an ES256 ID token and an ES256 at+jwt access token (ID $id_hdr, access $at_hdr); the comparison is not like for like"
  fi
done

# ---------------------------------------------------------------- ceiling
log "openssl speed ecdsap256 (3 s, CPU $SERVER_CPU)"
OPENSSL_VERSION=$(openssl version | awk '{print $1, $2}')
OPENSSL_SIGN=$(taskset -c "$SERVER_CPU" openssl speed -seconds 3 ecdsap256 2>/dev/null \
  | awk '/ecdsa \(nistp256\)/ {print $(NF-1)}' | tail -n 1)
[[ -n $OPENSSL_SIGN ]] || { log "WARNING: could not read ES256 sign/s from openssl speed"; OPENSSL_SIGN=""; }

# ---------------------------------------------------------------- report
if [[ -n ${GIT_COMMIT:-} ]]; then
  COMMIT=$GIT_COMMIT
else
  COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ $COMMIT != unknown ]] && ! git diff --quiet HEAD -- 2>/dev/null; then COMMIT="$COMMIT (dirty)"; fi
fi
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
CMDLINE="DURATION=$DURATION ROUNDS=$ROUNDS WARMUP=$WARMUP"
[[ -z ${PEER_ADAPTER:-} ]] || CMDLINE+=" PEER_ADAPTER=$PEER_ADAPTER"
[[ $OSTIUM_BIN == "$DEFAULT_OSTIUM_BIN" ]] || CMDLINE+=" OSTIUM_BIN=$OSTIUM_BIN"
CMDLINE+=" bench/run-code-bench.sh${ORIG_ARGS[*]+ ${ORIG_ARGS[*]}}"

REPORT_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
REPORT_COMMIT=$COMMIT
KERNEL=$(uname -sr)
NODE_VERSION=$(node --version 2>/dev/null || echo none)
PEER_VERSION=${PEER_VERSION:-not run}
if [[ ${PEER_ADAPTER:-} == builtin ]]; then PEER_STORAGE="oidc-provider's built-in in-memory adapter"
else PEER_STORAGE="$PEER_DIR/memory-adapter.js"; fi
export REPORT_DATE REPORT_COMMIT NPROC CPU_MODEL CMDLINE KERNEL NODE_VERSION PEER_VERSION \
  DURATION ROUNDS WARMUP THREADS CONNECTIONS LUA SERVER_CPU CLIENT_CPU OSTIUM_BIN \
  OSTIUM_ID_HDR OSTIUM_AT_HDR PEER_ID_HDR PEER_AT_HDR PEER_SCRIPT PEER_STORAGE OPENSSL_SIGN OPENSSL_VERSION

python3 - "$TMP/rounds" >"$TMP/report.md" <<'EOF'
import os, statistics, sys
E = os.environ
rounds = {"ostium": [], "peer": []}
with open(sys.argv[1]) as f:
    for line in f:
        name, rnd, xps, rps, exch, non2xx, bad, sock, p50, p99 = line.split()
        rounds[name].append(dict(round=int(rnd), xps=float(xps), rps=float(rps), exchanges=int(exch),
                                 non2xx=int(non2xx), bad=int(bad), sock=int(sock), p50=p50, p99=p99))

def med(name, key="xps"):
    v = [r[key] for r in rounds[name]]
    return statistics.median(v) if v else None
def fmt(x, d=0):
    return "n/a" if x is None else f"{x:,.{d}f}"
def ms(us):
    try: return f"{int(us) / 1000:.1f}"
    except ValueError: return "?"

mo, mp = med("ostium"), med("peer")
out = []
w = out.append
w(f"### Authorization code exchange with a login session, {E['REPORT_DATE']}")
w("")
w(f"- commit: `{E['REPORT_COMMIT']}`")
w(f"- machine: {E['NPROC']} CPUs, {E['CPU_MODEL'] or 'unknown CPU'}; {E['KERNEL']}")
w(f"- command: `{E['CMDLINE']}`")
w(f"- load: `taskset -c {E['CLIENT_CPU']} wrk -t{E['THREADS']} -c{E['CONNECTIONS']} -d{E['DURATION']}s -s {E['LUA']} URL`, "
  f"{E['ROUNDS']} rounds per server, alternating, after {E['WARMUP']} s warm-up each; servers on CPU {E['SERVER_CPU']}")
w("- one exchange: `GET` authorize with the session cookie (303 with a code), then `POST` token "
  "(authorization_code, PKCE S256, public client); exchanges/s counts token responses with an access token")
w(f"- ostium: `{E['OSTIUM_BIN']}`, `/connect/authorize` + `/connect/token`; ID token header `{E['OSTIUM_ID_HDR']}`, "
  f"access token header `{E['OSTIUM_AT_HDR']}`")
w(f"- peer: oidc-provider {E['PEER_VERSION']} on Node.js {E['NODE_VERSION']} (`{E['PEER_SCRIPT']}`, storage `{E['PEER_STORAGE']}`), `/auth` + `/token`; "
  f"ID token header `{E['PEER_ID_HDR']}`, access token header `{E['PEER_AT_HDR']}`")
w("")
w("| server | round | exchanges/s | requests/s | exchanges | non-2xx | no code / no token | socket errors | p50 ms | p99 ms |")
w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in ("ostium", "peer"):
    for r in rounds[name]:
        w(f"| {name} | {r['round']} | {r['xps']:,.0f} | {r['rps']:,.0f} | {r['exchanges']:,} | {r['non2xx']} | {r['bad']} | {r['sock']} | {ms(r['p50'])} | {ms(r['p99'])} |")
    if rounds[name]:
        tot = {k: sum(r[k] for r in rounds[name]) for k in ("non2xx", "bad", "sock")}
        w(f"| **{name}** | **median** | **{fmt(med(name))}** | {fmt(med(name, 'rps'))} | | {tot['non2xx']} (total) | {tot['bad']} (total) | {tot['sock']} (total) | | |")
w("")
w(f"- **ostium / peer: {'n/a' if mo is None or not mp else f'{mo / mp:.2f}x'}** (median exchanges/s)")
w("- p50/p99 are per request (authorize and token mixed)")
osign = float(E["OPENSSL_SIGN"]) if E.get("OPENSSL_SIGN") else None
ceiling = None if osign is None else osign / 2
w(f"- openssl speed ES256 sign on one core ({E['OPENSSL_VERSION']}): {fmt(osign)} sign/s, so at most {fmt(ceiling)} exchanges/s "
  "(two signatures each: ID token and access token)"
  + ("" if ceiling is None or mo is None else f"; ostium at {100 * mo / ceiling:.1f}% of it")
  + ("" if ceiling is None or mp is None else f", peer at {100 * mp / ceiling:.1f}%"))
bad = {n: sum(r["non2xx"] + r["bad"] + r["sock"] for r in rounds[n]) for n in rounds}
if any(bad.values()):
    w(f"- **WARNING: errors during the run** ({', '.join(f'{n}: {c}' for n, c in bad.items() if c)}); the figures above are not valid")
print("\n".join(out))
EOF

echo
cat "$TMP/report.md"

if [[ $RECORD -eq 1 ]]; then
  { echo; cat "$TMP/report.md"; } >>"$RESULTS_FILE"
  log "appended to $RESULTS_FILE"
fi

# Non-zero exit if any round saw errors, so a broken run does not look fine in CI.
if awk '$6 > 0 || $7 > 0 || $8 > 0 {bad=1} END {exit !bad}' "$TMP/rounds"; then
  die "some rounds had non-2xx responses, answers without a code or token, or socket errors (see the table)"
fi
