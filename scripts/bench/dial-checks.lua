-- wrk script: POST /v1/dial-checks with batches of BATCH (default 100) outbound call checks of
-- random valid US numbers; allowed calls are recorded (dry_run false), denied ones audited, as a
-- dialer's would be. AT is the instant asked about: a counted check must name an instant within
-- the server's `dial_count_skew_secs` of its clock, so the runner passes the current time; dry runs
-- ask about a fixed instant inside calling hours.
local batch = tonumber(os.getenv("BATCH") or "100")
local token = os.getenv("CV_TOKEN")
local dry = os.getenv("DRY_RUN") == "1" and ',"dry_run":true' or ""
local at = os.getenv("AT") or "2026-11-23T17:00:00Z"
local areas = { "212", "305", "415", "713", "208", "206", "312", "404", "617", "303", "602", "702", "214", "512", "919" }
local bodies = {}

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  for b = 1, 64 do
    local checks = {}
    for i = 1, batch do
      local n = "+1" .. areas[math.random(#areas)] .. math.random(2, 9) .. string.format("%06d", math.random(0, 999999))
      checks[i] = string.format('{"direction":"outbound_call","number":"%s","at":"%s"%s}', n, at, dry)
    end
    bodies[b] = '{"checks":[' .. table.concat(checks, ",") .. ']}'
  end
end

-- RATE (batches per second over all connections) paces the load: each connection waits
-- CONNECTIONS / RATE seconds between requests (wrk's delay(); the achieved rate is printed).
local rate = tonumber(os.getenv("RATE") or "0")
local connections = tonumber(os.getenv("CONNECTIONS") or "8")
if rate > 0 then
  delay = function()
    return math.floor(connections * 1000 / rate)
  end
end

request = function()
  return wrk.format("POST", "/v1/dial-checks",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token },
    bodies[math.random(#bodies)])
end

done = function(summary, latency, requests)
  io.write(string.format("checks/s: %.0f (batch %d); errors: %d non-2xx\n",
    summary.requests / (summary.duration / 1e6) * batch, batch, summary.errors.status))
  io.write(string.format("batch latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
