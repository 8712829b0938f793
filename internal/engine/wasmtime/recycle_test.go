//go:build cgo

package wasmtime

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/wasmflow/wasmflow/internal/engine"
)

const recycledWAT = `(module
  (memory (export "memory") 2)
  (global $g (export "g") (mut i32) (i32.const 5))
  (global (export "c") i32 (i32.const 9))
  (data (i32.const 16) "image")
  (func (export "dirty")
    (i32.store8 (i32.const 16) (i32.const 88))
    (i32.store (i32.const 70000) (i32.const -1))
    (global.set $g (i32.const 7)))
  (func (export "grow") (drop (memory.grow (i32.const 1)))))`

// recycledModule compiles recycledWAT on an engine of its own, both closed
// when the test ends.
func recycledModule(t *testing.T) (*Engine, engine.Module) {
	t.Helper()
	ctx := context.Background()
	e, err := New(ctx, &Config{MemoryLimitPages: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	return e, compileWAT(t, e, recycledWAT)
}

// A recycled instance starts exactly as a new one would: the memory and the
// exported mutable globals are put back, whatever the last user did; an
// instance whose memory grew is handed out only to a caller that asks for
// its size; one over the budget is not recycled; and a closed handle
// reaches nothing.
func TestRecycledInstanceStartsAsANewOne(t *testing.T) {
	ctx := context.Background()
	e, m := recycledModule(t)
	m.(engine.Recycler).Recycle([]string{"g"})
	instantiate := func() *handle {
		t.Helper()
		inst, err := m.Instantiate(ctx, &engine.InstanceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return inst.(*handle)
	}
	fresh := func(h *handle) {
		t.Helper()
		if h.MemorySize() != 2*65536 {
			t.Fatalf("memory size %d, want %d", h.MemorySize(), 2*65536)
		}
		if b, _ := h.Memory().Read(16, 5); string(b) != "image" {
			t.Fatalf("memory at 16: %q", b)
		}
		if b, _ := h.Memory().Read(70000, 4); !bytes.Equal(b, make([]byte, 4)) {
			t.Fatalf("memory at 70000: %x", b)
		}
		if g, _ := h.Global("g"); g != 5 {
			t.Fatalf("global g = %d, want 5", g)
		}
	}

	first := instantiate()
	fresh(first)
	if _, err := first.Call(ctx, "dirty"); err != nil {
		t.Fatal(err)
	}
	core := first.i
	first.Close(ctx)
	if e.kept.Used() == 0 {
		t.Fatal("the closed instance was not kept")
	}
	again := instantiate()
	if again.i != core {
		t.Fatal("the next instance is not the recycled one")
	}
	fresh(again)
	if e.kept.Used() != 0 {
		t.Fatalf("%d bytes still counted as kept", e.kept.Used())
	}
	// The old handle reaches nothing of its successor's.
	if _, err := first.Call(ctx, "dirty"); !errors.Is(err, errClosed) {
		t.Fatalf("a call on a closed handle: %v", err)
	}
	if first.Memory().Write(16, []byte("x")) || first.SetGlobal("g", 1) || first.MemorySize() != 0 {
		t.Fatal("a closed handle wrote to the recycled instance")
	}
	fresh(again)

	// An instance whose memory grew is kept for a caller that asks for
	// that size, not handed out as a new one.
	if _, err := again.Call(ctx, "grow"); err != nil {
		t.Fatal(err)
	}
	if !again.Memory().Write(2*65536+100, []byte("grown")) {
		t.Fatal("the grown page cannot be written")
	}
	again.Close(ctx)
	if e.kept.Used() != 3*65536 {
		t.Fatalf("%d bytes kept, want the grown instance's %d", e.kept.Used(), 3*65536)
	}
	third := instantiate()
	if third.i == core {
		t.Fatal("an instance whose memory grew was handed out as a new one")
	}
	fresh(third)
	if m.(engine.Recycler).Grown(4) != nil {
		t.Fatal("an instance of another size was handed out")
	}
	grown := m.(engine.Recycler).Grown(3).(*handle)
	if grown.i != core || grown.MemorySize() != 3*65536 {
		t.Fatalf("Grown(3) gave memory of %d bytes", grown.MemorySize())
	}
	if b, _ := grown.Memory().Read(2*65536+100, 5); !bytes.Equal(b, make([]byte, 5)) {
		t.Fatalf("the grown page holds %q, want zeros", b)
	}
	if b, _ := grown.Memory().Read(16, 5); string(b) != "image" {
		t.Fatalf("memory at 16: %q", b)
	}
	grown.Close(ctx)

	// Over the budget, nothing is kept.
	e.kept.SetLimit(1)
	before := e.kept.Used()
	third.Close(ctx)
	if !third.i.closed || e.kept.Used() != before {
		t.Fatal("an instance over the budget was kept")
	}
	e.kept.SetLimit(engine.KeptMemoryLimit)

	// Closing the module releases what it keeps, and keeps nothing after.
	a, b := instantiate(), instantiate()
	a.Close(ctx)
	m.Close(ctx)
	b.Close(ctx)
	if e.kept.Used() != 0 || a.i.closed != true || b.i.closed != true {
		t.Fatal("instances stayed kept after the module closed")
	}
}

// A module that was not asked to recycle gives a new instance each time.
func TestInstancesAreNotRecycledUnlessAsked(t *testing.T) {
	ctx := context.Background()
	_, m := recycledModule(t)
	first, err := m.Instantiate(ctx, &engine.InstanceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	core := first.(*handle).i
	first.Close(ctx)
	next, err := m.Instantiate(ctx, &engine.InstanceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close(ctx)
	if next.(*handle).i == core || !core.closed {
		t.Fatal("an instance was recycled unasked")
	}
}
