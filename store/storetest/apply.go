package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// running inserts run id and claims it at t0.
func running(t *testing.T, st store.Store, id string) *store.Run {
	t.Helper()
	insertRun(t, st, id, t0)
	return claim(t, st, id, "w", t0)
}

func sameEntry(t *testing.T, got, want *store.Entry) {
	t.Helper()
	sameTime(t, "entry started_at", got.StartedAt, want.StartedAt)
	sameTime(t, "entry updated_at", got.UpdatedAt, want.UpdatedAt)
	sameTimePtr(t, "entry wake_at", got.WakeAt, want.WakeAt)
	g, w := *got, *want
	g.StartedAt, g.UpdatedAt, g.WakeAt = time.Time{}, time.Time{}, nil
	w.StartedAt, w.UpdatedAt, w.WakeAt = time.Time{}, time.Time{}, nil
	equal(t, "entry", g, w)
}

func sameEffect(t *testing.T, got, want *store.Effect) {
	t.Helper()
	sameTime(t, "effect started_at", got.StartedAt, want.StartedAt)
	sameTime(t, "effect updated_at", got.UpdatedAt, want.UpdatedAt)
	g, w := *got, *want
	g.StartedAt, g.UpdatedAt = time.Time{}, time.Time{}
	w.StartedAt, w.UpdatedAt = time.Time{}, time.Time{}
	equal(t, "effect", g, w)
}

var applyScenarios = []scenario{
	{"a suspension of a run cancelled meanwhile makes it runnable at once", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		cancelled, err := st.RunCancel(ctx, &store.RunCancelParams{ID: "r1", Now: at(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "cancel requested", cancelled.CancelRequested, true)
		now := at(2 * time.Second)
		res := apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: now, Status: store.StatusSleeping, WakeAt: ptr(at(time.Hour))})
		equal(t, "cancel requested in the result", res.CancelRequested, true)
		got := getRun(t, st, "r1")
		equal(t, "status", got.Status, store.StatusSleeping)
		sameTimePtr(t, "wake_at", got.WakeAt, &now)
	}},
	{"apply writes entries, effects, events and progress under the lease", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		now := at(time.Second)
		e0 := stepEntry("r1", 0, store.EntryRunning, now)
		e0.WakeAt = ptr(at(time.Hour))
		ef := effect("r1", 0, 0, store.EffectStarted, now)
		res := apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: now,
			Progress: json.RawMessage(`{"done":1}`), Entries: []*store.Entry{e0}, Effects: []*store.Effect{ef},
			Events: []*store.NewEvent{
				{Type: store.EventStepStarted, Step: "step0", At: now, Data: json.RawMessage(`{"attempt":1}`)},
				{Type: store.EventEffectStarted, Step: "step0", At: now},
			}})
		equal(t, "result", *res, store.RunApplyResult{EventCount: 4})
		got := getRun(t, st, "r1")
		equal(t, "status", got.Status, store.StatusRunning)
		equal(t, "lease owner", got.LeaseOwner, "w")
		sameTimePtr(t, "lease", got.WakeAt, run.WakeAt)
		sameTime(t, "updated_at", got.UpdatedAt, now)
		sameJSON(t, "progress", got.Progress, `{"done":1}`)
		es := entries(t, st, "r1")
		equal(t, "entries", len(es), 1)
		sameEntry(t, es[0], e0)
		efs := effects(t, st, "r1")
		equal(t, "effects", len(efs), 1)
		sameEffect(t, efs[0], ef)
		evs := events(t, st, "r1")
		equal(t, "events", eventTypes(evs)[2:], []store.EventType{store.EventStepStarted, store.EventEffectStarted})
		equal(t, "step", evs[2].Step, "step0")
		sameJSON(t, "data", evs[2].Data, `{"attempt":1}`)
		sameJSON(t, "empty data", evs[3].Data, `{}`)

		// Upserts: the entry completes, the effect completes, a second
		// effect and entry appear; progress is unchanged when nil.
		later := at(2 * time.Second)
		e0.Status, e0.Output, e0.Attempts, e0.UpdatedAt, e0.WakeAt = store.EntryCompleted, []byte(`"done"`), 2, later, nil
		ef.Status, ef.Result, ef.UpdatedAt = store.EffectCompleted, []byte("r2"), later
		e1 := stepEntry("r1", 1, store.EntryRunning, later)
		ef2 := effect("r1", 1, 0, store.EffectStarted, later)
		ef3 := effect("r1", 0, 1, store.EffectFailed, later)
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: later,
			Entries: []*store.Entry{e0, e1}, Effects: []*store.Effect{ef2, ef, ef3}})
		es = entries(t, st, "r1")
		equal(t, "entries", len(es), 2)
		sameEntry(t, es[0], e0)
		sameEntry(t, es[1], e1)
		efs = effects(t, st, "r1")
		equal(t, "effects", len(efs), 3)
		sameEffect(t, efs[0], ef)
		sameEffect(t, efs[1], ef3)
		sameEffect(t, efs[2], ef2)
		sameJSON(t, "progress", getRun(t, st, "r1").Progress, `{"done":1}`)
	}},
	{"apply with a stale fence or to a run that is not running writes nothing", func(t *testing.T, st store.Store) {
		insertRun(t, st, "idle", t0)
		_, err := st.RunApply(ctx, &store.RunApplyParams{RunID: "idle", Fence: 0, Now: t0,
			Events: []*store.NewEvent{{Type: store.EventCheckpoint}}})
		wantErr(t, err, store.ErrFenced)
		run := running(t, st, "r1")
		before := getRun(t, st, "r1")
		now := at(time.Second)
		_, err = st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: run.Fence + 1, Now: now, Status: store.StatusCompleted,
			Output: json.RawMessage(`1`), Progress: json.RawMessage(`2`), Entries: []*store.Entry{stepEntry("r1", 0, store.EntryCompleted, now)},
			Effects: []*store.Effect{effect("r1", 0, 0, store.EffectCompleted, now)},
			Events:  []*store.NewEvent{{Type: store.EventRunCompleted, At: now}}})
		wantErr(t, err, store.ErrFenced)
		equal(t, "run after fenced write", getRun(t, st, "r1"), before)
		equal(t, "entries", len(entries(t, st, "r1")), 0)
		equal(t, "effects", len(effects(t, st, "r1")), 0)
		equal(t, "events", len(events(t, st, "r1")), 2)
		// The store stays usable after a refused write.
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: now, Status: store.StatusCompleted})
		_, err = st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: now})
		wantErr(t, err, store.ErrFenced)
		_, err = st.RunApply(ctx, &store.RunApplyParams{RunID: "nope", Fence: 1, Now: now})
		if err == nil {
			t.Fatal("apply to a missing run succeeded")
		}
	}},
	{"apply refuses a status the run cannot become", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		_, err := st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: t0, Status: "paused",
			Events: []*store.NewEvent{{Type: store.EventCheckpoint}}})
		wantErr(t, err, store.ErrInvalidTransition)
		equal(t, "status", getRun(t, st, "r1").Status, store.StatusRunning)
		equal(t, "events", len(events(t, st, "r1")), 2)
	}},
	{"apply with a terminal status finishes the run and releases the lease", func(t *testing.T, st store.Store) {
		for _, tc := range []struct {
			status store.RunStatus
			output string
			err    string
		}{
			{store.StatusCompleted, `{"total":3}`, ""},
			{store.StatusFailed, "", "step charge failed"},
			{store.StatusCancelled, "", ""},
		} {
			id := string(tc.status)
			run := running(t, st, id)
			now := at(time.Minute)
			p := &store.RunApplyParams{RunID: id, Fence: run.Fence, Now: now, Status: tc.status, Error: tc.err}
			if tc.output != "" {
				p.Output = json.RawMessage(tc.output)
			}
			res := apply(t, st, p)
			got := getRun(t, st, id)
			equal(t, "the run the write returned", res.Run, got)
			equal(t, "status", got.Status, tc.status)
			sameTimePtr(t, "completed_at", got.CompletedAt, &now)
			sameTimePtr(t, "wake_at", got.WakeAt, nil)
			equal(t, "lease owner", got.LeaseOwner, "")
			equal(t, "error", got.Error, tc.err)
			if tc.output != "" {
				sameJSON(t, "output", got.Output, tc.output)
			} else {
				equal(t, "output", got.Output, json.RawMessage(nil))
			}
		}
		claimNone(t, st, at(time.Hour))
	}},
	{"apply suspending releases the lease until wake_at", func(t *testing.T, st store.Store) {
		for _, status := range []store.RunStatus{store.StatusSleeping, store.StatusPending, store.StatusWaiting} {
			id := string(status)
			run := running(t, st, id)
			wake := at(time.Hour)
			apply(t, st, &store.RunApplyParams{RunID: id, Fence: run.Fence, Now: at(time.Second), Status: status, WakeAt: &wake})
			got := getRun(t, st, id)
			equal(t, "status", got.Status, status)
			sameTimePtr(t, "wake_at", got.WakeAt, &wake)
			equal(t, "lease owner", got.LeaseOwner, "")
			sameTimePtr(t, "completed_at", got.CompletedAt, nil)
			claimNoneOf(t, st, id, wake.Add(-time.Microsecond))
			again := claim(t, st, id, "w2", wake)
			equal(t, "fence", again.Fence, run.Fence+1)
		}
	}},
	{"a waiting run wakes at once if a signal arrived after the activation looked", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		signal(t, st, "r1", "approve", at(time.Second))
		now := at(2 * time.Second)
		res := apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: now, Status: store.StatusWaiting, WakeIfSignalsBeyond: 0})
		equal(t, "signals received", res.SignalsReceived, int64(1))
		sameTimePtr(t, "wake_at", getRun(t, st, "r1").WakeAt, &now)

		run2 := running(t, st, "r2")
		signal(t, st, "r2", "approve", at(time.Second))
		apply(t, st, &store.RunApplyParams{RunID: "r2", Fence: run2.Fence, Now: now, Status: store.StatusWaiting, WakeIfSignalsBeyond: 1})
		got := getRun(t, st, "r2")
		equal(t, "status", got.Status, store.StatusWaiting)
		sameTimePtr(t, "wake_at (waits for a signal)", got.WakeAt, nil)
		claimNoneOf(t, st, "r2", at(1000*time.Hour))
	}},
	{"replacing a checkpoint event overwrites it without growing the timeline", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		res := apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: t0,
			Events: []*store.NewEvent{{Type: store.EventCheckpoint, Step: "s", At: t0, Data: json.RawMessage(`{"checkpoints":1}`)}}})
		seq := res.EventCount
		var last time.Time
		for i := 2; i <= 20; i++ {
			last = at(time.Duration(i) * time.Millisecond)
			res = apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: last, ReplaceEventSeq: seq,
				ReplaceEvent: &store.NewEvent{Type: store.EventCheckpoint, Step: "s", At: last, Data: json.RawMessage(fmt.Sprintf(`{"checkpoints":%d}`, i))}})
			equal(t, "event count", res.EventCount, seq)
		}
		evs := events(t, st, "r1")
		equal(t, "events", len(evs), int(seq))
		ck := evs[seq-1]
		equal(t, "type", ck.Type, store.EventCheckpoint)
		equal(t, "step", ck.Step, "s")
		sameTime(t, "at", ck.At, last)
		sameJSON(t, "data", ck.Data, `{"checkpoints":20}`)
		// Replacing and appending in one write.
		res = apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: last, ReplaceEventSeq: seq,
			ReplaceEvent: &store.NewEvent{Type: store.EventCheckpoint, At: last, Data: json.RawMessage(`{"checkpoints":21}`)},
			Events:       []*store.NewEvent{{Type: store.EventStepCompleted, At: last}}})
		equal(t, "event count", res.EventCount, seq+1)
		evs = events(t, st, "r1")
		sameJSON(t, "data", evs[seq-1].Data, `{"checkpoints":21}`)
		equal(t, "last", evs[seq].Type, store.EventStepCompleted)
		_, err := st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: last, ReplaceEventSeq: 99,
			ReplaceEvent: &store.NewEvent{Type: store.EventCheckpoint, At: last}, Events: []*store.NewEvent{{Type: store.EventStepStarted}}})
		wantErr(t, err, store.ErrNotFound)
		equal(t, "events after failed replace", len(events(t, st, "r1")), int(seq+1))
	}},
	{"a numbered write sent again after it was applied writes nothing twice", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		sig := signal(t, st, "r1", "go", t0)
		now := at(time.Second)
		write := func(n int64) *store.RunApplyParams {
			return &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Write: n, Now: now,
				Entries: []*store.Entry{stepEntry("r1", 0, store.EntryCompleted, now)},
				Effects: []*store.Effect{effect("r1", 0, 0, store.EffectCompleted, now)},
				Consume: &store.ConsumedSignal{SignalID: sig.ID, EntrySeq: 0},
				Events:  []*store.NewEvent{{Type: store.EventStepCompleted, Step: "step0", At: now}}}
		}
		first := apply(t, st, write(1))
		equal(t, "first sending", first.Replayed, false)
		signal(t, st, "r1", "later", now) // an event and a signal that came after the write
		again := apply(t, st, write(1))
		equal(t, "second sending", *again, store.RunApplyResult{EventCount: first.EventCount + 1, SignalsReceived: 2, Replayed: true})
		equal(t, "events", eventTypes(events(t, st, "r1")), []store.EventType{store.EventRunCreated, store.EventActivationStarted,
			store.EventSignalReceived, store.EventStepCompleted, store.EventSignalReceived})

		// The next write applies; a write that ended the activation is
		// recognised too, although the run is no longer running.
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Write: 2, Now: now, Events: []*store.NewEvent{{Type: store.EventCheckpoint}}})
		done := &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Write: 3, Now: now, Status: store.StatusCompleted,
			Output: json.RawMessage(`1`), Events: []*store.NewEvent{{Type: store.EventRunCompleted, At: now}}}
		apply(t, st, done)
		res := apply(t, st, done)
		equal(t, "finishing write sent again", res.Replayed, true)
		equal(t, "the run a replayed write returned", res.Run, (*store.Run)(nil))
		equal(t, "events", len(events(t, st, "r1")), 7)

		// Under another fence, or unnumbered, the same number is no
		// replay: the stale writer is refused.
		_, err := st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: run.Fence + 1, Write: 3, Now: now})
		wantErr(t, err, store.ErrFenced)
		_, err = st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: now})
		wantErr(t, err, store.ErrFenced)
	}},
	{"event seqs count from one without gaps and list in pages", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		for i := range 5 {
			evs := make([]*store.NewEvent, i)
			for j := range evs {
				evs[j] = &store.NewEvent{Type: store.EventStepStarted, Step: fmt.Sprintf("s%d.%d", i, j), At: t0}
			}
			apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: t0, Events: evs})
		}
		signal(t, st, "r1", "x", t0)
		_, err := st.RunCancel(ctx, &store.RunCancelParams{ID: "r1", Now: t0})
		ok(t, err)
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: t0, Status: store.StatusCancelled,
			Events: []*store.NewEvent{{Type: store.EventRunCancelled, At: t0}}})
		all := events(t, st, "r1") // checks contiguity
		equal(t, "events", len(all), 2+10+1+1)
		equal(t, "order", all[3].Step+","+all[4].Step, "s2.0,s2.1")
		page, err := st.EventList(ctx, &store.EventListParams{RunID: "r1", AfterSeq: 4, Limit: 3})
		ok(t, err)
		equal(t, "page", []int64{page[0].Seq, page[1].Seq, page[2].Seq}, []int64{5, 6, 7})
		equal(t, "page size", len(page), 3)
		page, err = st.EventList(ctx, &store.EventListParams{RunID: "r1", AfterSeq: int64(len(all))})
		ok(t, err)
		equal(t, "after the last", len(page), 0)
	}},
}
