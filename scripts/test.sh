#!/usr/bin/env bash
# Runs every wasmflow test. It installs what the tests need when it is
# missing (the PostgreSQL server and Chromium from Debian's packages), builds
# the guest modules with the project's own build, and runs the Go tests,
# which start their own private PostgreSQL servers (or use
# WASMFLOW_TEST_DATABASE_URL) and drive the web UI in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ -z "${WASMFLOW_TEST_DATABASE_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing the PostgreSQL server (Debian package postgresql)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# Rust guests build with Debian's rustc, the one with the wasm32-wasi
# standard library (a rustup toolchain on PATH has no wasm target).
if [ ! -x /usr/bin/rustc ] || [ ! -d "$(/usr/bin/rustc --print sysroot 2>/dev/null)/lib/rustlib/wasm32-wasi/lib" ]; then
  log "installing Debian's rustc with the wasm32-wasi standard library"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc libstd-rust-dev-wasm32 >/dev/null
fi

# The web UI tests drive Debian's headless Chromium (the tests fail, not
# skip, without it).
if ! command -v chromium >/dev/null 2>&1; then
  log "installing Debian's chromium for the web UI tests"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

log "go vet"
go vet ./...
# The web UI tests are a module of their own, so that chromedp stays out of
# the wasmflow module's requirements.
(cd tests/browser && go vet ./...)
# The guest side has its own modules: vetted for the host platform and for
# wasip1, which is what guests are built for.
for mod in abi sdk/go modules/go; do
  (cd "$mod" && go vet ./... && GOOS=wasip1 GOARCH=wasm go vet ./...)
done

log "building the guest modules (make modules rust-modules)"
make --no-print-directory modules rust-modules

log "checking that the wazero build needs no cgo (build, vet, and the conformance suite on wazero)"
CGO_ENABLED=0 go build ./...
CGO_ENABLED=0 go vet ./...
CGO_ENABLED=0 go test -count=1 "$@" -run 'TestConformance' ./host/

log "ABI and SDK unit tests (Go, and Rust natively with Debian's rustc)"
(cd abi && go test -count=1 "$@" ./...)
(cd sdk/go && go test -count=1 "$@" ./...)
rust_tests="$(mktemp -d)"
/usr/bin/rustc --edition 2021 --test -o "$rust_tests/wasmflow-sdk-tests" sdk/rust/src/lib.rs
"$rust_tests/wasmflow-sdk-tests" -q
rm -rf "$rust_tests"

log "go test"
go test -count=1 -timeout 30m "$@" ./...

log "the web UI tests in headless Chromium (the module in tests/browser)"
(cd tests/browser && go test -count=1 -timeout 30m "$@" ./...)

log "the conformance suite again with suspension snapshots off (every activation replays)"
WASMFLOW_TEST_SNAPSHOTS=off go test -count=1 "$@" -run 'TestConformance' ./host/
