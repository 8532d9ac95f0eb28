# Catga-Go. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The services are the directories under services/ with a main.go, so a
# copied service is built, tested, linted and imaged like the others.
SERVICES := $(patsubst services/%/main.go,%,$(wildcard services/*/main.go))
# Every Go module in the workspace, in dependency order.
MODULES := libs/catga libs/contracts $(addprefix services/,$(SERVICES)) examples/demo bench e2e
BIN := $(CURDIR)/bin
GO ?= go
# Tests that start real servers share two cores: keep package parallelism low.
TEST_FLAGS ?= -count=1 -p 2 -timeout 25m
RACE ?= -race

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install what the tests need and a fresh machine lacks (redis-server, PostgreSQL)
	@scripts/install-deps.sh

.PHONY: test
test: deps ## everything this machine can run: unit, integration, e2e (with a Docker Engine, the container topology too)
	@# The container topology (e2e/topology) runs from the images `make images` builds; without a
	@# Docker Engine its tests skip, and this says so where nobody can miss it.
	@if docker info >/dev/null 2>&1; then $(MAKE) --no-print-directory images; \
	  command -v docker-compose >/dev/null || echo "!!! docker-compose not installed: the compose smoke test (e2e/compose) will be SKIPPED (make e2e requires it)"; \
	else echo "!!! no Docker Engine reachable: the container end-to-end tests (e2e/topology, e2e/compose) will be SKIPPED (make e2e requires one)"; fi
	@$(call gotest,)

.PHONY: test-unit
test-unit: ## unit tests only (no external servers), with the race detector
	@$(call gotest,-short)

# gotest runs go test in every module, goes on past a failing module, and
# ends with one summary line counting packages.
define gotest
set -o pipefail; log=$$(mktemp); failed=""; \
for m in $(MODULES); do echo "== go test $(1) $$m"; \
  (cd $$m && $(GO) test $(1) $(RACE) $(TEST_FLAGS) ./... 2>&1) | tee -a $$log || failed="$$failed $$m"; done; \
echo "packages: $$(grep -c '^ok ' $$log) passed, $$(grep -cE '^FAIL[[:space:]]' $$log) failed"; rm -f $$log; \
if [ -n "$$failed" ]; then echo "FAILED in:$$failed"; exit 1; fi
endef

.PHONY: lint
lint: $(BIN)/golangci-lint ## gofmt, go vet and golangci-lint (version pinned by the tool directive in tools/go.mod)
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needs to run on:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do echo "== go vet $$m"; (cd $$m && $(GO) vet ./...); done
	@set -e; for m in $(MODULES); do echo "== golangci-lint $$m"; (cd $$m && $(BIN)/golangci-lint run --config $(CURDIR)/.golangci.yml ./...); done
	@# A service never imports another (directly or through a dependency): what two services share lives in libs/.
	@set -e; for s in $(SERVICES); do echo "== imports of services/$$s"; \
	  bad=$$(cd services/$$s && $(GO) list -deps -f '{{.ImportPath}}' ./... | grep '^github.com/catga-go/catga/services/' | grep -v "^github.com/catga-go/catga/services/$$s\(/\|$$\)" || true); \
	  if [ -n "$$bad" ]; then echo "services/$$s imports another service (share code through libs/ instead):"; echo "$$bad"; exit 1; fi; done

.PHONY: tools
tools: $(BIN)/golangci-lint ## build the pinned developer tools into ./bin

$(BIN)/golangci-lint: tools/go.mod
	@mkdir -p $(BIN)
	@cd tools && GOWORK=off $(GO) build -o $(BIN)/golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint

GO_IMAGE ?= golang:1.26
IMAGE_PREFIX ?= catga
# svcimage names service $$s's image: CATGA_IMAGE_<SERVICE> when set (what the
# e2e topology runs, see e2e/topology/images.go), else $(IMAGE_PREFIX)/<service>.
svcimage = v=CATGA_IMAGE_$$(echo $$s | tr a-z- A-Z_); img=$${!v:-$(IMAGE_PREFIX)/$$s}

.PHONY: images
images: deps ## container images: the services FROM scratch (binaries built on the host when $(GO_IMAGE) cannot be pulled), then nats, redis and postgres without a registry
	@set -e; if docker image inspect $(GO_IMAGE) >/dev/null 2>&1 || docker pull -q $(GO_IMAGE) >/dev/null 2>&1; then \
	  for s in $(SERVICES); do $(svcimage); echo "== image $$img"; \
	    docker build -q --build-arg GO_IMAGE=$(GO_IMAGE) -f services/$$s/Dockerfile -t "$$img" .; done; \
	else echo "$(GO_IMAGE) cannot be pulled: building the binaries on the host, then the images' final stage"; \
	  ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	  for s in $(SERVICES); do $(svcimage); echo "== image $$img"; rm -rf "$$ctx"/*; \
	    mkdir -p "$$ctx/out/data" "$$ctx/out/etc/ssl/certs"; cp /etc/ssl/certs/ca-certificates.crt "$$ctx/out/etc/ssl/certs/"; \
	    (cd services/$$s && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o "$$ctx/out/service" .); \
	    sed -n '/^FROM scratch/,$$p' services/$$s/Dockerfile | sed 's|--from=build ||; s| /out/ | out/ |' > "$$ctx/Dockerfile"; \
	    docker build -q -t "$$img" "$$ctx"; done; fi
	@# nats-server FROM scratch (pinned in deploy/nats/go.mod); Redis and
	@# PostgreSQL from the host's Debian packages. Names: CATGA_IMAGE_{NATS,REDIS,POSTGRES}.
	@GO=$(GO) scripts/images-thirdparty.sh
	@$(MAKE) --no-print-directory image-otlpsink

.PHONY: image-otlpsink
image-otlpsink: ## the OTLP trace receiver the e2e topology runs (e2e/cmd/otlpsink), FROM scratch around a host-built binary; name: CATGA_IMAGE_OTLPSINK
	@set -e; img=$${CATGA_IMAGE_OTLPSINK:-$(IMAGE_PREFIX)/otlpsink}; echo "== image $$img"; \
	  ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	  (cd e2e && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o "$$ctx/otlpsink" ./cmd/otlpsink); \
	  cp e2e/cmd/otlpsink/Dockerfile "$$ctx/"; docker build -q -t "$$img" "$$ctx"

.PHONY: bench
bench: ## library micro-benchmarks
	@set -e; cd libs/catga && $(GO) test -run '^$$' -bench . -benchmem ./mediator/...

.PHONY: bench-transport
bench-transport: ## catga Send over NATS vs raw nats.go and a same-codec baseline; last line: p50_ratio p99_ratio throughput_ratio codec_p50_ratio codec_p99_ratio codec_throughput_ratio
	@cd bench && $(GO) run ./transport

.PHONY: bench-saga
bench-saga: deps ## 3-step sagas on the memory store and a real Redis Cluster; last line: redis_sagas_per_s redis_p99_ms round_trips_per_transition
	@cd bench && $(GO) run ./saga

.PHONY: bench-eventstore
bench-eventstore: deps ## appends with and without the outbox and outbox latency on a durable PostgreSQL; last line: appends_per_s appends_no_outbox_per_s outbox_p50_ms outbox_p99_ms durable
	@cd bench && $(GO) run ./eventstore

.PHONY: bench-report
bench-report: deps ## every scenario (mediator, transport, saga engine, orders end to end, scaling, recovery) into bench/results/report.md + SVG charts, summary into README.md (≤ 15 min); last line: goals_met goals_missed mediator_send_ns transport_p99_ratio orders_500_p99_ms scaling_efficiency_3 responder_failover_ms
	@cd bench && $(GO) build -o $(BIN)/bench-report ./report && $(BIN)/bench-report -out results -readme ../README.md

.PHONY: build
build: ## build every service, the dev launcher, the catga CLI and the demo into ./bin
	@mkdir -p $(BIN)
	@set -e; for s in $(SERVICES); do (cd services/$$s && CGO_ENABLED=0 $(GO) build -o $(BIN)/$$s .); done
	@cd libs/catga && CGO_ENABLED=0 $(GO) build -o $(BIN)/catga-dev ./cmd/catga-dev
	@cd libs/catga && CGO_ENABLED=0 $(GO) build -o $(BIN)/catga ./cmd/catga
	@cd examples/demo && CGO_ENABLED=0 $(GO) build -o $(BIN)/demo .

# The first service's gateway listens on GATEWAY, the next ones on the ports after it.
GATEWAY ?= 127.0.0.1:8080

.PHONY: run
run: build ## run the platform (embedded NATS, two peers of every service, a gateway a service), then the demo; Ctrl-C stops
	@$(BIN)/catga-dev -bin $(BIN) -peers 2 -gateway $(GATEWAY) -then $(BIN)/demo $(RUN_FLAGS)

.PHONY: e2e
e2e: deps images ## end-to-end tests: the platform as processes, and the production topology in containers (needs a Docker Engine; fails without one)
	@# CATGA_E2E=1: no Docker Engine or a missing image fails (under `make test` it skips, loudly).
	@# e2e-clean.sh sweeps containers and networks an interrupted run left behind.
	@# -v so each scenario's line of measurements shows; the whole log (testcontainers' chatter
	@# included) goes to bin/e2e.log, the terminal gets results, failures and measurements.
	@mkdir -p $(BIN); scripts/e2e-clean.sh; set -o pipefail; rc=0; \
	  (cd e2e && CATGA_E2E=1 $(GO) test $(TEST_FLAGS) -v -timeout 20m ./... 2>&1) | tee $(BIN)/e2e.log | \
	    grep --line-buffered -E '^(--- |ok |FAIL|panic:|scenario |!!!)|^ +[a-z_]+_test\.go:[0-9]+: ' || rc=$$?; \
	  scripts/e2e-clean.sh; echo "full log: bin/e2e.log"; exit $$rc

.PHONY: compose-smoke
compose-smoke: deps images ## deploy/compose.yaml up with the local images: one order COMPLETED, NATS/Redis/PostgreSQL permissions checked, torn down
	@cd e2e && CATGA_E2E=1 $(GO) test -count=1 -timeout 10m -v -run TestComposeSmoke ./compose/

.PHONY: new-service
new-service: ## generate services/$(NAME) from templates (AGGREGATE=shipment names its aggregate; default item), registered in go.work and deploy/compose.yaml
	@cd libs/catga && $(GO) run ./cmd/catga-new -root $(CURDIR) -name '$(NAME)' $(if $(AGGREGATE),-aggregate '$(AGGREGATE)')

.PHONY: tidy
# -e: modernc.org/sqlite's own tests pin a github.com/google/pprof version the
# module proxy no longer serves; it is never built, so tidy may skip it.
tidy: ## go mod tidy in every module
	@set -e; for m in $(MODULES); do echo "== tidy $$m"; (cd $$m && $(GO) mod tidy -e); done
