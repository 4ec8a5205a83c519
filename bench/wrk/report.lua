-- The machine-readable summary every wrk script in this folder prints, written once.
-- A script loads it from its own folder and installs it:
--
--   local report = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "") .. "report.lua")
--   report.install({ "inactive_answers" })   -- optional: per-thread counters to add up
--
-- install() defines wrk's setup() and done(). done() prints, parsed by
-- bench/run-token-bench.sh and bench/run-cluster-bench.sh:
--
--   bench-result requests=N duration_us=N rps=F non2xx=N connect_errors=N read_errors=N write_errors=N timeouts=N
--   bench-latency p50_us=N p99_us=N max_us=N
--   bench-counters NAME=N ...          (only when counters are given)
--
-- non2xx is wrk's summary.errors.status (responses with status >= 400; wrk does not
-- count 3xx there). Counters are globals of the same name that the script's
-- response() increments: response() runs in each thread's own Lua state and done()
-- in the main one, so done() reads them from every thread (thread:get) and adds
-- them up.

local report = {}

function report.install(counters)
  counters = counters or {}
  local threads = {}

  setup = function(thread)
    threads[#threads + 1] = thread
  end

  done = function(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    local rps = secs > 0 and summary.requests / secs or 0
    io.write(string.format(
      "bench-result requests=%d duration_us=%d rps=%.2f non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
      summary.requests, summary.duration, rps, e.status, e.connect, e.read, e.write, e.timeout))
    io.write(string.format("bench-latency p50_us=%d p99_us=%d max_us=%d\n",
      latency:percentile(50), latency:percentile(99), latency.max))
    if #counters > 0 then
      local fields = {}
      for _, name in ipairs(counters) do
        local total = 0
        for _, thread in ipairs(threads) do
          total = total + (tonumber(thread:get(name)) or 0)
        end
        fields[#fields + 1] = string.format("%s=%d", name, total)
      end
      io.write("bench-counters " .. table.concat(fields, " ") .. "\n")
    end
    if e.status > 0 then
      io.write(string.format("WARNING: %d non-2xx responses (status >= 400): this run is broken\n", e.status))
    end
  end
end

return report
