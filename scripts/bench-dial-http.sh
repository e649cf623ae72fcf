#!/usr/bin/env bash
# HTTP batch dial checks on loopback: a release server on the embedded default (SQLite) with the
# demo tenant's policy and lists, wrk as the load generator (Debian package `wrk`), batches of
# BATCH checks (default 100) for DURATION seconds (default 20) over CONNECTIONS connections
# (default 8); DRY_RUN=1 asks without recording calls; RATE=N paces the load to about N batches
# per second over all connections (latency at a given load rather than at saturation).
# Usage: scripts/bench-dial-http.sh   (BATCH=1000 DURATION=30 CONNECTIONS=8 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release -q -p callvault
dir=$(mktemp -d)
port=18181
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
(cd "$dir" && exec env CALLVAULT_BOOTSTRAP_PASSWORD="bench operator passphrase" \
  "$OLDPWD/target/release/callvault" serve --demo --data-dir "$dir/data" --listen "127.0.0.1:$port" >"$dir/log" 2>&1) &
pid=$!
for _ in $(seq 1 60); do grep -q "listening" "$dir/log" 2>/dev/null && break; sleep 0.5; done
password=$(awk '$2 == "agent2" { print $3 }' "$dir/log")
token=$(curl -s "http://127.0.0.1:$port/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"tenant\":\"demo\",\"username\":\"agent2\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/Model name: *//p'); server and wrk share them"
# Counted checks must name an instant near the server's clock (dial_count_skew_secs): ask about
# now. Between 16:00 and 01:00 UTC now is inside calling hours in every zone of the numbers used.
if [ "${DRY_RUN:-0}" = 1 ]; then AT=2026-11-23T17:00:00Z; else AT=$(date -u +%Y-%m-%dT%H:%M:%SZ); fi
hour=$(date -u +%H)
if [ "${DRY_RUN:-0}" != 1 ] && [ "$hour" -lt 16 ] && [ "$hour" -gt 0 ]; then
  echo "note: $AT is outside calling hours for some of the numbers: part of the checks are denials"
fi
export AT
# Warm up (compiles the per-country number rules, fills caches).
CV_TOKEN=$token BATCH=${BATCH:-100} wrk -t1 -c4 -d3s -s scripts/bench/dial-checks.lua "http://127.0.0.1:$port" >/dev/null
CV_TOKEN=$token RATE=${RATE:-0} CONNECTIONS=${CONNECTIONS:-8} DRY_RUN=${DRY_RUN:-0} BATCH=${BATCH:-100} wrk -t1 -c"${CONNECTIONS:-8}" -d"${DURATION:-20}"s --latency \
  -s scripts/bench/dial-checks.lua "http://127.0.0.1:$port"
echo "server peak RSS: $(awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' /proc/$pid/status)"
