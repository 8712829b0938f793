package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

var signalScenarios = []scenario{
	{"a signal wakes a waiting run and stays pending until consumed", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: t0, Status: store.StatusWaiting})
		claimNone(t, st, at(1000*time.Hour))
		now := at(time.Minute)
		sig, err := st.SignalInsert(ctx, &store.SignalInsertParams{RunID: "r1", Name: "approve", Payload: json.RawMessage(`{"by":"ann"}`), Now: now})
		ok(t, err)
		equal(t, "run id", sig.RunID, "r1")
		got := getRun(t, st, "r1")
		equal(t, "signals received", got.SignalsReceived, int64(1))
		sameTimePtr(t, "wake_at", got.WakeAt, &now)
		evs := events(t, st, "r1")
		last := evs[len(evs)-1]
		equal(t, "event", last.Type, store.EventSignalReceived)
		sameJSON(t, "event data", last.Data, `{"name":"approve","id":`+jsonInt(sig.ID)+`}`)
		sigs := pending(t, st, "r1", "")
		equal(t, "pending", len(sigs), 1)
		equal(t, "id", sigs[0].ID, sig.ID)
		sameJSON(t, "payload", sigs[0].Payload, `{"by":"ann"}`)
		sameTime(t, "created_at", sigs[0].CreatedAt, now)
		equal(t, "consumed by", sigs[0].ConsumedBy, (*int)(nil))

		again := claim(t, st, "r1", "w", now)
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: again.Fence, Now: now, Consume: &store.ConsumedSignal{SignalID: sig.ID, EntrySeq: 0},
			Entries: []*store.Entry{{RunID: "r1", Seq: 0, Kind: store.EntrySignal, Name: "approve", Status: store.EntryReceived, Output: sig.Payload, StartedAt: t0, UpdatedAt: now}}})
		equal(t, "pending after consume", len(pending(t, st, "r1", "")), 0)
		_, err = st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: again.Fence, Now: now, Consume: &store.ConsumedSignal{SignalID: sig.ID, EntrySeq: 1},
			Entries: []*store.Entry{stepEntry("r1", 1, store.EntryRunning, now)}})
		if err == nil {
			t.Fatal("consuming a consumed signal succeeded")
		}
		equal(t, "entries after refused consume", len(entries(t, st, "r1")), 1)
	}},
	{"pending signals list oldest first, by name when asked", func(t *testing.T, st store.Store) {
		insertRun(t, st, "r1", t0)
		insertRun(t, st, "r2", t0)
		a := signal(t, st, "r1", "a", t0)
		signal(t, st, "r2", "a", t0)
		b := signal(t, st, "r1", "b", t0)
		a2 := signal(t, st, "r1", "a", t0)
		sigIDs := func(sigs []*store.Signal) []int64 {
			var ids []int64
			for _, s := range sigs {
				ids = append(ids, s.ID)
			}
			return ids
		}
		equal(t, "all", sigIDs(pending(t, st, "r1", "")), []int64{a.ID, b.ID, a2.ID})
		equal(t, "named a", sigIDs(pending(t, st, "r1", "a")), []int64{a.ID, a2.ID})
		equal(t, "signals received", getRun(t, st, "r1").SignalsReceived, int64(3))
	}},
	{"a signal leaves a sleeping run's wake_at alone", func(t *testing.T, st store.Store) {
		suspended(t, st, "r1", store.StatusSleeping)
		signal(t, st, "r1", "x", at(time.Second))
		got := getRun(t, st, "r1")
		sameTimePtr(t, "wake_at", got.WakeAt, ptr(at(time.Hour)))
		equal(t, "status", got.Status, store.StatusSleeping)
	}},
	{"a signal to a finished run is an invalid transition, to a missing run not found", func(t *testing.T, st store.Store) {
		insertRun(t, st, "r1", t0)
		_, err := st.RunCancel(ctx, &store.RunCancelParams{ID: "r1", Now: t0})
		ok(t, err)
		_, err = st.SignalInsert(ctx, &store.SignalInsertParams{RunID: "r1", Name: "x", Payload: json.RawMessage(`1`), Now: t0})
		wantErr(t, err, store.ErrInvalidTransition)
		equal(t, "pending", len(pending(t, st, "r1", "")), 0)
		equal(t, "signals received", getRun(t, st, "r1").SignalsReceived, int64(0))
		_, err = st.SignalInsert(ctx, &store.SignalInsertParams{RunID: "nope", Name: "x", Now: t0})
		wantErr(t, err, store.ErrNotFound)
	}},
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
