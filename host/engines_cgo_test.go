//go:build cgo

package host_test

import (
	"context"
	"github.com/wasmflow/wasmflow/host"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/internal/engine/wasmtime"
	"github.com/wasmflow/wasmflow/internal/executor"
)

// testEngines are the engines every durability scenario runs on.
var testEngines = []string{"wazero", "wasmtime"}

// The guest written in WebAssembly text is compiled with wasmtime's
// wat2wasm, so it joins the conformance suite in builds with cgo.
func init() { guestLangs = append(guestLangs, "wat") }

func newWasmtime(ctx context.Context) (engine.Engine, error) {
	return wasmtime.New(ctx, &wasmtime.Config{
		MemoryLimitPages: host.Limits{}.WithDefaults().MemoryPages,
		HostModule:       abi.ImportModule,
		HostFuncs:        executor.HostFuncs(),
	})
}
