-- wrk script: token introspection (RFC 7662) of one active token by an API resource.
--
--   BENCH_TOKEN=TOKEN BENCH_BASIC=B64 wrk -t1 -c32 -d10s -s bench/wrk/introspect.lua URL/connect/introspect
--
-- An inactive answer is still a 200, so wrk cannot count it as an error; the shared
-- reporter (report.lua) prints how many answers were inactive, summed over wrk's
-- threads, as `bench-counters inactive_answers=N`.

local report = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "") .. "report.lua")
report.install({ "inactive_answers" })

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
wrk.body = "token=" .. os.getenv("BENCH_TOKEN")

-- A global: done() runs in another Lua state and reads it from each thread.
inactive_answers = 0
response = function(status, headers, body)
  if not body:find('"active":true', 1, true) then inactive_answers = inactive_answers + 1 end
end
