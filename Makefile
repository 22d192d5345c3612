.DEFAULT_GOAL := help
GO ?= go

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## run the worker on embedded defaults (in-memory Redis, SQLite, console mail)
	$(GO) run ./cmd/worker

test: ## run every test with -race against a throwaway Redis and PostgreSQL (TEST_REDIS_URL/TEST_DATABASE_URL to name others)
	./scripts/test.sh

test-short: ## same, without the race detector
	./scripts/test.sh ./...

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

bench: ## measure the delivery rate against the README's Performance targets on real Redis/PostgreSQL (ARGS="--quick", "--json", see --help)
	$(GO) run ./cmd/bench $(ARGS)

bench-go: ## Go micro-benchmarks of the delivery path: body+signature, request log entry, payload decoding
	$(GO) test -run '^$$' -bench . -benchmem ./webhook ./requestlog ./tasks

faults: ## fault tests with real processes: SIGKILL/SIGTERM, Redis restart, PostgreSQL stop, hostile receivers (minutes)
	./scripts/test.sh -tags faults -v -timeout 30m ./faults/

build: ## build bin/worker, bin/enqueue, bin/receiver and bin/bench
	$(GO) build -o bin/ ./cmd/...

.PHONY: help run test test-short lint bench bench-go faults build
