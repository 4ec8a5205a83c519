-- wrk script: token introspection (RFC 7662) of one active token by an API resource.
--
--   BENCH_TOKEN=TOKEN BENCH_BASIC=B64 wrk -t1 -c32 -d10s -s bench/wrk/introspect.lua URL/connect/introspect
--
-- An inactive answer is still a 200, so wrk cannot count it as an error; done()
-- prints how many answers were inactive beside wrk's own error counts.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
wrk.body = "token=" .. os.getenv("BENCH_TOKEN")

local inactive = 0
response = function(status, headers, body)
  if not body:find('"active":true', 1, true) then inactive = inactive + 1 end
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "bench-result requests=%d duration_us=%d rps=%.2f non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, summary.requests / seconds, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
  io.write(string.format("latency p50_us=%d p99_us=%d inactive_answers=%d\n",
    latency:percentile(50), latency:percentile(99), inactive))
end
