#!/usr/bin/env bash
# Checks the files in deploy/: the systemd unit must pass `systemd-analyze verify` with no
# warning at all. The unit names /usr/local/bin/callvault; a copy pointing at the binary given
# (default: the debug build) is verified, since verify checks that ExecStart is executable.
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$(realpath "${1:-target/debug/callvault}")"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ -n "${CI:-}" ]; then echo "FAIL: systemd-analyze is not installed" >&2; exit 1; fi
  echo "SKIP: deploy/callvault.service not verified (apt-get install -y systemd)"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed "s#/usr/local/bin/callvault#${binary}#" deploy/callvault.service > "$work/callvault.service"
out="$(systemd-analyze verify "$work/callvault.service" 2>&1)" || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
  echo "systemd-analyze verify warned about deploy/callvault.service:" >&2
  echo "$out" >&2
  exit 1
fi
echo "deploy/callvault.service: systemd-analyze verify passed"
