package scheduler

import (
	"cmp"
	"container/heap"
	"slices"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// timers is the scheduler's heap of upcoming wake-ups: hints that a claim
// at a given time may find a run due. It holds what this process's own
// activations suspended until, and what the store listed at refreshes. A
// hint may be stale (the run was claimed elsewhere, signalled, cancelled):
// the claim it causes then finds nothing, at the cost of one query. The
// store stays the truth, and polling the fallback.
//
// A listed wake-up this process did not set is held grace later than it
// is due, so that the process that suspended the run, which knows of it
// without a query, claims it first; the others are a backup for a process
// that is busy or gone.
//
// It is bounded: a refresh keeps the earliest max hints, and truncated
// records that later wake-ups may exist that it does not hold.
type timers struct {
	h         wakeupHeap
	max       int
	grace     time.Duration
	truncated bool
}

type wakeupHeap []store.Wakeup

func (h wakeupHeap) Len() int           { return len(h) }
func (h wakeupHeap) Less(i, j int) bool { return h[i].At.Before(h[j].At) }
func (h wakeupHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *wakeupHeap) Push(x any)        { *h = append(*h, x.(store.Wakeup)) }
func (h *wakeupHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}

// push adds a hint. Past max, the latest hint is dropped at the next
// refresh, or now when the heap has grown to twice max.
func (t *timers) push(w store.Wakeup) {
	w.At = w.At.UTC().Round(0)
	heap.Push(&t.h, w)
	if len(t.h) >= 2*t.max {
		t.merge(nil, false)
	}
}

// next returns the earliest hint.
func (t *timers) next() (time.Time, bool) {
	if len(t.h) == 0 {
		return time.Time{}, false
	}
	return t.h[0].At, true
}

// dropDue removes the hints due at or before now: a claim at now has taken
// every run that was due and free to take.
func (t *timers) dropDue(now time.Time) {
	for len(t.h) > 0 && !t.h[0].At.After(now) {
		heap.Pop(&t.h)
	}
}

// low reports whether the heap should be refilled from the store: it was
// cut at its bound and has since been drained below half of it.
func (t *timers) low() bool { return t.truncated && 2*len(t.h) < t.max }

// merge adds listed wake-ups (a refresh; full says the store had more) to
// the hints, grace later unless this process set them, and keeps the
// earliest max. A sorted slice is a valid heap.
func (t *timers) merge(listed []*store.Wakeup, full bool) {
	type key struct {
		id string
		at int64
	}
	held := make(map[key]bool, len(t.h))
	for _, w := range t.h {
		held[key{w.RunID, w.At.UnixMicro()}] = true
	}
	all := slices.Grow(t.h, len(listed))
	for _, w := range listed {
		at := w.At.UTC().Add(t.grace)
		if held[key{w.RunID, w.At.UnixMicro()}] || held[key{w.RunID, at.UnixMicro()}] {
			continue // set here, or listed before
		}
		all = append(all, store.Wakeup{RunID: w.RunID, At: at})
	}
	slices.SortFunc(all, func(a, b store.Wakeup) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.RunID, b.RunID))
	})
	all = slices.CompactFunc(all, func(a, b store.Wakeup) bool { return a.RunID == b.RunID && a.At.Equal(b.At) })
	t.truncated = full
	if len(all) > t.max {
		all, t.truncated = all[:t.max], true
	}
	t.h = all
}
