//go:build !cgo

package testmodules

import "errors"

// wat2wasm would compile WebAssembly text to a binary module: without cgo
// there is no compiler, so tests that need a wat guest fail with this error.
func wat2wasm(src string) ([]byte, error) {
	return nil, errors.New("wat guests need cgo (wasmtime's wat2wasm)")
}
