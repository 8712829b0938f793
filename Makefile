# wasmflow build. `make dev` runs the host with the example workflows;
# `make test` runs every test (it installs and starts what the tests need).

GO       ?= go
BUILD    := modules/build
GOWASM   := GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath

# Go guests: every directory under modules/go with a main package is built
# to modules/build/go/NAME.wasm. Test guests, in modules/go/testguests, are
# built to modules/build/test/NAME.wasm.
GO_GUESTS      := $(patsubst modules/go/%/main.go,%,$(wildcard modules/go/*/main.go))
GO_TESTGUESTS  := $(patsubst modules/go/testguests/%/main.go,%,$(wildcard modules/go/testguests/*/main.go))
GO_SOURCES     := $(shell find abi sdk/go modules/go -name '*.go' -o -name go.mod)

.PHONY: all build modules dev test bench clean

all: build modules

build:
	$(GO) build -o bin/wasmflow ./cmd/wasmflow

modules: $(GO_GUESTS:%=$(BUILD)/go/%.wasm) $(GO_TESTGUESTS:%=$(BUILD)/test/%.wasm) $(BUILD)/test/steps-reordered.wasm

$(BUILD)/go/%.wasm: $(GO_SOURCES)
	@mkdir -p $(dir $@)
	cd modules/go && $(GOWASM) -o ../../$@ ./$*

$(BUILD)/test/%.wasm: $(GO_SOURCES)
	@mkdir -p $(dir $@)
	cd modules/go && $(GOWASM) -o ../../$@ ./testguests/$*

# The same workflow as steps.wasm with its steps in another order: used to
# prove that replaying a run with changed code fails with nondeterminism.
$(BUILD)/test/steps-reordered.wasm: $(GO_SOURCES)
	@mkdir -p $(dir $@)
	cd modules/go && $(GOWASM) -ldflags "-X main.order=reordered" -o ../../$@ ./testguests/steps

dev: modules
	$(GO) run ./cmd/wasmflow dev

test:
	./scripts/test.sh

bench: modules
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BUILD) bin
