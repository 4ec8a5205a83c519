-- wrk script: refresh-token rotation (RFC 6749 §6), each request spending one
-- refresh token and putting its successor back in the pool.
--
--   BENCH_TOKENS=FILE wrk -t1 -c32 -d10s -s bench/wrk/refresh_rotation.lua URL/connect/token
--
-- FILE holds one refresh token per line (at least as many as connections), issued
-- beforehand to BENCH_CLIENT_ID (basic auth with BENCH_BASIC, already base64). A
-- failed request loses its token, so a broken run runs dry and shows in non2xx.
-- done() is the shared reporter in report.lua.

local report = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "") .. "report.lua")
report.install()

local pool = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  if #line > 0 then pool[#pool + 1] = line end
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")

request = function()
  local token = table.remove(pool)
  if token == nil then
    -- The pool ran dry: every token went to a failed request.
    return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=none")
  end
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end

response = function(status, headers, body)
  local successor = body:match('"refresh_token":"([^"]+)"')
  if status == 200 and successor then pool[#pool + 1] = successor end
end
