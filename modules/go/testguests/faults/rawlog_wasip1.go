//go:build wasip1

package main

// rawLog is the host's log function, imported directly so that badptr can
// pass it a pointer the SDK never would.
//
//go:wasmimport wasmflow log
func rawLog(level, ptr, n uint32) uint32
