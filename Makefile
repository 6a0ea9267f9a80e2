# The project's verbs. `make run` starts the whole stack; `make test` is the test command (CI runs it).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Installed once, and again whenever the lockfile changes.
DEPS := node_modules/.package-lock.json
TEST_FILES = $(shell find mesh services cli launcher gateway testing tests -name '*.test.ts' -not -path '*/node_modules/*' 2>/dev/null | sort)

.PHONY: help run test typecheck proto lint bench

help:
	@echo "make run        start every service, Postgres included, on this machine (Ctrl-C stops all)"
	@echo "make test       type-check and run every test (what CI runs)"
	@echo "make proto      lint the contracts and regenerate gen/ and gen/rag.binpb"
	@echo "make lint       buf lint + TypeScript type-check"
	@echo "make bench      print performance and quality figures (DATASET=<folder> for your own data)"

$(DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

run: $(DEPS)
	@node --import tsx launcher/main.ts

typecheck: $(DEPS)
	npx tsc -p tsconfig.json

test: typecheck
	LOG_LEVEL=$${LOG_LEVEL:-error} node --import tsx --test --test-timeout=900000 $(TEST_FILES)

proto: $(DEPS)
	bash scripts/gen-proto.sh

lint: $(DEPS)
	scripts/buf lint
	npx tsc -p tsconfig.json

# DATASET=<folder> evaluates the product on your own data (corpus.jsonl + queries.jsonl, as in shared/datasets).
bench: $(DEPS)
ifdef DATASET
	@DATASET="$(DATASET)" node --import tsx bench/rag.bench.ts
else
	@for f in bench/*.bench.ts; do node --import tsx "$$f" || exit 1; done
endif
