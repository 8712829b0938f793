package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// suspended returns run id in status (pending, sleeping or waiting) after
// one activation.
func suspended(t *testing.T, st store.Store, id string, status store.RunStatus) {
	t.Helper()
	run := running(t, st, id)
	if status != store.StatusRunning {
		apply(t, st, &store.RunApplyParams{RunID: id, Fence: run.Fence, Now: t0, Status: status, WakeAt: ptr(at(time.Hour))})
	}
}

// failed returns run id failed after one activation with the given journal.
func failed(t *testing.T, st store.Store, id string, es []*store.Entry, efs []*store.Effect) *store.Run {
	t.Helper()
	run := running(t, st, id)
	apply(t, st, &store.RunApplyParams{RunID: id, Fence: run.Fence, Now: t0, Entries: es, Effects: efs})
	apply(t, st, &store.RunApplyParams{RunID: id, Fence: run.Fence, Now: at(time.Second), Status: store.StatusFailed,
		Error: "boom", Events: []*store.NewEvent{{Type: store.EventRunFailed}}})
	return getRun(t, st, id)
}

var lifecycleScenarios = []scenario{
	{"cancel finishes a pending, sleeping or waiting run at once", func(t *testing.T, st store.Store) {
		for _, status := range []store.RunStatus{store.StatusPending, store.StatusSleeping, store.StatusWaiting} {
			id := string(status)
			if status == store.StatusPending {
				insertRun(t, st, id, t0)
			} else {
				suspended(t, st, id, status)
			}
			now := at(time.Minute)
			got, err := st.RunCancel(ctx, &store.RunCancelParams{ID: id, Now: now})
			ok(t, err)
			equal(t, "status", got.Status, store.StatusCancelled)
			sameTimePtr(t, "completed_at", got.CompletedAt, &now)
			sameTimePtr(t, "wake_at", got.WakeAt, nil)
			equal(t, "returned run", got, getRun(t, st, id))
			evs := events(t, st, id)
			last := evs[len(evs)-1]
			equal(t, "last event", last.Type, store.EventRunCancelled)
			sameTime(t, "at", last.At, now)
		}
		claimNone(t, st, at(1000*time.Hour))
	}},
	{"cancel of a running run asks its activation to stop", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		got, err := st.RunCancel(ctx, &store.RunCancelParams{ID: "r1", Now: at(time.Second)})
		ok(t, err)
		equal(t, "status", got.Status, store.StatusRunning)
		equal(t, "cancel requested", got.CancelRequested, true)
		equal(t, "fence", got.Fence, run.Fence)
		res := apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: at(2 * time.Second)})
		equal(t, "apply sees the cancellation", res.CancelRequested, true)
		equal(t, "events", eventTypes(events(t, st, "r1")), []store.EventType{store.EventRunCreated, store.EventActivationStarted})
	}},
	{"cancel of a finished run is an invalid transition", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: t0, Status: store.StatusCompleted})
		_, err := st.RunCancel(ctx, &store.RunCancelParams{ID: "r1", Now: t0})
		wantErr(t, err, store.ErrInvalidTransition)
		equal(t, "status", getRun(t, st, "r1").Status, store.StatusCompleted)
		insertRun(t, st, "r2", t0)
		_, err = st.RunCancel(ctx, &store.RunCancelParams{ID: "r2", Now: t0})
		ok(t, err)
		_, err = st.RunCancel(ctx, &store.RunCancelParams{ID: "r2", Now: t0})
		wantErr(t, err, store.ErrInvalidTransition)
		equal(t, "events of r2", len(events(t, st, "r2")), 2)
		_, err = st.RunCancel(ctx, &store.RunCancelParams{ID: "nope", Now: t0})
		wantErr(t, err, store.ErrNotFound)
	}},
	{"release hands a claimed run back, runnable at once", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		now := at(time.Second)
		wantErr(t, st.RunRelease(ctx, &store.RunReleaseParams{ID: "r1", Fence: run.Fence + 1, Now: now}), store.ErrFenced)
		equal(t, "status after stale release", getRun(t, st, "r1").Status, store.StatusRunning)
		ok(t, st.RunRelease(ctx, &store.RunReleaseParams{ID: "r1", Fence: run.Fence, Now: now}))
		got := getRun(t, st, "r1")
		equal(t, "status", got.Status, store.StatusPending)
		equal(t, "lease owner", got.LeaseOwner, "")
		equal(t, "fence", got.Fence, run.Fence)
		sameTimePtr(t, "wake_at", got.WakeAt, &now)
		again := claim(t, st, "r1", "w2", now)
		equal(t, "new fence", again.Fence, run.Fence+1)
	}},
	{"retry keeps the journal before the first failed entry and prunes the rest", func(t *testing.T, st store.Store) {
		insertRun(t, st, "r1", t0)
		sig := signal(t, st, "r1", "approve", t0)
		run := claim(t, st, "r1", "w", t0)
		es := []*store.Entry{
			stepEntry("r1", 0, store.EntryCompleted, t0),
			stepEntry("r1", 1, store.EntryCompleted, t0),
			stepEntry("r1", 2, store.EntryFailed, t0),
			{RunID: "r1", Seq: 3, Kind: store.EntrySignal, Name: "approve", Status: store.EntryReceived, StartedAt: t0, UpdatedAt: t0},
			stepEntry("r1", 4, store.EntryFailed, t0),
		}
		efs := []*store.Effect{effect("r1", 0, 0, store.EffectCompleted, t0), effect("r1", 2, 0, store.EffectFailed, t0), effect("r1", 4, 0, store.EffectStarted, t0)}
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: t0, Entries: es, Effects: efs,
			Consume: &store.ConsumedSignal{SignalID: sig.ID, EntrySeq: 3}})
		equal(t, "pending signals", len(pending(t, st, "r1", "")), 0)
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: at(time.Second), Status: store.StatusFailed,
			Error: "boom", Output: json.RawMessage(`"partial"`)})
		now := at(time.Minute)
		got, err := st.RunRetry(ctx, &store.RunRetryParams{ID: "r1", Now: now})
		ok(t, err)
		equal(t, "returned run", got, getRun(t, st, "r1"))
		equal(t, "status", got.Status, store.StatusPending)
		equal(t, "attempt", got.Attempt, 2)
		equal(t, "error", got.Error, "")
		equal(t, "output", got.Output, json.RawMessage(nil))
		sameTimePtr(t, "completed_at", got.CompletedAt, nil)
		sameTimePtr(t, "wake_at", got.WakeAt, &now)
		kept := entries(t, st, "r1")
		equal(t, "kept entries", len(kept), 2)
		sameEntry(t, kept[0], es[0])
		sameEntry(t, kept[1], es[1])
		keptEffects := effects(t, st, "r1")
		equal(t, "kept effects", len(keptEffects), 1)
		sameEffect(t, keptEffects[0], efs[0])
		equal(t, "signal handed back", len(pending(t, st, "r1", "approve")), 1)
		evs := events(t, st, "r1")
		equal(t, "last event", evs[len(evs)-1].Type, store.EventRunRetried)
		again := claim(t, st, "r1", "w", now)
		equal(t, "fence", again.Fence, run.Fence+1)
	}},
	{"retry without a failed entry keeps the whole journal", func(t *testing.T, st store.Store) {
		failed(t, st, "r1", []*store.Entry{stepEntry("r1", 0, store.EntryCompleted, t0), stepEntry("r1", 1, store.EntryRunning, t0)}, nil)
		_, err := st.RunRetry(ctx, &store.RunRetryParams{ID: "r1", Now: at(time.Minute)})
		ok(t, err)
		equal(t, "entries", len(entries(t, st, "r1")), 2)
	}},
	{"retry of a run that has not failed is an invalid transition", func(t *testing.T, st store.Store) {
		insertRun(t, st, "pending", t0)
		running(t, st, "running")
		run := running(t, st, "completed")
		apply(t, st, &store.RunApplyParams{RunID: "completed", Fence: run.Fence, Now: t0, Status: store.StatusCompleted})
		for _, id := range []string{"pending", "running", "completed"} {
			before := getRun(t, st, id)
			_, err := st.RunRetry(ctx, &store.RunRetryParams{ID: id, Now: at(time.Minute)})
			wantErr(t, err, store.ErrInvalidTransition)
			equal(t, "run "+id, getRun(t, st, id), before)
		}
		_, err := st.RunRetry(ctx, &store.RunRetryParams{ID: "nope", Now: t0})
		wantErr(t, err, store.ErrNotFound)
	}},
}
