package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// finished makes run id finish in status at now, after an activation that
// journaled a step with an effect and received a signal: a run with a row
// in every table that belongs to it.
func finished(t *testing.T, st store.Store, id string, status store.RunStatus, now time.Time) {
	t.Helper()
	if status == store.StatusCancelled {
		insertRun(t, st, id, t0)
		signal(t, st, id, "approve", t0)
		_, err := st.RunCancel(ctx, &store.RunCancelParams{ID: id, Now: now})
		ok(t, err)
		return
	}
	run := running(t, st, id)
	signal(t, st, id, "approve", t0)
	apply(t, st, &store.RunApplyParams{RunID: id, Fence: run.Fence, Now: t0,
		Entries: []*store.Entry{stepEntry(id, 1, store.EntryCompleted, t0)},
		Effects: []*store.Effect{effect(id, 1, 1, store.EffectCompleted, t0)},
		Events:  []*store.NewEvent{{Type: store.EventStepCompleted, Step: "step1"}}})
	end(t, st, run, status, now)
}

func purge(t *testing.T, st store.Store, p store.RunPurgeParams) int64 {
	t.Helper()
	res, err := st.RunPurge(ctx, &p)
	ok(t, err)
	return res.Count
}

// purgeAll purges in batches of limit until a batch purges nothing, and
// returns how many it purged.
func purgeAll(t *testing.T, st store.Store, p store.RunPurgeParams) int64 {
	t.Helper()
	var total int64
	for {
		n := purge(t, st, p)
		if n == 0 {
			return total
		}
		total += n
	}
}

// gone checks that nothing of run id is left.
func gone(t *testing.T, st store.Store, id string) {
	t.Helper()
	_, err := st.RunGetByID(ctx, &store.RunGetByIDParams{ID: id})
	wantErr(t, err, store.ErrNotFound)
	evs, err := st.EventList(ctx, &store.EventListParams{RunID: id})
	ok(t, err)
	equal(t, "events of purged run "+id, len(evs), 0)
	equal(t, "entries of purged run "+id, len(entries(t, st, id)), 0)
	equal(t, "effects of purged run "+id, len(effects(t, st, id)), 0)
	equal(t, "signals of purged run "+id, len(pending(t, st, id, "")), 0)
	_, err = st.RunSnapshotGet(ctx, &store.RunSnapshotGetParams{RunID: id})
	wantErr(t, err, store.ErrNotFound)
}

// kept checks that run id is still there with its whole timeline.
func kept(t *testing.T, st store.Store, id string) {
	t.Helper()
	if len(events(t, st, id)) == 0 {
		t.Fatalf("run %s kept without its events", id)
	}
}

var purgeScenarios = []scenario{
	{"purge deletes exactly the finished runs before the time, with all their rows, in batches", func(t *testing.T, st store.Store) {
		finished(t, st, "old-completed", store.StatusCompleted, at(time.Minute))
		finished(t, st, "old-failed", store.StatusFailed, at(2*time.Minute))
		finished(t, st, "old-cancelled", store.StatusCancelled, at(3*time.Minute))
		finished(t, st, "new-completed", store.StatusCompleted, at(2*time.Hour))
		insertRun(t, st, "pending", t0)
		suspended(t, st, "sleeping", store.StatusSleeping)
		suspended(t, st, "waiting", store.StatusWaiting)
		running(t, st, "running")
		before := at(time.Hour)

		equal(t, "dry run count", purge(t, st, store.RunPurgeParams{Before: before, DryRun: true, Limit: 1}), int64(3))
		for _, id := range []string{"old-completed", "old-failed", "old-cancelled"} {
			kept(t, st, id)
		}
		equal(t, "first batch", purge(t, st, store.RunPurgeParams{Before: before, Limit: 2}), int64(2))
		equal(t, "the oldest went first", getRun(t, st, "old-cancelled").Status, store.StatusCancelled)
		equal(t, "second batch", purge(t, st, store.RunPurgeParams{Before: before, Limit: 2}), int64(1))
		equal(t, "third batch", purge(t, st, store.RunPurgeParams{Before: before, Limit: 2}), int64(0))
		for _, id := range []string{"old-completed", "old-failed", "old-cancelled"} {
			gone(t, st, id)
		}
		for _, id := range []string{"new-completed", "pending", "sleeping", "waiting", "running"} {
			kept(t, st, id)
		}
		equal(t, "dry run after", purge(t, st, store.RunPurgeParams{Before: before, DryRun: true}), int64(0))
		equal(t, "a finish exactly at Before is kept", purge(t, st, store.RunPurgeParams{Before: at(2 * time.Hour)}), int64(0))
	}},
	{"purge by status deletes only the finished runs in those statuses", func(t *testing.T, st store.Store) {
		finished(t, st, "completed", store.StatusCompleted, at(time.Minute))
		finished(t, st, "failed", store.StatusFailed, at(time.Minute))
		finished(t, st, "cancelled", store.StatusCancelled, at(time.Minute))
		p := store.RunPurgeParams{Before: at(time.Hour), Statuses: []store.RunStatus{store.StatusFailed, store.StatusCancelled}}
		equal(t, "purged", purgeAll(t, st, p), int64(2))
		gone(t, st, "failed")
		gone(t, st, "cancelled")
		kept(t, st, "completed")
		for _, s := range []store.RunStatus{store.StatusPending, store.StatusRunning, store.StatusWaiting, "bogus"} {
			_, err := st.RunPurge(ctx, &store.RunPurgeParams{Before: at(time.Hour), Statuses: []store.RunStatus{s}})
			wantErr(t, err, store.ErrInvalidTransition)
		}
		kept(t, st, "completed")
	}},
	{"purge keeps a finished child while its parent is kept, and purges it with its parent", func(t *testing.T, st store.Store) {
		p := running(t, st, "p")
		startChildren(t, st, p, 1, at(time.Second), child("c1", store.ParentEndCancel), child("c2", store.ParentEndCancel))
		c1 := claim(t, st, "c1", "w", at(2*time.Second))
		end(t, st, c1, store.StatusCompleted, at(3*time.Second))
		before := at(time.Hour)
		equal(t, "a child of a running parent", purge(t, st, store.RunPurgeParams{Before: before, DryRun: true}), int64(0))
		equal(t, "purged", purgeAll(t, st, store.RunPurgeParams{Before: before}), int64(0))
		kept(t, st, "c1")

		// The parent ends (cancelling c2) after Before: its children stay
		// with it.
		end(t, st, p, store.StatusCompleted, at(2*time.Hour))
		equal(t, "children of a parent kept", purgeAll(t, st, store.RunPurgeParams{Before: before}), int64(0))
		kept(t, st, "c1")
		equal(t, "a parent with its child", purgeAll(t, st, store.RunPurgeParams{Before: at(3 * time.Hour),
			Statuses: []store.RunStatus{store.StatusCompleted}}), int64(2))
		equal(t, "c2 was cancelled with its parent", getRun(t, st, "c2").Status, store.StatusCancelled)
		gone(t, st, "p")
		gone(t, st, "c1")
		kept(t, st, "c2")
		equal(t, "a child whose parent is gone", purgeAll(t, st, store.RunPurgeParams{Before: at(3 * time.Hour)}), int64(1))
		gone(t, st, "c2")
	}},
	{"an abandoned child of a purged parent goes on and ends", func(t *testing.T, st store.Store) {
		p := running(t, st, "p")
		startChildren(t, st, p, 1, at(time.Second), child("c1", store.ParentEndAbandon), child("c2", store.ParentEndAbandon),
			child("c3", store.ParentEndAbandon))
		c1 := claim(t, st, "c1", "w", at(2*time.Second))
		end(t, st, p, store.StatusCompleted, at(3*time.Second))
		equal(t, "purged", purgeAll(t, st, store.RunPurgeParams{Before: at(time.Hour)}), int64(1))
		gone(t, st, "p")

		// A running child ends, telling a parent that is gone.
		end(t, st, c1, store.StatusCompleted, at(4*time.Second))
		equal(t, "c1", getRun(t, st, "c1").Status, store.StatusCompleted)
		// A pending one is cancelled.
		got, err := st.RunCancel(ctx, &store.RunCancelParams{ID: "c2", Now: at(5 * time.Second)})
		ok(t, err)
		equal(t, "c2", got.Status, store.StatusCancelled)
		// One more ends in a batch of writes with another run's.
		c3 := claim(t, st, "c3", "w", at(6*time.Second))
		other := running(t, st, "other")
		outs := batcher(t, st).RunApplyBatch(ctx, []*store.RunApplyParams{
			{RunID: "c3", Fence: c3.Fence, Now: at(7 * time.Second), Status: store.StatusFailed, Error: "boom",
				ParentEvent: store.ChildEnded{Child: "c3", Workflow: "item", Status: store.StatusFailed, Error: "boom"}.Event(at(7 * time.Second))},
			{RunID: "other", Fence: other.Fence, Now: at(7 * time.Second), Status: store.StatusCompleted},
		})
		for _, o := range outs {
			ok(t, o.Err)
		}
		equal(t, "c3", getRun(t, st, "c3").Status, store.StatusFailed)
		equal(t, "other", getRun(t, st, "other").Status, store.StatusCompleted)
		kept(t, st, "c1")
		equal(t, "the children, whose parent is gone", purgeAll(t, st, store.RunPurgeParams{Before: at(time.Hour)}), int64(4))
	}},
	{"purges at once delete each run once, between them", func(t *testing.T, st store.Store) {
		for i := range 60 {
			finished(t, st, fmt.Sprintf("r%02d", i), store.StatusCompleted, at(time.Minute))
		}
		insertRun(t, st, "pending", t0)
		var total atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				for {
					res, err := st.RunPurge(ctx, &store.RunPurgeParams{Before: at(time.Hour), Limit: 7})
					if err != nil {
						errs <- err
						return
					}
					if res.Count == 0 {
						return
					}
					total.Add(res.Count)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			ok(t, err)
		}
		equal(t, "purged", total.Load(), int64(60))
		equal(t, "left to purge", purge(t, st, store.RunPurgeParams{Before: at(time.Hour), DryRun: true}), int64(0))
		kept(t, st, "pending")
	}},
}
