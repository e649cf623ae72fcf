#!/usr/bin/env bash
# Streaming encryption against the raw AES-256-GCM speed of the fastest implementations on this
# machine, in one run: callvault's envelope layer and aws-lc-rs one-shot (the Rust bench), then
# `openssl speed -evp aes-256-gcm` over 16 KiB blocks. Usage: scripts/bench-stream.sh [MiB, default 16]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cargo bench -q -p callvault-crypto --bench stream_throughput -- "${1:-16}"
if command -v openssl >/dev/null; then
  echo "openssl $(openssl version | cut -d' ' -f2):"
  openssl speed -evp aes-256-gcm -seconds 3 -bytes 16384 2>/dev/null | tail -1 |
    awk '{ printf "  openssl speed -evp aes-256-gcm (16 KiB blocks): %8.0f MB/s\n", $2 / 1000 }'
fi
