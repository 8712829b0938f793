//go:build !cgo

package host

import (
	"context"
	"errors"

	"github.com/wasmflow/wasmflow/internal/engine"
)

func init() {
	engines["wasmtime"] = func(context.Context, *Config) (engine.Engine, error) {
		return nil, errors.New("this wasmflow was built without cgo; wasmtime needs it")
	}
}
