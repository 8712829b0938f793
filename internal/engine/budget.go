package engine

import (
	"bytes"
	"sync/atomic"
)

// Budget bounds the bytes an engine keeps of released instances (or their
// memories) for the next instances of the same module: memory whose pages
// the kernel has already given costs a fraction of fresh memory to start
// from, since a page fault costs more than copying the page ten times
// over on the virtual machines we measured (RATIONALE.md, "Kept
// memories"). The zero Budget keeps nothing.
type Budget struct {
	used  atomic.Int64
	limit atomic.Int64
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget {
	b := &Budget{}
	b.limit.Store(limit)
	return b
}

// SetLimit changes the limit; what is kept already stays.
func (b *Budget) SetLimit(limit int64) { b.limit.Store(limit) }

// Used is the bytes taken and not given back.
func (b *Budget) Used() int64 { return b.used.Load() }

// KeptMemoryLimit is what an engine keeps at most: a few instances' worth
// of a Go guest's 5 MiB for each worker.
const KeptMemoryLimit = 128 << 20

// Take reserves n bytes of the budget, or reports that they do not fit.
func (b *Budget) Take(n int64) bool {
	if b.used.Add(n) > b.limit.Load() {
		b.used.Add(-n)
		return false
	}
	return true
}

// Give returns n bytes taken before.
func (b *Budget) Give(n int64) { b.used.Add(-n) }

// ResetPage is the granularity of ResetMemory: the kernel's page.
const ResetPage = 4096

var zeroPage [ResetPage]byte

// ResetMemory makes mem what a new instance starts from: image, then
// zeros. It writes only the pages that differ, so that a page never
// written since the memory was mapped is left to the kernel (shared with
// the image's file, or zero) rather than copied into; and where the
// kernel tells which pages are still as they were mapped (Linux's
// pagemap), it compares only the others, which for a guest's short
// activation is a fraction of its memory. len(image) must be a multiple
// of ResetPage and at most len(mem); mem must be the start of a mapping
// whose untouched pages read as image and then zeros.
func ResetMemory(mem, image []byte) {
	same, known := untouched(mem, nil)
	for off := 0; off < len(mem); off += ResetPage {
		if known && same[off/ResetPage] {
			continue
		}
		page := mem[off:min(off+ResetPage, len(mem))]
		want := zeroPage[:len(page)]
		if off < len(image) {
			want = image[off : off+ResetPage]
		}
		if !bytes.Equal(page, want) {
			copy(page, want)
		}
	}
}
