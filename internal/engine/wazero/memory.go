package wazero

import (
	"context"

	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// imageAllocator starts every memory of a module's instances with the
// module's memory image: mapped copy-on-write where the platform allows
// (memory_linux.go), so that an instance pays only for the pages it
// touches, else copied.
type imageAllocator struct {
	image  []byte
	mapped *mappedImage // nil: copy
}

func newImageAllocator(image []byte, kept *engine.Budget) *imageAllocator {
	return &imageAllocator{image: image, mapped: mapImage(image, kept)}
}

func (a *imageAllocator) context(ctx context.Context) context.Context {
	return experimental.WithMemoryAllocator(ctx, a)
}

// Allocate implements experimental.MemoryAllocator.
func (a *imageAllocator) Allocate(cap, max uint64) experimental.LinearMemory {
	if a.mapped != nil {
		if m := a.mapped.allocate(max); m != nil {
			return m
		}
	}
	return &copiedMemory{image: a.image}
}

func (a *imageAllocator) close() {
	if a.mapped != nil {
		a.mapped.close()
	}
}

// copiedMemory is a Go slice that starts as a copy of the image.
type copiedMemory struct {
	image []byte
	buf   []byte
}

func (m *copiedMemory) Reallocate(size uint64) []byte {
	if m.buf == nil {
		m.buf = make([]byte, max(size, uint64(len(m.image))))
		copy(m.buf, m.image)
	}
	if size > uint64(len(m.buf)) {
		m.buf = append(m.buf, make([]byte, size-uint64(len(m.buf)))...)
	}
	return m.buf[:size]
}

func (m *copiedMemory) Free() { m.buf = nil }
