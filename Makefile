# imgforge: `make run` serves the API locally; `make test` checks everything.

CARGO ?= cargo

.PHONY: run test fmt-check clippy unit-tests

## run: serve the whole API on http://127.0.0.1:3000 over the embedded store in ./.data
run:
	$(CARGO) run --release --bin imgforge -- serve

## test: formatting, lints with warnings as errors, and every test
test: fmt-check clippy unit-tests

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

unit-tests:
	$(CARGO) test --all-targets
