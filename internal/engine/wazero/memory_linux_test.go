package wazero

import (
	"bytes"
	"testing"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// A kept memory starts the next instance exactly as a fresh one would:
// the image, then zeros wherever it may grow, whatever the last instance
// wrote; and the budget and the module's close are honoured.
func TestKeptMemoryStartsAsTheImage(t *testing.T) {
	image := make([]byte, 4*engine.ResetPage)
	for i := range image {
		image[i] = byte(i*7 + 1)
	}
	kept := engine.NewBudget(1 << 20)
	im := mapImage(image, kept)
	if im == nil {
		t.Fatal("the image could not be mapped")
	}
	const maxBytes = 64 * engine.ResetPage
	m := im.allocate(maxBytes)
	buf := m.Reallocate(uint64(len(image)))
	if !bytes.Equal(buf, image) {
		t.Fatal("a new memory does not start as the image")
	}
	// Write some pages of the image, leave others, and grow and write.
	buf[0], buf[2*engine.ResetPage+5] = 0xEE, 0xEE
	buf = m.Reallocate(uint64(len(image)) + 3*engine.ResetPage) // wazero grows by 64 KiB pages: always whole kernel pages
	buf[len(image)+engine.ResetPage+1], buf[len(buf)-1] = 0xAA, 0xAA
	m.Free()
	if kept.Used() == 0 || im.kept.Len() != 1 {
		t.Fatalf("the released memory was not kept (%d bytes, %d kept)", kept.Used(), im.kept.Len())
	}
	again := im.allocate(maxBytes)
	if again != m || kept.Used() != 0 {
		t.Fatal("the next memory is not the kept one")
	}
	buf = again.Reallocate(uint64(len(image)))
	if !bytes.Equal(buf, image) {
		t.Fatal("the kept memory does not start as the image")
	}
	buf = again.Reallocate(uint64(len(image)) + 4*engine.ResetPage)
	if !bytes.Equal(buf[len(image):], make([]byte, 4*engine.ResetPage)) {
		t.Fatal("the kept memory does not grow into zeros")
	}

	// Over the budget, a released memory is unmapped.
	kept.SetLimit(1)
	again.Free()
	if im.kept.Len() != 0 || again.base != nil || kept.Used() != 0 {
		t.Fatal("a memory over the budget was kept")
	}

	// Closing the module unmaps what it keeps, and keeps nothing after.
	kept.SetLimit(1 << 20)
	a, b := im.allocate(maxBytes), im.allocate(maxBytes)
	a.Reallocate(uint64(len(image)))
	b.Reallocate(uint64(len(image)))
	a.Free()
	im.close()
	b.Free()
	if a.base != nil || b.base != nil || kept.Used() != 0 {
		t.Fatal("memories stayed mapped after the module closed")
	}
}
