package engine

import (
	"bytes"
	"sync"
	"sync/atomic"
)

// Budget bounds the bytes an engine keeps of released instances (or their
// memories) for the next instances of the same module: memory whose pages
// the kernel has already given costs a fraction of fresh memory to start
// from, since a page fault costs more than copying the page ten times
// over on the virtual machines we measured (RATIONALE.md, "What a
// restore costs"). The zero Budget keeps nothing.
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
	same, known := untouched(mem)
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

// Spares keeps one module's released things (instances, memories) for its
// next instances: at most max of them, within a Budget the engine's modules
// share. The most recently kept that fits is taken first; when max are
// kept, the oldest is released to make room.
type Spares[T any] struct {
	budget  *Budget
	max     int
	release func(T) // releases one for good

	mu     sync.Mutex
	kept   []spare[T] // oldest first
	closed bool
}

type spare[T any] struct {
	v    T
	size int64
}

// NewSpares returns an empty Spares that releases what it cannot keep
// with release.
func NewSpares[T any](budget *Budget, max int, release func(T)) *Spares[T] {
	return &Spares[T]{budget: budget, max: max, release: release}
}

// Take removes and returns the most recently kept spare that fits.
func (s *Spares[T]) Take(fits func(T) bool) (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := len(s.kept) - 1; k >= 0; k-- {
		if sp := s.kept[k]; fits(sp.v) {
			s.kept = append(s.kept[:k], s.kept[k+1:]...)
			s.budget.Give(sp.size)
			return sp.v, true
		}
	}
	var zero T
	return zero, false
}

// Keep puts v back as new (reset, which reports whether it could) and
// keeps it, counting size bytes against the budget, or reports that it may
// not be kept: the Spares is closed, the budget is spent, or reset failed.
// The caller then releases v itself. reset runs outside the lock.
func (s *Spares[T]) Keep(v T, size int64, reset func() bool) bool {
	if !s.open() || !s.budget.Take(size) {
		return false
	}
	if !reset() {
		s.budget.Give(size)
		return false
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.budget.Give(size)
		return false
	}
	var out []spare[T]
	if n := len(s.kept) + 1 - s.max; n > 0 {
		out = append(out, s.kept[:n]...)
		s.kept = append(s.kept[:0], s.kept[n:]...)
	}
	s.kept = append(s.kept, spare[T]{v, size})
	s.mu.Unlock()
	for _, sp := range out {
		s.budget.Give(sp.size)
		s.release(sp.v)
	}
	return true
}

// Len is how many spares are kept.
func (s *Spares[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.kept)
}

func (s *Spares[T]) open() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed
}

// Close releases what is kept; Keep refuses everything after it.
func (s *Spares[T]) Close() {
	s.mu.Lock()
	kept := s.kept
	s.kept, s.closed = nil, true
	s.mu.Unlock()
	for _, sp := range kept {
		s.budget.Give(sp.size)
		s.release(sp.v)
	}
}
