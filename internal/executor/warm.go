package executor

import (
	"container/list"
	"context"
	"io"
	"sync"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// StartWarm: the instance the run parked in, kept in this process's
// memory, resumed with wasmflow_resume without any restore.
const StartWarm = "warm"

// warmInstance is a parked instance kept in memory for the run's next
// activation, if it runs in this process before anything else changed the
// run.
type warmInstance struct {
	runID      string
	digest     string
	attempt    int
	activation int // the activation that parked it
	inst       engine.Instance
	host       snapshotHost
	clock      int64 // the guest's monotonic clock when it parked
	bytes      int64
	out        *outlets
}

// outlets are an instance's output streams: they write to the activation
// that runs the instance now, so that a warm instance's output goes to the
// activation that resumes it.
type outlets struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
}

func (o *outlets) set(stdout, stderr io.Writer) {
	o.mu.Lock()
	o.stdout, o.stderr = stdout, stderr
	o.mu.Unlock()
}

type outlet struct {
	o      *outlets
	stderr bool
}

func (w outlet) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	dst := w.o.stdout
	if w.stderr {
		dst = w.o.stderr
	}
	w.o.mu.Unlock()
	return dst.Write(p)
}

// warmCache keeps parked instances, least recently parked first out, within
// a count and a byte budget (the instances' memory sizes).
type warmCache struct {
	mu       sync.Mutex
	maxCount int
	maxBytes int64
	bytes    int64
	order    *list.List // of *warmInstance, most recent at the front
	byRun    map[string]*list.Element
}

func newWarmCache(maxCount int, maxBytes int64) *warmCache {
	return &warmCache{maxCount: maxCount, maxBytes: maxBytes, order: list.New(), byRun: map[string]*list.Element{}}
}

// put keeps w, closing whatever it replaces or pushes out. It reports
// false, keeping nothing, when w alone is over the budget.
func (c *warmCache) put(w *warmInstance) bool {
	if c.maxCount <= 0 || w.bytes > c.maxBytes {
		return false
	}
	var evicted []*warmInstance
	c.mu.Lock()
	if el, ok := c.byRun[w.runID]; ok {
		evicted = append(evicted, c.remove(el))
	}
	c.byRun[w.runID] = c.order.PushFront(w)
	c.bytes += w.bytes
	for c.order.Len() > c.maxCount || c.bytes > c.maxBytes {
		evicted = append(evicted, c.remove(c.order.Back()))
	}
	c.mu.Unlock()
	for _, e := range evicted {
		e.inst.Close(context.Background())
	}
	return true
}

// take removes and returns the run's warm instance, or nil.
func (c *warmCache) take(runID string) *warmInstance {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byRun[runID]
	if !ok {
		return nil
	}
	return c.remove(el)
}

func (c *warmCache) remove(el *list.Element) *warmInstance {
	w := c.order.Remove(el).(*warmInstance)
	delete(c.byRun, w.runID)
	c.bytes -= w.bytes
	return w
}

// len is how many instances are kept.
func (c *warmCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// close closes every kept instance.
func (c *warmCache) close() {
	c.mu.Lock()
	var all []*warmInstance
	for el := c.order.Front(); el != nil; el = el.Next() {
		all = append(all, el.Value.(*warmInstance))
	}
	c.order.Init()
	c.byRun, c.bytes = map[string]*list.Element{}, 0
	c.mu.Unlock()
	for _, w := range all {
		w.inst.Close(context.Background())
	}
}
