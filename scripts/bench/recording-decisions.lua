-- wrk script: POST /v1/recording-decisions, one question per request, as a recorder or SBC asks
-- before each call: the demo tenant's inbound service, one agent, the customer's consent answer
-- cycling over yes / not_required / no_answer (no_answer is a decision not to record, audited).
local token = os.getenv("CV_TOKEN")
local service = os.getenv("SERVICE")
local agent = os.getenv("AGENT")
local answers = { "yes", "not_required", "no_answer", "yes" }
local bodies = {}

init = function(args)
  for i = 1, #answers do
    bodies[i] = string.format(
      '{"interaction":"bench-%d","service":"%s","agents":["%s"],"direction":"inbound","consent":{"customer":"%s"}}',
      i, service, agent, answers[i])
  end
end

local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/recording-decisions",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token },
    bodies[(n % #bodies) + 1])
end

done = function(summary, latency, requests)
  io.write(string.format("decisions/s: %.0f; errors: %d non-2xx\n",
    summary.requests / (summary.duration / 1e6), summary.errors.status))
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
