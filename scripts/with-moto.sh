#!/usr/bin/env bash
# Runs a command against a private moto_server (the AWS emulator) on a free loopback port, with
# the AWS environment pointing at it, and stops the server by its PID however the command ends.
set -euo pipefail

venv=${VENV:-.venv}
python="$venv/bin/python"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)

"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

ready=""
for _ in $(seq 1 100); do
  if "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    ready=yes
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "moto_server did not start:" >&2
  cat "$log" >&2
  exit 1
fi
echo "moto_server (pid $pid) on 127.0.0.1:$port" >&2

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE
"$@"
