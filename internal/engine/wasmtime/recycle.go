//go:build cgo

package wasmtime

import (
	"bytes"
	"context"
	"errors"
	"sync"

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
	mod  *module
	kept *engine.Budget

	once  sync.Once
	fresh *freshState // nil until learnt, or when it cannot be

	mu     sync.Mutex
	spares []*instance // most recently recycled last
	closed bool
}

// freshState is what a new instance of the module holds.
type freshState struct {
	memory  []byte
	globals []freshGlobal
}

type freshGlobal struct {
	name string
	kind engine.ValueType
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
		for _, ex := range r.mod.m.Exports() {
			gt := ex.Type().GlobalType()
			if gt == nil || !gt.Mutable() {
				continue
			}
			kind, ok := fromValKind(gt.Content().Kind())
			if !ok {
				return // a global the engine cannot put back: never recycle
			}
			bits, _ := i.getGlobal(ex.Name())
			f.globals = append(f.globals, freshGlobal{name: ex.Name(), kind: kind, bits: bits})
		}
		r.fresh = f
	})
}

// take returns a recycled instance whose memory is size bytes, or nil.
func (r *recycler) take(size int) *instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := len(r.spares) - 1; k >= 0; k-- {
		if i := r.spares[k]; int(i.memorySize()) == size {
			r.spares = append(r.spares[:k], r.spares[k+1:]...)
			r.kept.Give(int64(size))
			return i
		}
	}
	return nil
}

// put resets i and keeps it, or reports that it may not be kept: the
// module is closed, the engine's budget is spent, or a reset cannot put i
// back. A module keeps at most keptPerModule instances: the oldest goes
// to make room. The reset runs outside the lock.
func (r *recycler) put(i *instance) bool {
	f := r.fresh
	size := int64(i.memorySize())
	if f == nil || size < int64(len(f.memory)) || !r.open() || !r.kept.Take(size) {
		return false
	}
	if !r.reset(i, f) {
		r.kept.Give(size)
		return false
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.kept.Give(size)
		return false
	}
	var out *instance
	if len(r.spares) >= keptPerModule {
		out = r.spares[0]
		r.spares = append(r.spares[:0], r.spares[1:]...)
	}
	r.spares = append(r.spares, i)
	r.mu.Unlock()
	if out != nil {
		r.kept.Give(int64(out.memorySize()))
		out.close()
	}
	return true
}

func (r *recycler) open() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.closed
}

// reset puts i's memory and globals back as f has them: the memory as a
// new instance's, then zeros where it grew.
func (r *recycler) reset(i *instance, f *freshState) bool {
	engine.ResetMemory(i.memory.UnsafeData(i.store), f.memory)
	for _, g := range f.globals {
		ex := i.inst.GetExport(i.store, g.name)
		if ex == nil || ex.Global() == nil || ex.Global().Set(i.store, toVal(g.kind, g.bits)) != nil {
			return false
		}
	}
	i.hostErr, i.ctx = nil, nil
	return true
}

// close releases the kept instances; instances closed after it are
// released, not kept.
func (r *recycler) close() {
	r.mu.Lock()
	spares := r.spares
	r.spares, r.closed = nil, true
	r.mu.Unlock()
	for _, i := range spares {
		r.kept.Give(int64(i.memorySize()))
		i.close()
	}
}

// freshSize is a new instance's memory size; -1 before one was learnt.
func (r *recycler) freshSize() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.spares) == 0 {
		return -1 // nothing to take: spares exist only once learnt
	}
	return len(r.fresh.memory)
}
