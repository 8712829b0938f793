//go:build cgo

package host

import (
	"context"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/internal/engine/wasmtime"
	"github.com/wasmflow/wasmflow/internal/executor"
)

func init() {
	engines["wasmtime"] = func(ctx context.Context, c *Config) (engine.Engine, error) {
		return wasmtime.New(ctx, &wasmtime.Config{
			CacheDir:         c.CacheDir,
			MemoryLimitPages: c.Limits.MemoryPages,
			HostModule:       abi.ImportModule,
			HostFuncs:        executor.HostFuncs(),
		})
	}
}
