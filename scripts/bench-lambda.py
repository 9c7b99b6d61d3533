"""`make bench-lambda`: each function's cold start, and its deployment package's size.

Run inside scripts/with-moto.sh (AWS_ENDPOINT_URL pointing at moto). Every function's release
binary (built for this machine) is started as Lambda starts it, against a stand-in of Lambda's
runtime API on loopback that hands it its sample event from events/ (with a real key and image):

- init: process start to its first request for an event (what Lambda reports as Init Duration);
- first response: process start to the handler's answer (a cold request, as a client sees it);
- clients: the AWS SDK clients the function made on the way (from its debug log).

Each figure is the median of RUNS fresh processes. The zipped size is of the arm64 `bootstrap`
that `make build` leaves in target/lambda/, compressed as SAM packages it.
"""

import base64
import http.server
import io
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

RUNS = 5
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
RELEASE = TARGET / "release"
LAMBDA = TARGET / "lambda"
EVENTS = Path("events")
# What the sample events name, replaced by what this run creates.
EVENT_IMAGE = re.compile(r"image_[0-9a-z]{24}")
# What each function uses, from its line in the route table; engines by their `Engines` field.
ROUTE_LINE = re.compile(r'^\s*"([a-z-]+)" [A-Z]+ "[^"]*" => \w+(?: \[([a-z_, ]+)\])?,$', re.M)
ENGINES = {"classifier", "segmenter", "text_reader", "image_generator", "visual_answerer"}
# The engines that run a model in-process; the size goal is for the functions without one.
MODELS = {"classifier", "segmenter"}
ROUTE_USES = {
    name: set(uses.split(", "))
    for name, uses in ROUTE_LINE.findall(Path("src/api/routes.rs").read_text())
}
WITH_ENGINES = {name for name, uses in ROUTE_USES.items() if uses & ENGINES}
WITH_MODELS = {name for name, uses in ROUTE_USES.items() if uses & MODELS}


class RuntimeApi(http.server.ThreadingHTTPServer):
    """Lambda's runtime API for one invocation: the event, then the time of each step."""

    def __init__(self, event):
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.event = event
        self.asked = threading.Event()
        self.answered = threading.Event()
        self.asked_at = self.answered_at = None
        self.response = None
        self.handed_out = False


class RuntimeHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        if server.handed_out:
            # One invocation per process: a later poll is left unanswered until it is stopped.
            self.close_connection = True
            return
        server.handed_out = True
        server.asked_at = time.perf_counter()
        server.asked.set()
        body = server.event.encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-0001")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:imgforge",
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        server = self.server
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if server.answered_at is None:
            server.answered_at = time.perf_counter()
            kind = "error" if self.path.endswith("/error") else "response"
            server.response = (kind, body)
            server.answered.set()


def invoke(name, event, env):
    """Starts the function's binary, hands it `event`: (init ms, response ms, answer, clients)."""
    api = RuntimeApi(event)
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    lambda_env = dict(
        env,
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME=name,
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
        AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/imgforge",
        AWS_LAMBDA_LOG_STREAM_NAME="cold-start",
        RUST_LOG="warn,imgforge::sdk=debug",
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(RELEASE / name)], env=lambda_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        if not api.answered.wait(60):
            raise RuntimeError(f"{name} gave no answer within 60 s")
    finally:
        process.kill()
        log = process.communicate()[0].decode(errors="replace")
        api.shutdown()
        api.server_close()
    clients = sorted(set(re.findall(r"aws_sdk_(\w+)::client::Client", log)))
    return (
        (api.asked_at - started) * 1000,
        (api.answered_at - started) * 1000,
        api.response,
        clients,
    )


def status_of(answer):
    kind, body = answer
    if kind == "error":
        return "error"
    try:
        answer = json.loads(body)
    except ValueError:
        return "?"
    # An HTTP function answers API Gateway's response; the S3-triggered one answers nothing.
    return str(answer.get("statusCode", "?")) if isinstance(answer, dict) else "done"


def zipped_mb(name):
    bootstrap = LAMBDA / name / "bootstrap"
    if not bootstrap.is_file():
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(bootstrap, "bootstrap")
    return len(buffer.getvalue()) / 1e6


def run(command, env):
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


def main():
    imgforge = str(RELEASE / "imgforge")
    env = dict(
        os.environ,
        IMGFORGE_BACKEND="aws",
        IMGFORGE_BUCKET="imgforge-cold-start",
        IMGFORGE_TABLE="imgforge-cold-start",
    )
    for line in run([imgforge, "emulator", "init"], env).splitlines():
        if line.startswith("export "):
            variable, value = line[len("export "):].split("=", 1)
            env[variable] = value.strip("'\"")
    key = run([imgforge, "keys", "create", "--stage", "test"], env).strip()

    names = sorted(path.stem for path in Path("functions").glob("*.rs"))
    # upload-image first: the image it stores is the one the other events name; delete-image
    # last, as it takes the image away.
    names.remove("upload-image")
    names.remove("delete-image")
    names = ["upload-image", *names, "delete-image"]
    image_id = None
    rows = []
    for name in names:
        event = json.loads((EVENTS / f"{name}.json").read_text())
        if "headers" in event:
            event["headers"]["x-api-key"] = key
        event = json.dumps(event)
        if image_id:
            event = EVENT_IMAGE.sub(image_id, event)
        inits, responses, answers = [], [], []
        for _ in range(RUNS):
            init, response, answer, clients = invoke(name, event, env)
            inits.append(init)
            responses.append(response)
            answers.append((answer, clients))
        # The first run's answer and clients: later runs of publish, unpublish or delete find
        # the work done already.
        (answer, clients) = answers[0]
        if name == "upload-image":
            response = json.loads(answer[1])
            body = response["body"]
            if response.get("isBase64Encoded"):
                body = base64.b64decode(body)
            answer_body = json.loads(body)
            if "id" not in answer_body:
                raise RuntimeError(f"upload-image answered {answer_body}")
            image_id = answer_body["id"]
        rows.append((name, statistics.median(inits), statistics.median(responses),
                     status_of(answer), clients, zipped_mb(name)))

    print("| function | init ms | first response ms | status | AWS clients made | zipped arm64 MB |")
    print("|---|---:|---:|---|---|---:|")
    for name, init, response, status, clients, size in rows:
        size = "—" if size is None else f"{size:.1f}"
        marker = " ¹" if name in WITH_ENGINES else ""
        print(f"| {name}{marker} | {init:.1f} | {response:.1f} | {status} | "
              f"{', '.join(clients) or 'none'} | {size} |")
    print()
    print("Status and clients are the first run's. ¹ Opens the engines. A test key (as here) "
          "reaches none but remove-background's model (ISNet, loaded on first use, which is "
          "most of its first response): classify and visualize answer masked, imagine draws "
          "its test image, the text endpoints refuse test keys (403).")
    if all(size is None for *_, size in rows):
        print("No sizes: `make build` (about 40 minutes) leaves the arm64 packages they are "
              "measured from.")
    slow = [name for name, init, *_ in rows if init > 30 and name not in WITH_ENGINES]
    big = [name for name, *_, size in rows
           if size is not None and size > 6 and name not in WITH_MODELS]
    print(f"Init over 30 ms: {', '.join(slow) or 'none'}. "
          f"Over 6 MB zipped: {', '.join(big) or 'none'}.")


if __name__ == "__main__":
    sys.exit(main())
