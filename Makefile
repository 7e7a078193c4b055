# The two commands a newcomer needs are `make run` and `make test`;
# README.md explains both.

GO ?= go

.PHONY: build run test bench fuzz vet

build:
	$(GO) build -o bin/cloak .

run: build
	./bin/cloak serve

test:
	bash scripts/test.sh

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./crypto/

# fuzz runs each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)
