#!/usr/bin/env bash
# `make loadtest`: 60 s of mixed get/list/download (wrk, 32 connections) against a release
# `imgforge serve` on loopback over a new store with 20 images; prints wrk's report.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
duration=${LOADTEST_SECONDS:-60}

cargo build --release --no-default-features --bin imgforge
data=$(mktemp -d)
IMGFORGE_ADDR=127.0.0.1:0 IMGFORGE_DATA_DIR="$data" RUST_LOG=warn \
  "${CARGO_TARGET_DIR:-target}/release/imgforge" serve >"$data/stdout" 2>"$data/stderr" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  grep -q "serving the API" "$data/stdout" && break
  sleep 0.1
done
base=$(sed -n 's/^imgforge is serving the API at //p' "$data/stdout")
key=$(sed -n 's/.*(shown only once): //p' "$data/stdout")

ids=""
for n in $(seq 1 20); do
  id=$(curl -s -H "x-api-key: $key" -F "name=load $n" -F image=@docs/sample.png "$base/v1/images/upload" |
    sed -E 's/.*"id":"(image_[a-z0-9]+)".*/\1/')
  ids="$ids${ids:+,}$id"
done

IMAGE_IDS="$ids" API_KEY="$key" wrk -t2 -c32 -d"${duration}s" --latency -s bench/mixed.lua "$base"
