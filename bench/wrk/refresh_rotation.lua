-- wrk script: refresh-token rotation (RFC 6749 §6), each request spending one
-- refresh token and putting its successor back in the pool.
--
--   BENCH_TOKENS=FILE wrk -t1 -c32 -d10s -s bench/wrk/refresh_rotation.lua URL/connect/token
--
-- FILE holds one refresh token per line (at least as many as connections), issued
-- beforehand to BENCH_CLIENT_ID (basic auth with BENCH_BASIC, already base64). A
-- failed request loses its token, so a broken run runs dry and shows in non2xx.
-- done() prints the same bench-result line as client_credentials.lua.

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

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "bench-result requests=%d duration_us=%d rps=%.2f non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, summary.requests / seconds, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
  io.write(string.format("latency p50_us=%d p99_us=%d\n", latency:percentile(50), latency:percentile(99)))
end
