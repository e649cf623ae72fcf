#!/usr/bin/env bash
# Bounded fuzzing of every parser of untrusted input (cargo fuzz, libFuzzer, nightly toolchain):
# phone numbers and area clauses, calling-rule files, registry files, persisted number sets, unseal shares, text
# scanned for card numbers (text and MIME e-mails) and
# whole dial checks. Usage: scripts/fuzz.sh [seconds per target, default 30]. Fails on the first
# crash (the input is left in fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-30}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
cargo +nightly fuzz build -O
for target in $(cargo +nightly fuzz list); do
  echo "fuzz: $target for ${secs}s"
  cargo +nightly fuzz run -O "$target" -- -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E "^(stat::number_of_executed_units|Done)|ERROR|panicked" || true
  if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "fuzz: $target crashed; inputs in fuzz/artifacts/$target" >&2
    exit 1
  fi
done
