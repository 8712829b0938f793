package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// Group commit bounds: a batch holds at most MaxBatch writes, and under
// load (the last batch held more than one) the next batch waits at most
// Linger for more before it is written. A write that arrives alone is
// written at once.
const (
	MaxBatch = 64
	Linger   = 100 * time.Microsecond
)

// flushTimeout bounds one batch: callers stop waiting at their own
// deadlines, and the batch must not wait longer than any of them.
const flushTimeout = 30 * time.Second

// ErrClosed answers the writes made after the store was closed.
var ErrClosed = errors.New("store closed")

// Writer is a store's single writer: it gathers the RunApply calls made
// while a batch is being written, and writes them together with flush
// (the store's RunApplyBatch). Two writes to one run never share a batch:
// the later waits for the next, so that each is fenced against what the
// earlier left.
//
// The writer has no goroutine of its own. A caller that finds no batch
// being written writes one itself, its own write first (a write that
// arrives alone costs no hand-off between goroutines); the others queue,
// and when a batch is written the caller whose write is next in the queue
// is woken to write the next one, with every write queued meanwhile
// (leader-based group commit, as RocksDB's write groups or MySQL's binlog
// group commit do it).
type Writer struct {
	flush func(ctx context.Context, writes []*store.RunApplyParams) []store.RunApplyOutcome

	mu      sync.Mutex
	queue   []*request // waiting for a batch, in arrival order
	leading bool       // a caller is writing a batch, or has been woken to
	loaded  bool       // the last batch held more than one write
	closed  bool
	idle    *sync.Cond // signalled when leading becomes false
}

// A request is one caller's write. Its fields but wake are the writer's,
// under mu.
type request struct {
	ctx  context.Context
	p    *store.RunApplyParams
	wake chan struct{} // buffered: the writer never blocks on a caller
	out  *store.RunApplyOutcome
	lead bool // this caller is to write the next batch
	sent bool // in a batch being written
}

// NewWriter returns a writer; Close stops it.
func NewWriter(flush func(ctx context.Context, writes []*store.RunApplyParams) []store.RunApplyOutcome) *Writer {
	w := &Writer{flush: flush}
	w.idle = sync.NewCond(&w.mu)
	return w
}

// Apply writes p in the next batch and returns its own outcome. When ctx
// ends first, the write may still commit; it is numbered, so that sending
// it again is safe.
func (w *Writer) Apply(ctx context.Context, p *store.RunApplyParams) (*store.RunApplyResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &request{ctx: ctx, p: p, wake: make(chan struct{}, 1)}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, ErrClosed
	}
	w.queue = append(w.queue, r)
	if !w.leading {
		w.leading = true
		r.lead = true
	}
	for {
		if r.out != nil {
			w.mu.Unlock()
			return r.out.Result, r.out.Err
		}
		if r.lead {
			r.lead = false
			w.mu.Unlock()
			w.write()
			w.mu.Lock()
			continue
		}
		w.mu.Unlock()
		select {
		case <-r.wake:
			w.mu.Lock()
		case <-ctx.Done():
			w.mu.Lock()
			switch {
			case r.out != nil || r.lead:
				// Answered, or to write the next batch (which answers
				// it): the loop returns the answer.
				continue
			case !r.sent:
				w.remove(r)
			}
			// Taken out of the queue, or in a batch being written, whose
			// answer no one will read.
			w.mu.Unlock()
			return nil, ctx.Err()
		}
	}
}

// Close stops the writer once the writes queued have been written; the
// writes made after it fail with ErrClosed.
func (w *Writer) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for w.leading {
		w.idle.Wait()
	}
}

// write writes one batch: the writes queued, up to MaxBatch, one per run,
// after lingering for more when the last batch held more than one. It then
// wakes the caller whose write is first in the queue to write the next.
func (w *Writer) write() {
	w.mu.Lock()
	if w.loaded && len(w.queue) < MaxBatch {
		w.mu.Unlock()
		time.Sleep(Linger)
		w.mu.Lock()
	}
	var batch []*request
	var writes []*store.RunApplyParams
	runs := make(map[string]bool)
	rest := w.queue[:0]
	for _, r := range w.queue {
		switch {
		case r.ctx.Err() != nil:
			w.answer(r, store.RunApplyOutcome{Err: r.ctx.Err()})
		case len(batch) == MaxBatch || runs[r.p.RunID]:
			rest = append(rest, r)
		default:
			runs[r.p.RunID] = true
			r.sent = true
			batch, writes = append(batch, r), append(writes, r.p)
		}
	}
	clear(w.queue[len(rest):])
	w.queue = rest
	w.loaded = len(batch) > 1
	w.mu.Unlock()

	outs, panicked := w.flushAll(writes)

	w.mu.Lock()
	for i, r := range batch {
		w.answer(r, outs[i])
	}
	if len(w.queue) == 0 {
		w.leading = false
		w.idle.Broadcast()
	} else {
		next := w.queue[0]
		next.lead = true
		wake(next)
	}
	w.mu.Unlock()
	if panicked != nil {
		panic(panicked)
	}
}

// flushAll writes the batch. A flush that panics fails every write of it,
// and its panic is returned for the caller to raise again once the batch's
// callers are answered and the next batch has its writer: the engines turn
// a host function's panic into a trap, and the writer must not stay
// taken by a caller gone.
func (w *Writer) flushAll(writes []*store.RunApplyParams) (outs []store.RunApplyOutcome, panicked any) {
	if len(writes) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	defer func() {
		if panicked = recover(); panicked != nil {
			err := fmt.Errorf("store: writing a batch panicked: %v", panicked)
			outs = make([]store.RunApplyOutcome, len(writes))
			for i := range outs {
				outs[i].Err = err
			}
		}
	}()
	return w.flush(ctx, writes), nil
}

// answer gives r its outcome and wakes its caller; under mu.
func (w *Writer) answer(r *request, out store.RunApplyOutcome) {
	r.out = &out
	wake(r)
}

// wake wakes r's caller, if it is not awake already.
func wake(r *request) {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// remove takes r out of the queue; under mu.
func (w *Writer) remove(r *request) {
	for i, x := range w.queue {
		if x == r {
			w.queue = append(w.queue[:i], w.queue[i+1:]...)
			return
		}
	}
}
