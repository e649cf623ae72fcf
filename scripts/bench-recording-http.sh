#!/usr/bin/env bash
# Recording decisions over HTTP beside dial checks, in one run against one release server on the
# embedded default (SQLite, demo tenant): the demo's recorder service account asks
# POST /v1/recording-decisions (one question per request), then the demo agent asks
# POST /v1/dial-checks with batches of one dry-run check (one question per request too), each for
# DURATION seconds (default 15) over CONNECTIONS keep-alive connections (default 4). wrk (Debian
# package `wrk`) runs on the same cores as the server.
# Usage: scripts/bench-recording-http.sh   (CONNECTIONS=8 DURATION=30 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release -q -p callvault
dir=$(mktemp -d)
port=18182
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
(cd "$dir" && exec env CALLVAULT_BOOTSTRAP_PASSWORD="bench operator passphrase" \
  "$OLDPWD/target/release/callvault" serve --demo --data-dir "$dir/data" --listen "127.0.0.1:$port" >"$dir/log" 2>&1) &
pid=$!
for _ in $(seq 1 60); do grep -q "listening" "$dir/log" 2>/dev/null && break; sleep 0.5; done
url="http://127.0.0.1:$port"
recorder=$(awk '/service account `recorder`/ { print $NF }' "$dir/log")
password=$(awk '$2 == "agent2" { print $3 }' "$dir/log")
agent_token=$(curl -s "$url/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"tenant\":\"demo\",\"username\":\"agent2\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
me=$(curl -s "$url/v1/auth/me" -H "authorization: Bearer $agent_token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["principal"].split(":")[1])')
sup_password=$(awk '$2 == "supervisor" { print $3 }' "$dir/log")
sup_token=$(curl -s "$url/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"tenant\":\"demo\",\"username\":\"supervisor\",\"password\":\"$sup_password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
service=$(curl -s "$url/v1/services" -H "authorization: Bearer $sup_token" | python3 -c '
import json,sys
v = json.load(sys.stdin)
print(v[0]["id"] if v else "00000000-0000-0000-0000-000000000000")')
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/Model name: *//p'); server and wrk share them"
c=${CONNECTIONS:-4}
d=${DURATION:-15}
export CV_TOKEN=$recorder SERVICE=$service AGENT=$me
wrk -t1 -c"$c" -d3s -s scripts/bench/recording-decisions.lua "$url" >/dev/null
echo "== recording decisions ($c connections, ${d} s)"
wrk -t1 -c"$c" -d"${d}s" --latency -s scripts/bench/recording-decisions.lua "$url" | grep -E "decisions/s|latency p50"
export CV_TOKEN=$agent_token BATCH=1 DRY_RUN=1 CONNECTIONS=$c RATE=0
wrk -t1 -c"$c" -d3s -s scripts/bench/dial-checks.lua "$url" >/dev/null
echo "== dial checks, one per request, dry run ($c connections, ${d} s)"
wrk -t1 -c"$c" -d"${d}s" --latency -s scripts/bench/dial-checks.lua "$url" | grep -E "checks/s|batch latency"
echo "server peak RSS: $(awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' /proc/$pid/status)"
