package wazero_test

import (
	"context"
	"testing"

	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/internal/engine/enginetest"
	"github.com/wasmflow/wasmflow/internal/engine/wazero"
)

// The engine conformance suite, on the compiler and on the interpreter
// (which makes init images).
func TestEngine(t *testing.T) {
	t.Parallel()
	for name, newEngine := range map[string]func(context.Context, *engine.Config) (*wazero.Engine, error){
		"compiler":    wazero.New,
		"interpreter": wazero.NewInterpreter,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			enginetest.Run(t, func(ctx context.Context, cfg *engine.Config) (engine.Engine, error) { return newEngine(ctx, cfg) })
		})
	}
}
