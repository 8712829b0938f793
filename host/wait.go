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
	m  map[string][]*watch
}

// A watch is closed at the next change of its run seen here.
type watch struct {
	done chan struct{}
	run  *store.Run // the run as the change left it, when known; set before done closes
}

// watch returns a watch of the run's next change, and the func that stops
// it.
func (w *watchers) watch(id string) (*watch, func()) {
	wt := &watch{done: make(chan struct{})}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string][]*watch)
	}
	w.m[id] = append(w.m[id], wt)
	return wt, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		ws := w.m[id]
		for i, x := range ws {
			if x == wt {
				w.m[id] = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		if len(w.m[id]) == 0 {
			delete(w.m, id)
		}
	}
}

// changed wakes the run's watchers. run is the run as the change left it,
// as its store wrote it, or nil when the watchers are to read it.
func (w *watchers) changed(id string, run *store.Run) {
	w.mu.Lock()
	ws := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	for _, wt := range ws {
		wt.run = run
		close(wt.done)
	}
}

// WaitRun waits until the run has finished or is waiting for a signal (not
// for its children), or until wait has passed or ctx ends, and returns the
// run as it is then.
func (h *Host) WaitRun(ctx context.Context, id string, wait time.Duration) (*Run, error) {
	return h.waitRun(ctx, id, wait, nil, nil, nil)
}

// waitRun is WaitRun for a caller that may have watched the run (wt, stop)
// since before it knew it as run: a foreground run's request, which need
// not read the run it has just made, nor the one its activation's last
// write returned. Any of them nil: read the run.
func (h *Host) waitRun(ctx context.Context, id string, wait time.Duration, wt *watch, stop func(), run *Run) (*Run, error) {
	deadline := time.Now().Add(wait)
	for {
		if wt == nil {
			wt, stop = h.watchers.watch(id)
		}
		if run == nil {
			var err error
			if run, err = h.Run(ctx, id); err != nil {
				stop()
				return run, err
			}
		}
		if settled(run) || !time.Now().Before(deadline) {
			stop()
			return run, nil
		}
		t := time.NewTimer(min(waitPoll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			stop()
			return run, nil
		case <-wt.done:
			if wt.run != nil && settled(wt.run) {
				t.Stop()
				stop()
				return wt.run, nil
			}
		case <-t.C:
		}
		// Read the run once watching again, so that no change between the
		// two is missed.
		t.Stop()
		stop()
		wt, stop, run = nil, nil, nil
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
