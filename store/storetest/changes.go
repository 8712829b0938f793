package storetest

import (
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// changeScenarios: patch markers (ABI.md, section 5.10) are journal
// entries of kind change, stored as any other entry.
var changeScenarios = []scenario{
	{"a patch marker is a journal entry of kind change, kept by a retry before the failed step", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		marker := &store.Entry{RunID: "r1", Seq: 1, Kind: store.EntryChange, Name: "fix-123", Status: store.EntryCompleted, StartedAt: t0, UpdatedAt: t0}
		es := []*store.Entry{stepEntry("r1", 0, store.EntryCompleted, t0), marker, stepEntry("r1", 2, store.EntryFailed, t0)}
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: t0, Entries: es,
			Events: []*store.NewEvent{store.RunEvent(t0, store.ChangeRecorded{Change: "fix-123"})}})
		got := entries(t, st, "r1")
		equal(t, "entries", len(got), 3)
		sameEntry(t, got[1], marker)
		evs := events(t, st, "r1")
		last := evs[len(evs)-1]
		equal(t, "event", last.Type, store.EventChangeRecorded)
		sameJSON(t, "event data", last.Data, `{"change":"fix-123"}`)

		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: at(time.Second), Status: store.StatusFailed, Error: "boom"})
		_, err := st.RunRetry(ctx, &store.RunRetryParams{ID: "r1", Now: at(time.Minute)})
		ok(t, err)
		kept := entries(t, st, "r1")
		equal(t, "kept entries", len(kept), 2)
		sameEntry(t, kept[1], marker)
	}},
}
