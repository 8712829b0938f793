package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// fakeFlush records the batches it is given and answers each write with
// its run's id as the event count's digit, after waiting for release.
type fakeFlush struct {
	mu      sync.Mutex
	batches [][]string
	release chan struct{} // nil: answer at once
	started chan struct{} // receives once per batch, when not nil
	panics  bool
}

func (f *fakeFlush) flush(_ context.Context, ws []*store.RunApplyParams) []store.RunApplyOutcome {
	var ids []string
	for _, p := range ws {
		ids = append(ids, p.RunID)
	}
	f.mu.Lock()
	f.batches = append(f.batches, ids)
	f.mu.Unlock()
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.release != nil {
		<-f.release
	}
	if f.panics {
		panic("flush broke")
	}
	outs := make([]store.RunApplyOutcome, len(ws))
	for i, p := range ws {
		outs[i].Result = &store.RunApplyResult{EventCount: int64(len(p.RunID))}
	}
	return outs
}

func write(id string) *store.RunApplyParams { return &store.RunApplyParams{RunID: id} }

func TestWriterGathersWhatArrivesWhileABatchIsWritten(t *testing.T) {
	f := &fakeFlush{release: make(chan struct{}), started: make(chan struct{}, 8)}
	w := NewWriter(f.flush)
	defer w.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make(chan error, 8)
	apply := func(id string) {
		wg.Go(func() {
			res, err := w.Apply(ctx, write(id))
			if err == nil && res.EventCount != int64(len(id)) {
				err = fmt.Errorf("write %s: answered %d, want %d", id, res.EventCount, len(id))
			}
			results <- err
		})
	}
	apply("a")
	<-f.started // "a" is being written, alone, by its own caller
	apply("bb")
	apply("ccc")
	apply("bb") // a second write to run bb waits for the batch after
	waitQueued(t, w, 3)
	f.release <- struct{}{}
	<-f.started
	f.release <- struct{}{}
	<-f.started
	f.release <- struct{}{}
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := fmt.Sprint(f.batches)
	if want := "[[a] [bb ccc] [bb]]"; got != want {
		t.Fatalf("batches %s, want %s", got, want)
	}
}

func TestWriterCallerGoneWhileQueuedIsNotWritten(t *testing.T) {
	f := &fakeFlush{release: make(chan struct{}), started: make(chan struct{}, 8)}
	w := NewWriter(f.flush)
	defer w.Close()
	first := make(chan error, 1)
	go func() {
		_, err := w.Apply(context.Background(), write("a"))
		first <- err
	}()
	<-f.started
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() {
		_, err := w.Apply(ctx, write("gone"))
		gone <- err
	}()
	waitQueued(t, w, 1)
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled write returned %v, want context.Canceled", err)
	}
	f.release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The writer is free again: a new write is written at once.
	f.release, f.started = nil, nil
	if _, err := w.Apply(context.Background(), write("b")); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(f.batches), "[[a] [b]]"; got != want {
		t.Fatalf("batches %s, want %s", got, want)
	}
}

func TestWriterPanickingFlushFailsItsBatchAndFreesTheWriter(t *testing.T) {
	f := &fakeFlush{panics: true}
	w := NewWriter(f.flush)
	defer w.Close()
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "flush broke") {
				t.Fatalf("recovered %v, want the flush's panic", r)
			}
		}()
		w.Apply(context.Background(), write("a"))
	}()
	f.panics = false
	done := make(chan error, 1)
	go func() {
		_, err := w.Apply(context.Background(), write("b"))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the writer stayed taken after a flush panicked")
	}
}

func TestWriterClosedRefusesWrites(t *testing.T) {
	f := &fakeFlush{}
	w := NewWriter(f.flush)
	if _, err := w.Apply(context.Background(), write("a")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := w.Apply(context.Background(), write("b")); !errors.Is(err, ErrClosed) {
		t.Fatalf("a write after Close returned %v, want ErrClosed", err)
	}
}

// waitQueued waits until n writes are queued behind the batch being
// written.
func waitQueued(t *testing.T, w *Writer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		q := len(w.queue)
		w.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}
