//go:build cgo

package testmodules

import "github.com/bytecodealliance/wasmtime-go/v39"

// wat2wasm compiles WebAssembly text to a binary module.
func wat2wasm(src string) ([]byte, error) { return wasmtime.Wat2Wasm(src) }
