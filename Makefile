# pgrunbook — build, test and rehearse.
#
#   make build   build bin/pgrunbook
#   make test    run every test (starts its own throwaway PostgreSQL)
#   make test-matrix  the PostgreSQL-facing tests on each major, 13 to 18
#                (MAJORS="13 18" for some; installs them with .ci/pg-major)
#   make lint    gofmt and go vet
#   make demo    stage incidents on a throwaway PostgreSQL and run the playbooks
#   make bench   Go benchmarks, then the bench and its watch part
#   make golden  regenerate golden files after an intended output change
#                (the command line's are in internal/cli/testdata/script)
#   make completion  write bash, zsh and fish completion scripts to
#                bin/completion

GO       ?= go
BIN      := bin/pgrunbook
PKGS     := ./...
# Most tests wait on a server, a child process or a terminal rather than
# compute, so four packages and four parallel tests each at once keep two
# cores busy: make test takes about 1m40s here instead of 2m30s.
TESTFLAGS ?= -race -count=1 -timeout 15m -p 4 -parallel 4

.PHONY: build test test-matrix lint demo bench golden completion fuzz clean

# A static binary (no cgo): it starts about 2 ms sooner, with no dynamic
# loader and no NSS lookups, and copies to any Linux host as it is.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/pgrunbook

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

test: lint
	$(GO) test $(TESTFLAGS) $(PKGS)

MAJORS ?= 13 14 15 16 17 18
test-matrix:
	GO=$(GO) bash .ci/test-matrix $(MAJORS)

demo:
	$(GO) run ./internal/demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./internal/bench
	$(GO) run ./internal/bench -only watch

# Goldens: the command line's testscript files, the reports of the
# recorded transcripts and the committed schema. None of them needs
# PostgreSQL (pgtest starts a server only for a test that asks for one);
# -update rewrites them in place.
golden:
	$(GO) test ./internal/cli/clitest -run 'TestScripts' -count=1 -update
	$(GO) test ./internal/report -run 'Golden' -update
	$(GO) test ./internal/schema -run 'CommittedSchema' -update

completion: build
	mkdir -p bin/completion
	$(BIN) completion bash > bin/completion/pgrunbook.bash
	$(BIN) completion zsh > bin/completion/_pgrunbook
	$(BIN) completion fish > bin/completion/pgrunbook.fish

fuzz:
	$(GO) test ./internal/playbook -run '^$$' -fuzz FuzzParse -fuzztime $${FUZZTIME:-30s}
	$(GO) test ./internal/playbook -run '^$$' -fuzz FuzzExpression -fuzztime $${FUZZTIME:-30s}
	$(GO) test ./internal/transcript -run '^$$' -fuzz FuzzRead -fuzztime $${FUZZTIME:-30s}

clean:
	rm -rf bin
