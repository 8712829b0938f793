//go:build !cgo

package host_test

import (
	"context"
	"errors"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// testEngines are the engines every durability scenario runs on: wasmtime
// needs cgo.
var testEngines = []string{"wazero"}

func newWasmtime(context.Context) (engine.Engine, error) {
	return nil, errors.New("wasmtime needs cgo")
}
