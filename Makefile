# File targets, so a second `make run` or `make test` redoes only what is out of date.
# Stamps live in .stamps/ (ignored by git).

SHELL := /bin/bash
BIN := node_modules/.bin
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
PROTO := $(shell find proto -name '*.proto')
SRC := $(shell find src test bench -name '*.ts' 2>/dev/null)
STAMPS := .stamps

.PHONY: run test build generate lint check-generated bench clean unit integration

run: $(STAMPS)/build
	node --max-semi-space-size=64 dist/src/cli/cronplane.js serve

test: $(STAMPS)/build
	node scripts/run-tests.mjs

unit: $(STAMPS)/build
	node scripts/run-tests.mjs unit

integration: $(STAMPS)/build
	node scripts/run-tests.mjs integration

build: $(STAMPS)/build

generate: $(STAMPS)/generate

lint: $(STAMPS)/install
	$(BIN)/buf lint

# CI: fail when the committed src/gen differs from what buf generate writes.
check-generated: $(STAMPS)/install
	$(BIN)/buf generate
	git diff --exit-code --stat -- src/gen
	test -z "$$(git status --porcelain -- src/gen)"

bench: $(STAMPS)/build
	node dist/bench/run-all.js

$(STAMPS)/install: package.json package-lock.json
	npm ci --no-audit --no-fund
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/generate: $(STAMPS)/install buf.yaml buf.gen.yaml $(PROTO)
	$(BIN)/buf generate
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/build: $(STAMPS)/install $(STAMPS)/generate tsconfig.json $(SRC)
	$(BIN)/tsc -p tsconfig.json
	@mkdir -p $(STAMPS) && touch $@

clean:
	rm -rf dist $(STAMPS)
