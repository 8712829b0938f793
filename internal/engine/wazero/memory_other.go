//go:build !linux

package wazero

import (
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// mappedImage maps memory images on Linux only; elsewhere they are copied.
type mappedImage struct{}

func mapImage([]byte, *engine.Budget) *mappedImage { return nil }

func (*mappedImage) allocate(uint64) experimental.LinearMemory { return nil }

func (*mappedImage) close() {}
