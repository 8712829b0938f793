module github.com/wasmflow/wasmflow/sdk/go

go 1.24

require github.com/wasmflow/wasmflow/abi v0.0.0

replace github.com/wasmflow/wasmflow/abi => ../../abi
