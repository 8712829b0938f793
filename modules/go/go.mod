module github.com/wasmflow/wasmflow/modules/go

go 1.24

require (
	github.com/wasmflow/wasmflow/abi v0.0.0
	github.com/wasmflow/wasmflow/sdk/go v0.0.0
)

replace (
	github.com/wasmflow/wasmflow/abi => ../../abi
	github.com/wasmflow/wasmflow/sdk/go => ../../sdk/go
)
