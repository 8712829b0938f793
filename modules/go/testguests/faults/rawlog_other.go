//go:build !wasip1

package main

func rawLog(level, ptr, n uint32) uint32 {
	panic("faults: only runs inside a wasmflow host")
}
