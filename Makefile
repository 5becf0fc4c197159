# The two commands of the README, plus the load suite. Each first makes sure PostgreSQL's
# server binaries are installed (apt-get as root on Debian; elsewhere one line says what to
# install), then hands over to cargo, which works directly wherever PostgreSQL is installed.
# The tests also need a headless Chromium (the dashboard's and the load report's browser
# tests), installed the same way. `make js-client` runs Kill Bill's JavaScript client against a
# fresh server; it needs Node.js and npm, installed the same way.

CARGO ?= cargo

.PHONY: run test bench js-client postgres chromium node check

## The server on the embedded default (its own PostgreSQL under ./data), port 8080.
run: postgres
	$(CARGO) run --release --bin ferrobill

## Every test: unit tests and the integration tests against real PostgreSQL over real HTTP,
## the browser tests in headless Chromium.
test: postgres chromium
	$(CARGO) test --workspace

## A short load run against a server the suite starts itself (release build).
bench: postgres
	$(CARGO) build --release --bin ferrobill
	$(CARGO) run --release -p loadtests -- --scenario tenants --users 10 --duration 10s

## Kill Bill's official JavaScript client (npm killbill 0.24.0) against a fresh server.
js-client: postgres node
	CARGO=$(CARGO) scripts/js-client.sh

## What CI runs besides the tests.
check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

postgres:
	@scripts/ensure-postgres.sh

chromium:
	@scripts/ensure-chromium.sh

node:
	@scripts/ensure-node.sh
