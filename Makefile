# otelcol-audit: build, run and test the distribution.
#
#   make run       build both binaries (if needed) and start the collector
#                  with collector.yaml (set VIEWER_PASSWORD for the viewer)
#   make test      go vet, unit tests with the race detector, end-to-end tests
#   make build     _build/otelcol-audit and _build/auditctl
#   make validate  otelcol-audit validate on every shipped config
#   make bench     Go benchmarks and the load harness (not part of make test)

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

OCB_VERSION := v0.159.0
TOOLS       := $(CURDIR)/.tools
OCB         := $(TOOLS)/ocb-$(OCB_VERSION)
BUILD       := $(CURDIR)/_build
DIST_SRC    := $(BUILD)/dist
BIN         := $(BUILD)/otelcol-audit
AUDITCTL    := $(BUILD)/auditctl
CONFIG      ?= collector.yaml
# The distribution's version (builder-config.yaml's dist.version), which
# otelcol-audit --version prints; auditctl --version prints the same.
VERSION     := $(shell sed -n 's/^  version: *//p' builder-config.yaml)
GO_SOURCES  := $(shell find . -name '*.go' -not -path './_build/*' -not -path './.tools/*') go.mod go.sum

.PHONY: all build run test unit e2e vet validate bench clean fmt

all: build

$(OCB):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) go install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)
	mv $(TOOLS)/builder $(OCB)

# ocb generates the distribution's sources (and resolves its modules) only
# when the manifest changes; go build does the rest incrementally.
$(DIST_SRC)/main.go: builder-config.yaml go.mod | $(OCB)
	@mkdir -p $(BUILD)
	$(OCB) --config builder-config.yaml --skip-compilation
	@touch $@

$(BIN): $(DIST_SRC)/main.go $(GO_SOURCES)
	cd $(DIST_SRC) && go build -trimpath -o $(BIN) .

$(AUDITCTL): $(GO_SOURCES) builder-config.yaml
	go build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(AUDITCTL) ./cmd/auditctl

build: $(BIN) $(AUDITCTL)

run: $(BIN) $(AUDITCTL)
	@mkdir -p data
	$(BIN) --config $(CONFIG)

# otelcol-audit validate (upstream's command) prints nothing on success and
# the problem on failure; this target says "ok FILE" for each file that loads.
validate: $(BIN)
	@for c in collector.yaml examples/*.yaml examples/*/*.yaml; do \
		$(BIN) validate --config $$c || { echo "invalid $$c" >&2; exit 1; }; \
		echo "ok $$c"; \
	done

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	go vet -tags e2e ./e2e/...

unit:
	go test -race -count=1 ./...

# The end-to-end tests run the built binaries against real servers.
e2e: build
	OTELCOL_AUDIT_BIN=$(BIN) AUDITCTL_BIN=$(AUDITCTL) go test -race -count=1 -tags e2e -timeout 30m ./e2e/...

test: vet unit e2e validate

bench: build
	go test -run '^$$' -bench . -benchmem ./...
	bash bench/contrib/build.sh
	go run ./bench/harness -collector $(BIN) -contrib $(BUILD)/otelcol-contrib-bench

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BUILD)
