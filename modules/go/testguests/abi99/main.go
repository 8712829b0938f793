// Command abi99 is a test guest that does not use the SDK and declares ABI
// version 99: the host must refuse it at upload, saying so.
package main

//go:wasmexport wasmflow_abi_version
func abiVersion() int32 { return 99 }

//go:wasmexport wasmflow_describe
func describe() {}

//go:wasmexport wasmflow_run
func run() {}

func main() {}
