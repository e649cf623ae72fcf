#!/usr/bin/env bash
# Idle resident memory of `callvault serve` (release build) on a fresh data directory, with and
# without the demo tenant, after it has answered /healthz and idled for a few seconds.
# Usage: scripts/bench-rss.sh [idle-seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-5}
cargo build --release -p callvault --locked >/dev/null 2>&1
bin=$PWD/target/release/callvault
for mode in plain demo; do
  dir=$(mktemp -d)
  port=$((20000 + RANDOM % 20000))
  args=(serve --listen "127.0.0.1:$port")
  [ "$mode" = demo ] && args+=(--demo)
  (cd "$dir" && CALLVAULT_BOOTSTRAP_PASSWORD="rss bench passphrase" "$bin" "${args[@]}" >/dev/null 2>&1) &
  pid=$!
  start=$(date +%s%N)
  until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.05; done
  ready_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  sleep "$idle"
  server=$(pgrep -P "$pid" -f "callvault serve" || echo "$pid")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
  printf '%-6s healthz after %5d ms | idle RSS %6.1f MiB | peak RSS %6.1f MiB\n' "$mode" "$ready_ms" "$(echo "$rss/1024" | bc -l)" "$(echo "$hwm/1024" | bc -l)"
  kill "$pid" 2>/dev/null || true; kill "$server" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
done
