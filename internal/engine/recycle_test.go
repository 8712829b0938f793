package engine

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// fakeInstance is a Recyclable whose memory is a slice and whose one
// global is g.
type fakeInstance struct {
	mem      []byte
	g        uint64
	closed   bool
	reusable bool
}

func (f *fakeInstance) Call(context.Context, string, ...uint64) ([]uint64, error) { return nil, nil }
func (f *fakeInstance) MemorySize() uint32                                        { return uint32(len(f.mem)) }
func (f *fakeInstance) Memory() Memory                                            { return (*fakeMemory)(f) }
func (f *fakeInstance) Global(name string) (uint64, bool)                         { return f.g, name == "g" }
func (f *fakeInstance) SetGlobal(name string, bits uint64) bool {
	if name != "g" {
		return false
	}
	f.g = bits
	return true
}
func (f *fakeInstance) Close(context.Context) error { f.closed = true; return nil }
func (f *fakeInstance) Reusable() bool              { return f.reusable && !f.closed }

type fakeMemory fakeInstance

func (m *fakeMemory) Read(ptr, n uint32) ([]byte, bool) {
	if uint64(ptr)+uint64(n) > uint64(len(m.mem)) {
		return nil, false
	}
	return bytes.Clone(m.mem[ptr : ptr+n]), true
}
func (m *fakeMemory) Write(ptr uint32, b []byte) bool {
	if uint64(ptr)+uint64(len(b)) > uint64(len(m.mem)) {
		return false
	}
	copy(m.mem[ptr:], b)
	return true
}
func (m *fakeMemory) Size() uint32 { return uint32(len(m.mem)) }
func (m *fakeMemory) Grow(pages uint32) bool {
	m.mem = append(m.mem, make([]byte, int(pages)*65536)...)
	return true
}
func (m *fakeMemory) Bytes() []byte { return m.mem }

var fakeImage = append(bytes.Repeat([]byte("image..."), 1024), make([]byte, 4*ResetPage)...) // 6 pages

func newFake() *fakeInstance {
	return &fakeInstance{mem: bytes.Clone(fakeImage), g: 5, reusable: true}
}

// The pool keeps within its budget what it may put back, hands it out
// exactly as new, hands a grown one out only for its size, and releases
// what it keeps when closed; a closed handle reaches nothing. (The engine
// conformance suite checks the same through each engine's own instances.)
func TestInstancePool(t *testing.T) {
	ctx := context.Background()
	kept := NewBudget(1 << 20)
	pool := NewInstancePool(kept, []string{"g"})
	core := newFake()
	first := pool.New(core)
	fresh := func(h Instance, size int) {
		t.Helper()
		if got := h.Memory().Bytes(); !bytes.Equal(got[:len(fakeImage)], fakeImage) || !bytes.Equal(got[len(fakeImage):], make([]byte, size-len(fakeImage))) || len(got) != size {
			t.Fatal("the memory is not the image, then zeros")
		}
		if g, _ := h.Global("g"); g != 5 {
			t.Fatalf("g = %d, want 5", g)
		}
	}
	first.Memory().Write(3, []byte("dirty"))
	first.Memory().Write(uint32(len(fakeImage))-1, []byte{1})
	first.SetGlobal("g", 7)
	first.Close(ctx)
	if core.closed || kept.Used() != int64(len(fakeImage)) {
		t.Fatalf("the instance was not kept (closed %v, %d bytes kept)", core.closed, kept.Used())
	}
	again := pool.Take(0)
	if again == nil || kept.Used() != 0 {
		t.Fatal("the kept instance was not handed out")
	}
	fresh(again, len(fakeImage))
	if _, err := first.Call(ctx, "f"); !errors.Is(err, ErrInstanceClosed) {
		t.Fatalf("a closed handle's call: %v", err)
	}
	if first.Memory().Write(3, []byte("x")) || first.SetGlobal("g", 1) || first.MemorySize() != 0 || first.Memory().Bytes() != nil {
		t.Fatal("a closed handle reached the recycled instance")
	}
	fresh(again, len(fakeImage))

	// Grown: kept for a caller that asks for its size only.
	again.Memory().Grow(1)
	again.Memory().Write(uint32(len(fakeImage))+9, []byte("grown"))
	again.Close(ctx)
	if pool.Take(0) != nil {
		t.Fatal("a grown instance was handed out as a new one")
	}
	grown := pool.Take(len(fakeImage) + 65536)
	if grown == nil {
		t.Fatal("the grown instance was not kept")
	}
	fresh(grown, len(fakeImage)+65536)

	// Over the budget, or not reusable: closed, not kept.
	kept.SetLimit(1)
	grown.Close(ctx)
	if !core.closed || kept.Used() != 0 {
		t.Fatal("an instance over the budget was kept")
	}
	kept.SetLimit(1 << 20)
	other := newFake()
	other.reusable = false
	pool.New(other).Close(ctx)
	if !other.closed || kept.Used() != 0 {
		t.Fatal("an instance that is not reusable was kept")
	}

	// Closing the pool releases what it keeps, and keeps nothing after.
	a, b := newFake(), newFake()
	ha, hb := pool.New(a), pool.New(b)
	ha.Close(ctx)
	pool.Close()
	hb.Close(ctx)
	if !a.closed || !b.closed || kept.Used() != 0 {
		t.Fatal("instances stayed kept after the pool closed")
	}
}

// A first instance whose global cannot be read makes a pool that never
// recycles.
func TestInstancePoolWithoutItsGlobalsNeverRecycles(t *testing.T) {
	ctx := context.Background()
	pool := NewInstancePool(NewBudget(1<<20), []string{"g", "missing"})
	f := newFake()
	pool.New(f).Close(ctx)
	if !f.closed || pool.Take(0) != nil {
		t.Fatal("a pool that cannot put every global back recycled")
	}
}
