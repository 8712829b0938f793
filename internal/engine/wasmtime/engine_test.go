//go:build cgo

package wasmtime_test

import (
	"context"
	"testing"

	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/internal/engine/enginetest"
	"github.com/wasmflow/wasmflow/internal/engine/wasmtime"
)

// The engine conformance suite.
func TestConformance(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(ctx context.Context, cfg *engine.Config) (engine.Engine, error) { return wasmtime.New(ctx, cfg) })
}
