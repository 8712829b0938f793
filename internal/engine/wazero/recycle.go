package wazero

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// handle is an instance as the engine hands it out. Closing it recycles
// the instance or closes it; a closed handle reads and writes nothing, so
// that whoever held it cannot touch the instance's next user.
type handle struct {
	i      *instance
	closed bool
}

var _ engine.Instance = (*handle)(nil)

var errClosed = errors.New("wazero: the instance is closed")

func (h *handle) Call(ctx context.Context, name string, args ...uint64) ([]uint64, error) {
	if h.closed {
		return nil, errClosed
	}
	return h.i.Call(ctx, name, args...)
}

func (h *handle) MemorySize() uint32 {
	if h.closed {
		return 0
	}
	return h.i.MemorySize()
}

func (h *handle) Memory() engine.Memory {
	if h.closed {
		return &memory{}
	}
	return h.i.Memory()
}

func (h *handle) Global(name string) (uint64, bool) {
	if h.closed {
		return 0, false
	}
	return h.i.Global(name)
}

func (h *handle) SetGlobal(name string, bits uint64) bool {
	if h.closed {
		return false
	}
	return h.i.SetGlobal(name, bits)
}

func (h *handle) Close(ctx context.Context) error {
	if h.closed {
		return nil
	}
	h.closed = true
	if r := h.i.recycle; r == nil || !r.put(h.i) {
		return h.i.Close(ctx)
	}
	return nil
}

// keptPerModule bounds how many recycled instances a module keeps.
const keptPerModule = 8

// recycler keeps a module's closed instances for its next ones
// (engine.Recycler), put back as they were when new: their memory as the
// module's first instance's was right after instantiation, and their
// exported mutable globals as it had them. A new wazero instance costs a
// Go guest's thousands of functions their instance records (about 250 KB
// and 7,700 allocations, BenchmarkActivation) and faults in again every
// page it writes; a recycled one costs neither.
type recycler struct {
	globals []string // the exported mutable globals
	once    sync.Once
	fresh   atomic.Pointer[freshState] // nil until learnt, or when it cannot be
	spares  *engine.Spares[*instance]
}

func newRecycler(kept *engine.Budget, globals []string) *recycler {
	return &recycler{globals: globals, spares: engine.NewSpares(kept, keptPerModule, func(i *instance) { i.Close(context.Background()) })}
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
		mem := i.mem.Bytes()
		if mem == nil || len(mem)%engine.ResetPage != 0 {
			return // nothing to reset, or a memory ResetMemory cannot put back
		}
		f := &freshState{memory: bytes.Clone(mem)}
		for _, name := range r.globals {
			g, ok := i.mod.ExportedGlobal(name).(api.MutableGlobal)
			if !ok || !isNumber(g.Type()) {
				return // a global the engine cannot put back: never recycle
			}
			f.globals = append(f.globals, freshGlobal{name: name, bits: g.Get()})
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
	i, _ := r.spares.Take(func(i *instance) bool { return int(i.MemorySize()) == size })
	return i
}

// put resets i and keeps it, or reports that it may not be kept (see
// engine.Spares.Keep): an instance wazero has closed (its guest exited, or
// its context ended during a call), or whose memory is smaller than a new
// instance's, cannot be put back.
func (r *recycler) put(i *instance) bool {
	f := r.fresh.Load()
	if f == nil || i.mod.IsClosed() || int(i.MemorySize()) < len(f.memory) {
		return false
	}
	return r.spares.Keep(i, int64(i.MemorySize()), func() bool { return r.reset(i, f) })
}

// reset puts i's memory and globals back as f has them: the memory as a
// new instance's, then zeros where it grew.
func (r *recycler) reset(i *instance, f *freshState) bool {
	engine.ResetMemory(i.mem.Bytes(), f.memory)
	for _, g := range f.globals {
		mg, ok := i.mod.ExportedGlobal(g.name).(api.MutableGlobal)
		if !ok {
			return false
		}
		mg.Set(g.bits)
	}
	return true
}
