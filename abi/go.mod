module github.com/wasmflow/wasmflow/abi

go 1.24
