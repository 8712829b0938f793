//go:build cgo

package main_test

// engines are the engines a build with cgo offers.
var engines = []string{"wazero", "wasmtime"}
