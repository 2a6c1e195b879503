# Kairos Identity — build, test and run everything from the repository root.
# Every module of go.work is listed here: `go test ./...` at a workspace root
# with no module of its own tests nothing.
MODULES  := pkg migrations services/auth-api services/notifier deploy tools
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOTEST   ?= go test -race -count=1 -timeout 30m
IMAGE_REPO ?= kairos

.PHONY: all build test test-go test-rules test-faults dev load images lint vuln tidy clean help

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/auth-api and bin/notifier
	@mkdir -p bin
	cd services/auth-api && CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o ../../bin/auth-api ./cmd/auth-api
	cd services/notifier && CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o ../../bin/notifier ./cmd/notifier

test: ## run every test of every module (needs PostgreSQL on 127.0.0.1:5432)
	@rc=0; $(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) test-go || rc=1; $(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) test-rules || rc=1; exit $$rc

# Every module runs even when one fails, so one failure never hides another's
# result; the target fails at the end, naming the modules that failed.
test-go:
	@failed=""; for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GOTEST) ./...) || failed="$$failed $$m"; done; \
	if [ -n "$$failed" ]; then echo "test-go: failed:$$failed"; exit 1; fi

test-rules: ## promtool checks and unit tests of the alert rules
	@if [ -x deploy/observability-test.sh ]; then deploy/observability-test.sh; fi

test-faults: build ## the fault matrix: real processes, injected outages, nothing lost
	cd tools && go test -v -count=1 -timeout 60m -tags faults ./faults/...

dev: ## run the whole system locally (Ctrl-C stops it); DEVFLAGS=-events prints every event
	@mkdir -p bin
	cd tools && go build -o ../bin/devstack ./devstack
	bin/devstack $(DEVFLAGS)

load: build ## load runs; writes docs/BENCHMARKS.md figures
	cd tools && go run ./loadtest $(LOADFLAGS)

images: ## build both container images (needs docker or podman)
	@engine=$$(command -v docker || command -v podman); \
	if [ -z "$$engine" ] || ! $$engine info >/dev/null 2>&1; then echo "images: no running container engine (docker or podman)"; exit 1; fi; \
	for s in auth-api notifier; do $$engine build -f services/$$s/Dockerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE_REPO)/$$s:$(VERSION) . || exit 1; done

lint: ## gofmt and go vet over every module
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); exit 1; }
	@set -e; for m in $(MODULES); do (cd $$m && go vet ./...); done

vuln: ## govulncheck every module against an offline database
	tools/vulncheck.sh $(MODULES)

tidy: ## go mod tidy in every module
	@set -e; for m in $(MODULES); do (cd $$m && go mod tidy); done

clean:
	rm -rf bin
