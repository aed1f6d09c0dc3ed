# The two commands of README.md: `make demo` runs the main job on the built-in
# default, `make test` runs every test. Both install what they need first.
GO      ?= go
VERSION ?= 0.1.0-dev
COMMIT  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X tend/internal/cli.version=$(VERSION) -X tend/internal/cli.commit=$(COMMIT)

.PHONY: build demo test deps clean
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/tend ./cmd/tend

deps:
	scripts/deps

# The main job on the built-in default: boot a local lab with the hosts of
# the example infrastructure, apply it, then show that a second plan has
# nothing to change.
demo: deps build
	bin/tend lab up --lab demo --from examples/foi --env production
	bin/tend apply production --repo examples/foi --lab demo
	bin/tend plan production --repo examples/foi --lab demo
	@echo
	@echo "Try: bin/tend lab ssh --lab demo app curl -s localhost"
	@echo "Stop it with: bin/tend lab down --lab demo"

# Every test, with real components required: a test that needs the lab or a
# server fails instead of skipping when it cannot have it.
test: deps
	TEND_REQUIRE_REAL=1 $(GO) test -count=1 -timeout 40m ./...

clean:
	rm -rf bin
