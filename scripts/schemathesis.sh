#!/usr/bin/env bash
# Runs schemathesis (from .venv) against `imgforge serve` on a free loopback port, over a new
# store, with the key the server creates; stops the server by its PID however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
imgforge=${IMGFORGE:-${CARGO_TARGET_DIR:-target}/debug/imgforge}
examples=${SCHEMATHESIS_EXAMPLES:-25}

data=$(mktemp -d)
out="$data/stdout"
IMGFORGE_ADDR=127.0.0.1:0 IMGFORGE_DATA_DIR="$data" RUST_LOG=warn "$imgforge" serve >"$out" 2>"$data/stderr" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT

base="" key=""
for _ in $(seq 1 100); do
  base=$(sed -n 's/^imgforge is serving the API at //p' "$out")
  key=$(sed -n 's/.*(shown only once): //p' "$out")
  [ -n "$base" ] && break
  sleep 0.1
done
if [ -z "$base" ] || [ -z "$key" ]; then
  echo "imgforge serve did not start:" >&2
  cat "$data/stderr" >&2
  exit 1
fi

"$venv/bin/st" run openapi.yaml \
  --url "$base" \
  --header "x-api-key: $key" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --max-examples "$examples" \
  --seed 20261128 \
  --request-timeout 120 \
  --workers 2 \
  --warnings off
