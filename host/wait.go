package host

import (
	"context"
	"sync"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// waitPoll bounds how long WaitRun goes without reading the run: changes
// made by other processes reach it no later than this.
const waitPoll = 200 * time.Millisecond

// watchers wakes callers of WaitRun when an activation of their run ends in
// this process, so that a foreground run answers as soon as it suspends or
// finishes rather than at the next poll.
type watchers struct {
	mu sync.Mutex
	m  map[string][]chan struct{}
}

// watch returns a channel closed at the next change of the run seen here.
func (w *watchers) watch(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string][]chan struct{})
	}
	w.m[id] = append(w.m[id], ch)
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		chs := w.m[id]
		for i, c := range chs {
			if c == ch {
				w.m[id] = append(chs[:i:i], chs[i+1:]...)
				break
			}
		}
		if len(w.m[id]) == 0 {
			delete(w.m, id)
		}
	}
}

// changed wakes the run's watchers.
func (w *watchers) changed(id string) {
	w.mu.Lock()
	chs := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	for _, ch := range chs {
		close(ch)
	}
}

// WaitRun waits until the run has finished or is waiting for a signal (not
// for its children), or until wait has passed or ctx ends, and returns the
// run as it is then.
func (h *Host) WaitRun(ctx context.Context, id string, wait time.Duration) (*Run, error) {
	deadline := time.Now().Add(wait)
	for {
		changed, stop := h.watchers.watch(id)
		run, err := h.Run(ctx, id)
		if err != nil || settled(run) || !time.Now().Before(deadline) {
			stop()
			return run, err
		}
		t := time.NewTimer(min(waitPoll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			stop()
			return run, nil
		case <-changed:
		case <-t.C:
		}
		t.Stop()
		stop()
	}
}

// settled reports whether a waiting caller has its answer: the run finished,
// or it waits for a signal, which may take any time. A run that waits for
// its children goes on by itself once they have ended, and one woken (its
// wake-up due: a signal came, the children ended) is about to: the caller
// waits on.
func settled(run *store.Run) bool {
	if run.Status.Terminal() {
		return true
	}
	return run.Status == store.StatusWaiting && run.ChildrenWake == 0 && (run.WakeAt == nil || run.WakeAt.After(time.Now()))
}
