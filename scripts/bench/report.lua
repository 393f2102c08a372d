-- wrk script for `make bench`: one JSON line with the run's figures (done() hook), and, with
-- BENCH_XFF=1, a different X-Forwarded-For per request so a page limited per client address
-- (public voucher verification) is measured as many clients see it, not as one client's 429s.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

if os.getenv("BENCH_XFF") == "1" then
  local n = 0
  function request()
    n = n + 1
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", (tid or 0) % 256, math.floor(n / 256) % 256, n % 256)
    return wrk.format(nil, nil, headers)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, ' ..
    '"status_errors": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end
