# The two commands of the README, plus the load suite. Each first makes sure PostgreSQL's
# server binaries are installed (apt-get as root on Debian; elsewhere one line says what to
# install), then hands over to cargo, which works directly wherever PostgreSQL is installed.

CARGO ?= cargo

.PHONY: run test bench postgres check

## The server on the embedded default (its own PostgreSQL under ./data), port 8080.
run: postgres
	$(CARGO) run --release --bin ferrobill

## Every test: unit tests and the integration tests against real PostgreSQL over real HTTP.
test: postgres
	$(CARGO) test --workspace

## A short load run against a server the suite starts itself (release build).
bench: postgres
	$(CARGO) build --release --bin ferrobill
	$(CARGO) run --release -p loadtests -- --scenario tenants --users 10 --duration 10s

## What CI runs besides the tests.
check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

postgres:
	@scripts/ensure-postgres.sh
