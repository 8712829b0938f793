package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// Group commit bounds: a batch holds at most MaxBatch writes, and under
// load (the last batch held more than one) the writer waits at most
// Linger for more before it flushes. A write that arrives alone is
// flushed at once.
const (
	MaxBatch = 64
	Linger   = 100 * time.Microsecond
)

// flushTimeout bounds one batch: callers stop waiting at their own
// deadlines, and the writer must not wait longer than any of them.
const flushTimeout = 30 * time.Second

// ErrClosed answers the writes made after the store was closed.
var ErrClosed = errors.New("store closed")

// Writer is a store's single writer: it gathers the RunApply calls made
// while a batch is being written, and writes them together with flush
// (the store's RunApplyBatch). Two writes to one run never share a batch:
// the later waits for the next, so that each is fenced against what the
// earlier left.
type Writer struct {
	flush func(ctx context.Context, writes []*store.RunApplyParams) []store.RunApplyOutcome
	reqs  chan *request
	quit  chan struct{}
	done  chan struct{}
}

type request struct {
	ctx context.Context
	p   *store.RunApplyParams
	out chan store.RunApplyOutcome // buffered: the writer never blocks on a caller gone
}

// NewWriter starts a writer; Close stops it.
func NewWriter(flush func(ctx context.Context, writes []*store.RunApplyParams) []store.RunApplyOutcome) *Writer {
	w := &Writer{flush: flush, reqs: make(chan *request), quit: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// Apply writes p in the next batch and returns its own outcome. When ctx
// ends first, the write may still commit; it is numbered, so that sending
// it again is safe.
func (w *Writer) Apply(ctx context.Context, p *store.RunApplyParams) (*store.RunApplyResult, error) {
	r := &request{ctx: ctx, p: p, out: make(chan store.RunApplyOutcome, 1)}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-w.quit:
		return nil, ErrClosed
	}
	select {
	case o := <-r.out:
		return o.Result, o.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops the writer after the batch it is writing.
func (w *Writer) Close() {
	close(w.quit)
	<-w.done
}

func (w *Writer) loop() {
	defer close(w.done)
	var carry []*request // writes to runs that the last batch held already
	loaded := false
	for {
		batch := carry
		carry = nil
		if len(batch) == 0 {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			case <-w.quit:
				return
			}
		}
		batch = w.gather(batch, loaded)
		runs := make(map[string]bool, len(batch))
		var writes []*store.RunApplyParams
		var members []*request
		for _, r := range batch {
			switch {
			case r.ctx.Err() != nil:
				r.out <- store.RunApplyOutcome{Err: r.ctx.Err()}
			case runs[r.p.RunID]:
				carry = append(carry, r)
			default:
				runs[r.p.RunID] = true
				writes, members = append(writes, r.p), append(members, r)
			}
		}
		if len(writes) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
			outs := w.flush(ctx, writes)
			cancel()
			for i, r := range members {
				r.out <- outs[i]
			}
		}
		loaded = len(batch) > 1
	}
}

// gather adds to batch the writes waiting, up to MaxBatch, lingering for
// more when loaded.
func (w *Writer) gather(batch []*request, loaded bool) []*request {
	var linger <-chan time.Time
	for len(batch) < MaxBatch {
		select {
		case r := <-w.reqs:
			batch = append(batch, r)
			continue
		default:
		}
		if !loaded {
			return batch
		}
		if linger == nil {
			t := time.NewTimer(Linger)
			defer t.Stop()
			linger = t.C
		}
		select {
		case r := <-w.reqs:
			batch = append(batch, r)
		case <-linger:
			return batch
		}
	}
	return batch
}
