#!/usr/bin/env bash
# The analysis endpoints through the API on one core: a release `imgforge serve` pinned to one CPU
# (`taskset`, so Rust's available_parallelism, ONNX Runtime and Tesseract all see one core) over
# a new store with a live key, timed by curl (`time_total`: client-side wall time per request,
# upload excluded, decoding included). Prints a Markdown table, also saved as
# bench/cache/analysis.md:
#
# - classify: a 2560×1600 photograph and the same at 1024×768, p50 and p90 over CLASSIFY_CALLS;
# - remove-background of the 1024×768 photograph, over REMOVE_BACKGROUND_CALLS;
# - extract-formatted-text (markdown) and extract-text of tests/fixtures/document.png, over
#   TEXT_CALLS;
# - each model's load time, the median of three `imgforge doctor` runs on the same core;
# - the server's peak RSS (VmHWM), after each step and after the run.
#
# Each endpoint's first call is timed apart ("first call") and left out of the percentiles: the
# first classify and remove-background load their model. Percentiles are nearest-rank. Beside
# the wall times, the server's CPU time per call (its Tesseract children's included, from
# /proc/PID/stat) and the load average: on a machine busy with other work the wall times grow
# past the CPU times.
# Needs curl, taskset, python3, Tesseract, `make models` and the test photographs
# (scripts/test-photos.sh, run here when they are missing). BENCH_CPU picks the server's CPU
# (default 0); curl runs on the other CPUs this shell may use, when there are any.
set -euo pipefail
cd "$(dirname "$0")/.."

classify_calls=${CLASSIFY_CALLS:-20}
remove_background_calls=${REMOVE_BACKGROUND_CALLS:-3}
text_calls=${TEXT_CALLS:-5}
cpu=${BENCH_CPU:-0}
models=${IMGFORGE_MODELS_DIR:-.models}
photo=$models/photos/ColorfulCups.jpg
document=tests/fixtures/document.png
bin=${CARGO_TARGET_DIR:-target}/release/imgforge
out=bench/cache/analysis.md

for tool in curl taskset python3; do
  command -v "$tool" >/dev/null || { echo "bench-analysis: $tool is needed" >&2; exit 1; }
done
command -v tesseract >/dev/null ||
  { echo "bench-analysis: Tesseract is needed (scripts/system-packages.sh)" >&2; exit 1; }
for file in efficientnet-lite0.onnx imagenet-labels.txt isnet.onnx libonnxruntime.so; do
  [ -f "$models/$file" ] || { echo "bench-analysis: $models/$file is missing: make models" >&2; exit 1; }
done
[ -f "$photo" ] || scripts/test-photos.sh "$models/photos"

"${CARGO:-cargo}" build --release --bin imgforge

# The server's CPU, and the others this shell may use for curl.
client_cpus=$(python3 -c '
import os, sys
print(",".join(str(c) for c in sorted(os.sched_getaffinity(0)) if c != int(sys.argv[1])))
' "$cpu")
client() {
  if [ -n "$client_cpus" ]; then taskset -c "$client_cpus" "$@"; else "$@"; fi
}

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export IMGFORGE_DATA_DIR="$work/data" IMGFORGE_MODELS_DIR="$models" IMGFORGE_BACKEND=local \
  IMGFORGE_TEXT_ENGINE=tesseract IMGFORGE_ADDR=127.0.0.1:0 RUST_LOG=warn
mkdir -p "$IMGFORGE_DATA_DIR"

# Model load times: each `doctor` is a new process that loads both models (the classifier first,
# so its time includes starting ONNX Runtime).
for run in 1 2 3; do
  taskset -c "$cpu" "$bin" doctor >"$work/doctor.$run"
done

"$bin" transform resize --params '{"width":1024,"height":768,"fit":"cover"}' \
  "$photo" "$work/photo-1024x768.jpg" >/dev/null

key=$("$bin" keys create --stage live)

# `taskset` execs the server, so $! is the server's own PID.
taskset -c "$cpu" "$bin" serve >"$work/server.out" 2>"$work/server.err" &
pid=$!
for _ in $(seq 1 300); do
  grep -qs "serving the API" "$work/server.out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.err" >&2; exit 1; }
  sleep 0.1
done
base=$(sed -n 's/^imgforge is serving the API at //p' "$work/server.out")
[ -n "$base" ] || { echo "bench-analysis: the server did not start" >&2; cat "$work/server.err" >&2; exit 1; }

vmhwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"; }
# The server's CPU time in clock ticks, with its reaped children's (Tesseract's): utime, stime,
# cutime, cstime. Unlike wall time, it leaves out the time the CPU gave to other processes.
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat"; }

upload() {
  client curl -sS --fail-with-body -H "x-api-key: $key" -F name=bench -F "image=@$1" \
    "$base/v1/images/upload" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

# One POST, timed; its status must be 201. Prints curl's time_total (seconds).
timed_post() {
  local url=$1 body=$2 result
  result=$(client curl -sS -o "$work/response" -w '%{http_code} %{time_total}' -X POST \
    -H "x-api-key: $key" -H 'content-type: application/json' --data "$body" "$url")
  if [ "${result% *}" != 201 ]; then
    echo "bench-analysis: POST $url answered ${result% *}: $(head -c 500 "$work/response")" >&2
    exit 1
  fi
  echo "${result#* }"
}

# measure STEP CALLS ENDPOINT IMAGE_ID BODY: the first call into STEP.first, CALLS more into
# STEP.times, the server's CPU ticks over those into STEP.ticks, its VmHWM afterwards into
# STEP.hwm.
measure() {
  local step=$1 calls=$2 url="$base/v1/images/$4/$3" body=$5 ticks
  timed_post "$url" "$body" >"$work/$step.first"
  ticks=$(cpu_ticks)
  for _ in $(seq 1 "$calls"); do timed_post "$url" "$body"; done >"$work/$step.times"
  echo $(($(cpu_ticks) - ticks)) >"$work/$step.ticks"
  vmhwm >"$work/$step.hwm"
}

vmhwm >"$work/idle.hwm"
cut -d' ' -f1 /proc/loadavg >"$work/load.before"
large=$(upload "$photo")
small=$(upload "$work/photo-1024x768.jpg")
page=$(upload "$document")

measure classify-large "$classify_calls" classify "$large" '{}'
measure classify-small "$classify_calls" classify "$small" '{}'
measure remove-background "$remove_background_calls" remove-background "$small" '{}'
measure formatted-text "$text_calls" extract-formatted-text "$page" '{"format":"markdown"}'
measure text "$text_calls" extract-text "$page" '{}'

cut -d' ' -f1 /proc/loadavg >"$work/load.after"

mkdir -p "$(dirname "$out")"
python3 - "$work" "$cpu" "$client_cpus" "$photo" "$document" >"$out" <<'PY'
import math, os, re, statistics, struct, sys

work, cpu, client_cpus, photo, document = sys.argv[1:]

def read(name):
    with open(os.path.join(work, name)) as f:
        return f.read()

def ms(seconds):
    return float(seconds) * 1000

def rank(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered))) - 1]

def fmt_ms(value):
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"

def mib(kib):
    return f"{int(kib) / 1024:,.0f} MiB"

def png_size(path):
    with open(path, "rb") as f:
        return struct.unpack(">II", f.read(24)[16:24])

def mb(path):
    return f"{os.path.getsize(path) / 1e6:.1f} MB"

small = os.path.join(work, "photo-1024x768.jpg")
doc_w, doc_h = png_size(document)
rows = [
    ("classify-large", f"classify, 2560×1600 JPEG ({os.path.basename(photo)}, {mb(photo)})", True),
    ("classify-small", f"classify, 1024×768 JPEG (the same, resized; {mb(small)})", True),
    ("remove-background", "remove-background, 1024×768 JPEG", False),
    ("formatted-text", f"extract-formatted-text (markdown), {doc_w}×{doc_h} PNG page", False),
    ("text", f"extract-text, the same page", False),
]

tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
print("| measurement | calls | p50 | p90 | first call | server CPU per call | server VmHWM after |")
print("|---|---:|---:|---:|---:|---:|---:|")
print(f"| server started, idle | | | | | | {mib(read('idle.hwm'))} |")
for step, label, with_p90 in rows:
    times = [ms(line) for line in read(f"{step}.times").split()]
    first = ms(read(f"{step}.first").strip())
    cpu_ms = int(read(f"{step}.ticks")) * tick_ms / len(times)
    p90 = fmt_ms(rank(times, 0.9)) if with_p90 else ""
    print(f"| {label} | {len(times)} | {fmt_ms(rank(times, 0.5))} | {p90} | {fmt_ms(first)} "
          f"| {fmt_ms(cpu_ms)} | {mib(read(f'{step}.hwm'))} |")

loads = {"classify": [], "remove-background": []}
for run in (1, 2, 3):
    for line in read(f"doctor.{run}").splitlines():
        match = re.match(r"(classify|remove-background)\s.*loaded in (\d+) ms", line)
        if match:
            loads[match.group(1)].append(int(match.group(2)))
for capability, label in (("classify", "EfficientNet-Lite0, with ONNX Runtime's start"),
                          ("remove-background", "ISNet")):
    values = loads[capability]
    if len(values) != 3:
        sys.exit(f"bench-analysis: imgforge doctor did not load the {capability} model")
    print(f"| model load: {label} (`imgforge doctor`, median of 3) | | "
          f"{fmt_ms(statistics.median(values))} | | | | |")
print(f"| **server peak RSS (VmHWM) after the run** | | | | | | "
      f"**{mib(read('text.hwm'))}** |")

model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
              if line.startswith("model name")), "unknown CPU")
client = f"curl on CPU {client_cpus}" if client_cpus else "curl on the same CPU"
print()
print(f"Server on CPU {cpu} only (`taskset -c {cpu}`) of {len(os.sched_getaffinity(0))} (`nproc`; {model}); {client}. "
      "Times are curl's `time_total` (upload excluded, decoding included); each endpoint's "
      "first call (model load for classify and remove-background) is apart and not in p50/p90. "
      "Server CPU per call is its user and system time over those calls, its Tesseract "
      "children's included; VmHWM is the server process only. "
      f"1-minute load average {read('load.before').strip()} before the calls, "
      f"{read('load.after').strip()} after.")
PY
cat "$out"
