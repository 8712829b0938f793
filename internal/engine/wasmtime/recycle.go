//go:build cgo

package wasmtime

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// handle is an instance as the engine hands it out. Closing it recycles
// the instance or releases it; a closed handle reads and writes nothing,
// so that whoever held it cannot touch the instance's next user.
type handle struct {
	i      *instance
	closed bool
}

var _ engine.Instance = (*handle)(nil)

var errClosed = errors.New("wasmtime: the instance is closed")

func (h *handle) Call(ctx context.Context, name string, args ...uint64) ([]uint64, error) {
	if h.closed {
		return nil, errClosed
	}
	return h.i.call(ctx, name, args...)
}

func (h *handle) MemorySize() uint32 {
	if h.closed {
		return 0
	}
	return h.i.memorySize()
}

func (h *handle) Memory() engine.Memory { return &storeMemory{h: h} }

func (h *handle) Global(name string) (uint64, bool) {
	if h.closed {
		return 0, false
	}
	return h.i.getGlobal(name)
}

func (h *handle) SetGlobal(name string, bits uint64) bool {
	if h.closed {
		return false
	}
	return h.i.setGlobal(name, bits)
}

func (h *handle) Close(ctx context.Context) error {
	if h.closed {
		return nil
	}
	h.closed = true
	if r := h.i.mod.recycle; r == nil || h.i.stdout != nil || h.i.stderr != nil || !r.put(h.i) {
		h.i.close()
	}
	return nil
}

// keptPerModule bounds how many recycled instances a module keeps.
const keptPerModule = 8

// recycler keeps a module's closed instances for its next ones
// (engine.Recycler), put back as they were when new: their memory as the
// module's first instance's was right after instantiation, and their
// exported mutable globals as it had them. A new wasmtime instance maps
// its memory image copy-on-write: every page the guest writes is a page
// fault, which costs about as much as copying the page ten times over on
// the virtual machines we measured, and the store costs its own making and
// closing. A recycled instance's pages are its own already.
type recycler struct {
	mod     *module
	globals []string // the exported mutable globals
	once    sync.Once
	fresh   atomic.Pointer[freshState] // nil until learnt, or when it cannot be
	spares  *engine.Spares[*instance]
}

func newRecycler(m *module, globals []string) *recycler {
	return &recycler{mod: m, globals: globals, spares: engine.NewSpares(m.e.kept, keptPerModule, (*instance).close)}
}

// freshState is what a new instance of the module holds.
type freshState struct {
	memory  []byte
	globals []freshGlobal
}

type freshGlobal struct {
	name string
	bits uint64
}

// learn captures a new instance's state as what recycled instances are
// put back to, the first time it is called.
func (r *recycler) learn(i *instance) {
	r.once.Do(func() {
		if i.memory == nil {
			return // nothing to reset: not worth keeping
		}
		f := &freshState{memory: bytes.Clone(i.memory.UnsafeData(i.store))}
		if len(f.memory)%engine.ResetPage != 0 {
			return
		}
		for _, name := range r.globals {
			bits, ok := i.getGlobal(name)
			if !ok {
				return // a global the engine cannot put back: never recycle
			}
			f.globals = append(f.globals, freshGlobal{name: name, bits: bits})
		}
		r.fresh.Store(f)
	})
}

// take returns a recycled instance whose memory is size bytes (a new
// instance's when size is 0), or nil.
func (r *recycler) take(size int) *instance {
	f := r.fresh.Load()
	if f == nil {
		return nil
	}
	if size == 0 {
		size = len(f.memory)
	}
	i, _ := r.spares.Take(func(i *instance) bool { return int(i.memorySize()) == size })
	return i
}

// put resets i and keeps it, or reports that it may not be kept (see
// engine.Spares.Keep); memory smaller than a new instance's cannot be put
// back.
func (r *recycler) put(i *instance) bool {
	f := r.fresh.Load()
	if f == nil || int(i.memorySize()) < len(f.memory) {
		return false
	}
	return r.spares.Keep(i, int64(i.memorySize()), func() bool { return r.reset(i, f) })
}

// reset puts i's memory and globals back as f has them: the memory as a
// new instance's, then zeros where it grew.
func (r *recycler) reset(i *instance, f *freshState) bool {
	engine.ResetMemory(i.memory.UnsafeData(i.store), f.memory)
	for _, g := range f.globals {
		if !i.setGlobal(g.name, g.bits) {
			return false
		}
	}
	i.hostErr, i.ctx = nil, nil
	return true
}
