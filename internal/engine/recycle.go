package engine

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Recyclable is an engine's own instance, as an InstancePool keeps it.
type Recyclable interface {
	Instance
	// Reusable reports whether the instance may be put back and handed out
	// again: the engine has not closed it, and it writes to no output
	// stream.
	Reusable() bool
}

// KeptPerModule bounds how many recycled instances a module keeps.
const KeptPerModule = 8

// ErrInstanceClosed answers the calls on a closed instance handle.
var ErrInstanceClosed = errors.New("engine: the instance is closed")

// InstancePool is how an engine implements Recycler: it keeps a module's
// closed instances for its next ones, put back as they were when new:
// their memory as the module's first instance's was right after
// instantiation, and the exported mutable globals it was told of as that
// instance had them. Instances are handed out wrapped, so that a closed
// handle reaches nothing of the instance's next user.
type InstancePool struct {
	globals []string
	once    sync.Once
	fresh   atomic.Pointer[freshState] // nil until learnt, or when it cannot be
	spares  *Spares[Recyclable]
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

// NewInstancePool returns the pool of one module's instances, within the
// engine's budget kept, whose state beside memory is the exported mutable
// globals named globals (Recycler.Recycle).
func NewInstancePool(kept *Budget, globals []string) *InstancePool {
	return &InstancePool{globals: globals, spares: NewSpares(kept, KeptPerModule, func(i Recyclable) { i.Close(context.Background()) })}
}

// New returns a new instance as the pool hands instances out; the first
// one it is given is what recycled instances are put back to.
func (p *InstancePool) New(i Recyclable) Instance {
	p.once.Do(func() { p.learn(i) })
	return &pooled{i: i, pool: p}
}

func (p *InstancePool) learn(i Recyclable) {
	mem := i.Memory().Bytes()
	if mem == nil || len(mem)%ResetPage != 0 {
		return // nothing to reset, or a memory ResetMemory cannot put back
	}
	f := &freshState{memory: bytes.Clone(mem)}
	for _, name := range p.globals {
		bits, ok := i.Global(name)
		if !ok {
			return // a global the engine cannot put back: never recycle
		}
		f.globals = append(f.globals, freshGlobal{name: name, bits: bits})
	}
	p.fresh.Store(f)
}

// Instantiate is an engine's Module.Instantiate around newInstance, which
// makes a new instance: when the module recycles (pool is not nil) and cfg
// gives no output stream, a recycled instance if the pool has one, else a
// new one handed out by the pool; otherwise the new instance itself.
func Instantiate(pool *InstancePool, cfg *InstanceConfig, newInstance func() (Recyclable, error)) (Instance, error) {
	recycle := pool != nil && !cfg.HasOutput()
	if recycle {
		if h := pool.Take(0); h != nil {
			return h, nil
		}
	}
	i, err := newInstance()
	if err != nil {
		return nil, err
	}
	if recycle {
		return pool.New(i), nil
	}
	return i, nil
}

// Take returns a recycled instance whose memory is size bytes (a new
// instance's when size is 0), or nil.
func (p *InstancePool) Take(size int) Instance {
	f := p.fresh.Load()
	if f == nil {
		return nil
	}
	if size == 0 {
		size = len(f.memory)
	}
	i, ok := p.spares.Take(func(i Recyclable) bool { return int(i.MemorySize()) == size })
	if !ok {
		return nil
	}
	return &pooled{i: i, pool: p}
}

// Close releases what the pool keeps; it keeps nothing after.
func (p *InstancePool) Close() { p.spares.Close() }

// put resets i and keeps it, or reports that it may not be kept (see
// Spares.Keep); memory smaller than a new instance's cannot be put back.
func (p *InstancePool) put(i Recyclable) bool {
	f := p.fresh.Load()
	if f == nil || !i.Reusable() || int(i.MemorySize()) < len(f.memory) {
		return false
	}
	return p.spares.Keep(i, int64(i.MemorySize()), func() bool { return p.reset(i, f) })
}

// reset puts i's memory and globals back as f has them: the memory as a
// new instance's, then zeros where it grew.
func (p *InstancePool) reset(i Recyclable, f *freshState) bool {
	ResetMemory(i.Memory().Bytes(), f.memory)
	for _, g := range f.globals {
		if !i.SetGlobal(g.name, g.bits) {
			return false
		}
	}
	return true
}

// pooled is an instance as an InstancePool hands it out. Closing it puts
// the instance back or closes it; a closed handle reads and writes
// nothing, so that whoever held it cannot touch the instance's next user.
type pooled struct {
	i      Recyclable
	pool   *InstancePool
	closed bool
}

func (h *pooled) Call(ctx context.Context, name string, args ...uint64) ([]uint64, error) {
	if h.closed {
		return nil, ErrInstanceClosed
	}
	return h.i.Call(ctx, name, args...)
}

func (h *pooled) MemorySize() uint32 {
	if h.closed {
		return 0
	}
	return h.i.MemorySize()
}

func (h *pooled) Memory() Memory { return pooledMemory{h} }

func (h *pooled) Global(name string) (uint64, bool) {
	if h.closed {
		return 0, false
	}
	return h.i.Global(name)
}

func (h *pooled) SetGlobal(name string, bits uint64) bool {
	if h.closed {
		return false
	}
	return h.i.SetGlobal(name, bits)
}

func (h *pooled) Close(ctx context.Context) error {
	if h.closed {
		return nil
	}
	h.closed = true
	if !h.pool.put(h.i) {
		return h.i.Close(ctx)
	}
	return nil
}

// pooledMemory is a handle's memory: nothing once the handle is closed.
type pooledMemory struct{ h *pooled }

func (m pooledMemory) mem() Memory {
	if m.h.closed {
		return noMemory{}
	}
	return m.h.i.Memory()
}

func (m pooledMemory) Read(ptr, n uint32) ([]byte, bool) { return m.mem().Read(ptr, n) }
func (m pooledMemory) Write(ptr uint32, b []byte) bool   { return m.mem().Write(ptr, b) }
func (m pooledMemory) Size() uint32                      { return m.mem().Size() }
func (m pooledMemory) Grow(pages uint32) bool            { return m.mem().Grow(pages) }
func (m pooledMemory) Bytes() []byte                     { return m.mem().Bytes() }

// noMemory is the memory of a closed handle.
type noMemory struct{}

func (noMemory) Read(_, n uint32) ([]byte, bool) { return nil, n == 0 }
func (noMemory) Write(_ uint32, b []byte) bool   { return len(b) == 0 }
func (noMemory) Size() uint32                    { return 0 }
func (noMemory) Grow(pages uint32) bool          { return pages == 0 }
func (noMemory) Bytes() []byte                   { return nil }
