# Infrastructor — build, run and test on one box. `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

GO ?= go
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION)

# The Temporal CLI whose `server start-dev` is the local Temporal server and UI. Newer releases do not install
# from the module proxy; internal/testenv pins the same version (a test keeps the two in step).
TEMPORAL_CLI_MODULE := github.com/temporalio/cli/cmd/temporal
TEMPORAL_CLI_VERSION := v1.5.1
export TEMPORAL_CLI_MODULE TEMPORAL_CLI_VERSION

# Generous: the suite starts real PostgreSQL, Temporal, sshd and Docker servers on two shared cores.
TEST_TIMEOUT ?= 30m

# Test suites outside `go test` (JavaScript end-to-end tests, ...) add their target here; `make test` runs them
# after the Go suite.
TEST_EXTRA := test-wrapper

.PHONY: help build run test test-go lint clean $(TEST_EXTRA)

help: ## List the targets with a one-line description.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_\/.-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/infrastructor, stamped with `git describe`.
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/infrastructor ./cmd/infrastructor

bin/temporal: ## Build the Temporal dev server (with UI) into bin/ once; takes minutes.
	GOBIN=$(CURDIR)/bin $(GO) install $(TEMPORAL_CLI_MODULE)@$(TEMPORAL_CLI_VERSION)

run: build ## Run the whole system locally: PostgreSQL, Temporal dev server + UI, `infrastructor up` (Ctrl-C stops all).
	scripts/run.sh

test: test-go $(TEST_EXTRA) ## Run every test (Go with -race, then the suites in TEST_EXTRA).

test-go: bin/temporal ## Run the Go tests with the race detector.
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# The integration tests of polling and container management once more, with every test device's key behind the
# device wrapper (restrict,command=...), as deploy/device/setup-device.sh installs it: the product must work
# unchanged through it.
WRAPPER_TESTS := TestPollingFleet|TestContainerInventory|TestContainerOperations
test-wrapper: bin/temporal ## Run the polling and container integration tests through the device wrapper.
	INFRA_TEST_DEVICE_WRAPPER=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -run '^($(WRAPPER_TESTS))$$' ./test/integration/

# test/timescale (part of test-go) runs the product on TimescaleDB; it skips outside CI when the extension is not
# installed. This target runs it alone.
.PHONY: test-timescale
test-timescale: bin/temporal ## Run the TimescaleDB suite alone (install the extension first: ../shared/timescaledb/install.sh).
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./test/timescale/

# The MCP check with the official TypeScript SDK already runs inside test-go (test/mcp runs node on client.mjs and
# installs its npm packages when missing), so it is not in TEST_EXTRA; this target runs it alone.
.PHONY: test-mcp-js
test-mcp-js: bin/temporal ## Run the MCP end-to-end check with the TypeScript SDK alone (needs node and npm).
	cd test/mcp && npm ci --no-audit --no-fund
	$(GO) test -race -count=1 -run 'TestMCP/TypeScript' ./test/mcp/

# Temporal's static checker for non-deterministic calls in workflow code (time.Now, map ranges, goroutines, ...);
# pinned, installed from the module proxy on first use. Its findings fail the lint; a reviewed false positive is
# annotated in the code with //workflowcheck:ignore and the reason.
WORKFLOWCHECK := go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0

lint: ## Run go vet, check gofmt and check workflow code for non-determinism (workflowcheck).
	$(GO) vet ./...
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) run $(WORKFLOWCHECK) ./workflows/...

clean: ## Remove bin/infrastructor. Keeps bin/temporal (minutes to rebuild) and the local data in .data/.
	rm -f bin/infrastructor

# Scale: the simulated device fleet and the whole-system benchmark (docs/performance.md). `make test` runs a
# tiny bench through bench/bench_test.go, so the harness cannot rot.
.PHONY: devicesim bench bench-smoke bin/infrastructor-pprof

devicesim: ## Build bin/devicesim, a fleet of simulated SSH devices for load tests.
	$(GO) build -o bin/devicesim ./cmd/devicesim

bin/infrastructor-pprof: ## Build the product binary with Go's profiler on BENCH_PPROF_LISTEN, for BENCH_WORKER (docs/performance.md).
	$(GO) build -tags pprof -ldflags '$(LDFLAGS)' -o bin/infrastructor-pprof ./cmd/infrastructor

bench: build devicesim bin/temporal ## Benchmark the whole system on simulated devices (BENCH_DEVICES=200 BENCH_INTERVAL=30s BENCH_DURATION=2m); results in bench/results/.
	$(GO) build -o bin/bench ./bench/cmd/bench
	bin/bench

bench-smoke: bin/temporal ## Run the bench with 5 devices for 15 s and check its table (part of `make test`).
	$(GO) test -count=1 -run TestBenchSmoke -v ./bench/

# Scale-out (docs/performance.md): two workers and two API processes against one Temporal server on PostgreSQL,
# one worker killed mid-window. Not part of `make test`; INFRA_BENCH_SCALEOUT=1 go test -run TestScaleOutSmoke
# ./bench/ runs it tiny. Flags: SCALEOUT_FLAGS='-devices 300 -interval 30s -duration 5m -kill-after 90s'.
SCALEOUT_FLAGS ?=
.PHONY: bench-scaleout
bench-scaleout: build devicesim bin/temporal temporal-postgres ## Scale-out run: 2 workers + 2 APIs on Temporal/PostgreSQL, one worker SIGKILLed (SCALEOUT_FLAGS=...); results in bench/results/.
	$(GO) build -o bin/bench-scaleout ./bench/cmd/scaleout
	bin/bench-scaleout $(SCALEOUT_FLAGS)

# Deployment (deploy/README.md): container images, and the Temporal server on PostgreSQL for `make run
# TEMPORAL=postgres` (TEMPORAL=dev, the default, runs the dev server on SQLite). TEMPORAL reaches scripts/run.sh
# through the environment, as make exports variables set on its command line.
TEMPORAL ?= dev
IMAGE ?= infrastructor:$(VERSION)
.PHONY: image image-local temporal-postgres

image: ## Build the container image from deploy/Dockerfile (pulls the Go image); IMAGE=name:tag.
	DOCKER_BUILDKIT=$${DOCKER_BUILDKIT:-0} docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

image-local: ## Build the same runtime image from binaries built here (no image pull); IMAGE=name:tag.
	deploy/runtime-image.sh $(IMAGE) $(VERSION)

temporal-postgres: ## Build the Temporal server, its SQL tool and UI into bin/ once (minutes), for TEMPORAL=postgres.
	scripts/temporal-postgres.sh build

# The dashboard in a real browser (test/browser, part of `make test`): Debian's chromium, and axe-core from npm
# (installed by the test from test/browser/package-lock.json).
.PHONY: test-browser bench-dashboard
test-browser: bin/temporal ## Run the dashboard's browser tests alone (needs chromium; screenshots in INFRA_BROWSER_ARTIFACTS).
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -v -run TestDashboard ./test/browser/

bench-dashboard: bin/temporal ## Measure the fleet page with 1,000 devices in Chromium (docs/performance-dashboard.md).
	INFRA_BROWSER_BENCH=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -v -run TestFleetPageBenchmark ./test/browser/
