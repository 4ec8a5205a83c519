-- wrk script: OAuth 2.0 client-credentials token requests (RFC 6749 §4.4).
--
--   wrk -t1 -c32 -d10s -s bench/wrk/client_credentials.lua http://127.0.0.1:PORT/connect/token
--
-- The URL's path is the token endpoint (Ostium: /connect/token, oidc-provider: /token).
-- Client and scope default to the benchmark fixture; override with the environment
-- variables BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_SCOPE.
--
-- done() is the shared reporter in report.lua (the bench-result and bench-latency
-- lines that bench/run-token-bench.sh parses).

local report = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "") .. "report.lua")
report.install()

local client_id = os.getenv("BENCH_CLIENT_ID") or "bench-client"
local client_secret = os.getenv("BENCH_CLIENT_SECRET") or "bench-secret"
local scope = os.getenv("BENCH_SCOPE") or "bench.api"

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1)
    out[#out + 1] = b64chars:sub(c2 + 1, c2 + 1)
    out[#out + 1] = b and b64chars:sub(c3 + 1, c3 + 1) or "="
    out[#out + 1] = c and b64chars:sub(c4 + 1, c4 + 1) or "="
  end
  return table.concat(out)
end

-- RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding; the
-- fixture's values contain only unreserved characters, so they are used as is.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=" .. scope
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. base64(client_id .. ":" .. client_secret)
wrk.headers["Accept"] = "application/json"

-- The request is the same every time: build it once (wrk.format) per thread.
local req
function init(args)
  req = wrk.format()
end

function request()
  return req
end
