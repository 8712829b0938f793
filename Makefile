# wasmflow build. `make dev` runs the host with the example workflows;
# `make test` runs every test (it installs and starts what the tests need).

GO       ?= go
BUILD    := modules/build
GOWASM   := GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath

# Go guests: every directory under modules/go with a main package is built
# to modules/build/go/NAME.wasm. Test guests, in modules/go/testguests, are
# built to modules/build/test/NAME.wasm, but for versions, which is built in
# four versions (below).
GO_GUESTS      := $(patsubst modules/go/%/main.go,%,$(wildcard modules/go/*/main.go))
GO_TESTGUESTS  := $(filter-out versions,$(patsubst modules/go/testguests/%/main.go,%,$(wildcard modules/go/testguests/*/main.go)))
VERSIONS       := 1 2 3 4
GO_SOURCES     := $(shell find abi sdk/go modules/go -name '*.go' -o -name go.mod)

.PHONY: all build modules rust-modules rust-toolchain dev test chaos bench clean

all: build modules

build:
	$(GO) build -o bin/wasmflow ./cmd/wasmflow

modules: $(GO_GUESTS:%=$(BUILD)/go/%.wasm) $(GO_TESTGUESTS:%=$(BUILD)/test/%.wasm) $(BUILD)/test/steps-reordered.wasm \
	$(VERSIONS:%=$(BUILD)/test/versions-v%.wasm)

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

# The versions test guest's code in versions 1 to 4 (patch markers; see
# modules/TESTGUESTS.md), from one source.
$(BUILD)/test/versions-v%.wasm: $(GO_SOURCES)
	@mkdir -p $(dir $@)
	cd modules/go && $(GOWASM) -ldflags "-X main.version=$*" -o ../../$@ ./testguests/versions

# Rust guests: every modules/rust/NAME/src/lib.rs is a cdylib built to
# modules/build/rust/NAME.wasm against the SDK in sdk/rust, built as an rlib.
# Plain rustc, no cargo: the SDK has no dependencies (cargo users have the
# workspace in modules/rust). The build takes the first rustc it finds with a
# WASI standard library: Debian's (/usr/bin/rustc with libstd-rust-dev-wasm32,
# target wasm32-wasi), then the rustc on PATH (rustup with `rustup target add
# wasm32-wasip1`; wasm32-wasi before Rust 1.78). Set RUSTC_WASM and
# RUST_TARGET to choose.
RUST_FOUND   := $(shell for rc in /usr/bin/rustc $$(command -v rustc 2>/dev/null); do \
                  sr=$$($$rc --print sysroot 2>/dev/null) || continue; \
                  for tg in wasm32-wasi wasm32-wasip1; do \
                    if [ -d "$$sr/lib/rustlib/$$tg/lib" ]; then echo "$$rc $$tg"; exit 0; fi; \
                  done; \
                done)
RUSTC_WASM   ?= $(or $(word 1,$(RUST_FOUND)),/usr/bin/rustc)
RUST_TARGET  ?= $(or $(word 2,$(RUST_FOUND)),wasm32-wasi)
RUSTFLAGS_WASM := --edition 2021 --target $(RUST_TARGET) -C opt-level=s -C strip=debuginfo
RUST_GUESTS  := $(patsubst modules/rust/%/src/lib.rs,%,$(wildcard modules/rust/*/src/lib.rs))
RUST_SDK     := $(BUILD)/rust/libwasmflow.rlib
# Rust test guests (modules/TESTGUESTS.md): every
# modules/rust/testguests/NAME/src/lib.rs, built to modules/build/rust/NAME.wasm
# like the examples, plus steps-reordered.wasm and versions-v1 to -v4.wasm.
RUST_TESTGUESTS := $(filter-out versions,$(patsubst modules/rust/testguests/%/src/lib.rs,%,$(wildcard modules/rust/testguests/*/src/lib.rs)))

rust-modules: $(RUST_GUESTS:%=$(BUILD)/rust/%.wasm) $(RUST_TESTGUESTS:%=$(BUILD)/rust/%.wasm) $(BUILD)/rust/steps-reordered.wasm \
	$(VERSIONS:%=$(BUILD)/rust/versions-v%.wasm)

rust-toolchain:
	@test -x $(RUSTC_WASM) || { echo "rust-modules: $(RUSTC_WASM) not found; install it with: apt-get update && apt-get install -y rustc libstd-rust-dev-wasm32" >&2; exit 1; }
	@test -d "$$($(RUSTC_WASM) --print sysroot)/lib/rustlib/$(RUST_TARGET)/lib" || { echo "rust-modules: no rustc with a WASI standard library found ($(RUSTC_WASM) has no $(RUST_TARGET)); install Debian's with: apt-get update && apt-get install -y rustc libstd-rust-dev-wasm32 (or: rustup target add wasm32-wasip1)" >&2; exit 1; }

$(RUST_SDK): $(wildcard sdk/rust/src/*.rs) | rust-toolchain
	@mkdir -p $(dir $@)
	$(RUSTC_WASM) $(RUSTFLAGS_WASM) --crate-type rlib --crate-name wasmflow -o $@ sdk/rust/src/lib.rs

$(BUILD)/rust/%.wasm: modules/rust/%/src/*.rs $(RUST_SDK) | rust-toolchain
	$(RUSTC_WASM) $(RUSTFLAGS_WASM) --crate-type cdylib --crate-name $(subst -,_,$*) --extern wasmflow=$(RUST_SDK) -o $@ modules/rust/$*/src/lib.rs

$(BUILD)/rust/%.wasm: modules/rust/testguests/%/src/*.rs $(RUST_SDK) | rust-toolchain
	$(RUSTC_WASM) $(RUSTFLAGS_WASM) --crate-type cdylib --crate-name $(subst -,_,$*) --extern wasmflow=$(RUST_SDK) -o $@ modules/rust/testguests/$*/src/lib.rs

# The same workflow as the Rust steps.wasm with its steps in another order
# (the crate's feature "reordered").
$(BUILD)/rust/steps-reordered.wasm: modules/rust/testguests/steps/src/*.rs $(RUST_SDK) | rust-toolchain
	$(RUSTC_WASM) $(RUSTFLAGS_WASM) --cfg 'feature="reordered"' --crate-type cdylib --crate-name steps_reordered --extern wasmflow=$(RUST_SDK) -o $@ modules/rust/testguests/steps/src/lib.rs

# The Rust versions test guest's code in versions 1 to 4 (the crate's
# features v2, v3 and v4; none is version 1).
$(BUILD)/rust/versions-v%.wasm: modules/rust/testguests/versions/src/*.rs $(RUST_SDK) | rust-toolchain
	$(RUSTC_WASM) $(RUSTFLAGS_WASM) --cfg 'feature="v$*"' --crate-type cdylib --crate-name versions_v$* --extern wasmflow=$(RUST_SDK) -o $@ modules/rust/testguests/versions/src/lib.rs

dev: modules
	$(GO) run ./cmd/wasmflow dev

test:
	./scripts/test.sh

# The long chaos test: three servers on one Postgres for 11 minutes, a
# server killed with SIGKILL (or stopped with SIGSTOP) every 2 s or so and
# Postgres restarted every minute. `make test` runs it for 75 s. Set
# WASMFLOW_CHAOS_DURATION, WASMFLOW_CHAOS_KILL_EVERY and
# WASMFLOW_CHAOS_PG_EVERY to change it.
CHAOS_DURATION   ?= 11m
CHAOS_KILL_EVERY ?= 2s
CHAOS_PG_EVERY   ?= 60s

chaos: modules
	WASMFLOW_CHAOS_DURATION=$(CHAOS_DURATION) WASMFLOW_CHAOS_KILL_EVERY=$(CHAOS_KILL_EVERY) WASMFLOW_CHAOS_PG_EVERY=$(CHAOS_PG_EVERY) \
		$(GO) test -count=1 -timeout 40m -run '^TestChaos$$' -v ./tests/

bench: modules
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BUILD) bin
