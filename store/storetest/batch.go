package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// batcher returns the store's store.Batcher: every store here commits
// concurrent writes together, and the suite holds each to the same rules.
func batcher(t *testing.T, st store.Store) store.Batcher {
	t.Helper()
	b, isBatcher := st.(store.Batcher)
	if !isBatcher {
		t.Fatalf("%T does not implement store.Batcher", st)
	}
	return b
}

// stepWrite is a numbered write that completes step seq of a run with
// its step_completed event, and completes the run with it when last.
func stepWrite(run *store.Run, write int64, seq int, last bool, now time.Time) *store.RunApplyParams {
	e := stepEntry(run.ID, seq, store.EntryCompleted, now)
	p := &store.RunApplyParams{RunID: run.ID, Fence: run.Fence, Write: write, Now: now, Entries: []*store.Entry{e},
		Events: []*store.NewEvent{{Type: store.EventStepCompleted, Step: e.Name, At: now}}}
	if last {
		p.Status, p.Output = store.StatusCompleted, []byte(`{"done":true}`)
		p.Events = append(p.Events, &store.NewEvent{Type: store.EventRunCompleted, At: now})
	}
	return p
}

var batchScenarios = []scenario{
	{"a batch refuses only its write with a stale fence, and commits the others", func(t *testing.T, st store.Store) {
		var runs []*store.Run
		for i := range 5 {
			runs = append(runs, running(t, st, fmt.Sprintf("r%d", i)))
		}
		// r2's lease expires and another claim takes it: its first
		// activation's fence is stale.
		stale := runs[2]
		current := claim(t, st, stale.ID, "w2", at(time.Minute))
		now := at(2 * time.Minute)
		var ws []*store.RunApplyParams
		for i, run := range runs {
			ws = append(ws, stepWrite(run, 1, 0, i%2 == 1, now))
		}
		outs := batcher(t, st).RunApplyBatch(ctx, ws)
		equal(t, "outcomes", len(outs), len(ws))
		for i, o := range outs {
			if i == 2 {
				wantErr(t, o.Err, store.ErrFenced)
				continue
			}
			ok(t, o.Err)
			got := getRun(t, st, runs[i].ID)
			res := *o.Result
			if i%2 == 1 {
				equal(t, fmt.Sprintf("r%d run the write returned", i), res.Run, got)
			} else {
				equal(t, fmt.Sprintf("r%d run the write returned", i), res.Run, (*store.Run)(nil))
			}
			res.Run = nil
			equal(t, fmt.Sprintf("r%d result", i), res, store.RunApplyResult{EventCount: int64(2 + len(ws[i].Events))})
			equal(t, fmt.Sprintf("r%d entries", i), len(entries(t, st, runs[i].ID)), 1)
			if i%2 == 1 {
				equal(t, fmt.Sprintf("r%d status", i), got.Status, store.StatusCompleted)
				sameJSON(t, fmt.Sprintf("r%d output", i), got.Output, `{"done":true}`)
				equal(t, fmt.Sprintf("r%d events", i), eventTypes(events(t, st, runs[i].ID))[2:],
					[]store.EventType{store.EventStepCompleted, store.EventRunCompleted})
			} else {
				equal(t, fmt.Sprintf("r%d status", i), got.Status, store.StatusRunning)
			}
		}
		// The stale write changed nothing: the current claim's run is as
		// that claim left it.
		got := getRun(t, st, stale.ID)
		equal(t, "stale run's status", got.Status, store.StatusRunning)
		equal(t, "stale run's fence", got.Fence, current.Fence)
		equal(t, "stale run's owner", got.LeaseOwner, "w2")
		equal(t, "stale run's entries", len(entries(t, st, stale.ID)), 0)
		equal(t, "stale run's events", got.EventCount, current.EventCount)

		// The same batch sent again (its answers lost): the writes that
		// committed are recognised and not applied twice.
		outs = batcher(t, st).RunApplyBatch(ctx, ws)
		for i, o := range outs {
			if i == 2 {
				wantErr(t, o.Err, store.ErrFenced)
				continue
			}
			ok(t, o.Err)
			equal(t, fmt.Sprintf("r%d replayed", i), o.Result.Replayed, true)
			equal(t, fmt.Sprintf("r%d event count", i), getRun(t, st, runs[i].ID).EventCount, int64(2+len(ws[i].Events)))
		}
		// The current claim writes on.
		res := apply(t, st, stepWrite(current, 1, 0, true, now))
		equal(t, "current claim's event count", res.EventCount, current.EventCount+2)
	}},

	{"a write the database fails in the middle of a batch fails only itself", func(t *testing.T, st store.Store) {
		var runs []*store.Run
		for i := range 3 {
			runs = append(runs, running(t, st, fmt.Sprintf("r%d", i)))
		}
		now := at(time.Second)
		var ws []*store.RunApplyParams
		for _, run := range runs {
			ws = append(ws, stepWrite(run, 1, 0, false, now))
		}
		// r1 consumes a signal that does not exist: the database refuses
		// that statement, in the middle of the batch.
		bad := *ws[1]
		bad.Consume = &store.ConsumedSignal{SignalID: 424242, EntrySeq: 0}
		ws[1] = &bad
		outs := batcher(t, st).RunApplyBatch(ctx, ws)
		wantErr(t, outs[1].Err, store.ErrNotFound)
		for _, i := range []int{0, 2} {
			ok(t, outs[i].Err)
			equal(t, fmt.Sprintf("r%d event count", i), outs[i].Result.EventCount, int64(3))
			equal(t, fmt.Sprintf("r%d entries", i), len(entries(t, st, runs[i].ID)), 1)
		}
		// Nothing of r1's write is left, and the run is not failed: its
		// activation writes on under the same fence.
		got := getRun(t, st, "r1")
		equal(t, "r1 status", got.Status, store.StatusRunning)
		equal(t, "r1 entries", len(entries(t, st, "r1")), 0)
		equal(t, "r1 events", got.EventCount, int64(2))
		res := apply(t, st, stepWrite(runs[1], 2, 0, true, now))
		equal(t, "r1 event count", res.EventCount, int64(4))
		equal(t, "r1 status after", getRun(t, st, "r1").Status, store.StatusCompleted)
	}},

	{"concurrent writers each get their own answer", func(t *testing.T, st store.Store) {
		// Sixteen activations write ten steps each at once; a stale
		// writer of one of their runs writes beside them all along.
		const n, steps = 16, 10
		var runs []*store.Run
		for i := range n {
			runs = append(runs, running(t, st, fmt.Sprintf("r%02d", i)))
		}
		var wg sync.WaitGroup
		errs := make(chan error, n*steps*2)
		for _, run := range runs {
			wg.Go(func() {
				for s := range steps {
					p := stepWrite(run, int64(s+1), s, s == steps-1, at(time.Second))
					res, err := st.RunApply(ctx, p)
					if want := int64(2 + s + len(p.Events)); err == nil && res.EventCount != want {
						err = fmt.Errorf("run %s step %d: event count %d, want %d", run.ID, s, res.EventCount, want)
					}
					if err != nil {
						errs <- err
					}
				}
			})
		}
		staleRun := *runs[0]
		staleRun.Fence--
		wg.Go(func() {
			for s := range steps {
				if _, err := st.RunApply(ctx, stepWrite(&staleRun, int64(s+1), s, false, at(time.Second))); err == nil {
					errs <- fmt.Errorf("a write with a stale fence committed")
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, run := range runs {
			got := getRun(t, st, run.ID)
			equal(t, run.ID+" status", got.Status, store.StatusCompleted)
			equal(t, run.ID+" events", got.EventCount, int64(2+steps+1))
			equal(t, run.ID+" entries", len(entries(t, st, run.ID)), steps)
		}
	}},
}
