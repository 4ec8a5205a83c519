-- wrk script: the authorization code exchange (RFC 6749 §4.1, PKCE S256 per RFC
-- 7636) of a user already signed in: a GET of the authorization endpoint with the
-- session cookie, answered 303 to the redirect URI with a code, then a POST of that
-- code to the token endpoint by a public client (client_id in the body).
--
--   BENCH_AUTHORIZE_PATH=/connect/authorize?response_type=code&client_id=...&code_challenge=...
--   BENCH_TOKEN_PATH=/connect/token
--   BENCH_COOKIE='name=value'           the signed-in session
--   BENCH_TOKEN_BODY='grant_type=authorization_code&client_id=...&redirect_uri=...&code_verifier=...'
--   wrk -t1 -c32 -d10s -s bench/wrk/authorization_code.lua http://127.0.0.1:PORT
--
-- BENCH_AUTHORIZE_PATH is the whole authorization request but `state` and `nonce`,
-- which each request gets fresh (a counter). One PKCE pair serves the whole run: the
-- server's work per exchange (one SHA-256 of the verifier) does not depend on it.
--
-- wrk calls request() whenever a connection is ready to send, and response() with
-- no word of which connection it came from, so the two halves are paired by a pool
-- (per wrk thread): an authorization response puts its code in the pool, and the
-- next request() sends a waiting code to the token endpoint, or else a new
-- authorization request. Each exchange is thus two requests, one after the other.
--
-- Counters (summed over threads by report.lua's done()):
--   exchanges      token responses 200 with an access_token: completed exchanges
--   bad_authorize  authorization answers without a code in Location (e.g. to the
--                  login page: the session was not accepted); wrk's non2xx does not
--                  count these, as they are 3xx
--   bad_token      token answers 200 without an access_token
-- Failed token requests (400) show in non2xx.

local report = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "") .. "report.lua")
report.install({ "exchanges", "bad_authorize", "bad_token" })

local function need(name)
  local v = os.getenv(name)
  if v == nil or v == "" then error(name .. " is not set") end
  return v
end

local authorize_path = need("BENCH_AUTHORIZE_PATH")
local token_path = need("BENCH_TOKEN_PATH")
local token_body = need("BENCH_TOKEN_BODY") .. "&code="
local authorize_headers = { ["Cookie"] = need("BENCH_COOKIE") }
local token_headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

exchanges = 0
bad_authorize = 0
bad_token = 0

local codes = {}
local n = 0

request = function()
  local code = table.remove(codes)
  if code ~= nil then
    return wrk.format("POST", token_path, token_headers, token_body .. code)
  end
  n = n + 1
  return wrk.format("GET", authorize_path .. "&state=s" .. n .. "&nonce=n" .. n, authorize_headers)
end

response = function(status, headers, body)
  if status >= 300 and status < 400 then
    local location = headers["Location"] or headers["location"]
    local code = location and location:match("[?&]code=([^&#]+)")
    if code then
      codes[#codes + 1] = code
    else
      bad_authorize = bad_authorize + 1
    end
  elseif status == 200 then
    if body:find('"access_token"', 1, true) then
      exchanges = exchanges + 1
    else
      bad_token = bad_token + 1
    end
  end
end
