package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

var lagScenarios = []scenario{
	{"lag is zero when no run is runnable", func(t *testing.T, st store.Store) {
		equal(t, "lag of an empty store", lag(t, st, t0), time.Duration(0))
		insertRun(t, st, "r1", at(time.Minute))
		equal(t, "lag before the only run is due", lag(t, st, t0), time.Duration(0))
	}},
	{"lag is the age of the oldest runnable run that nobody holds", func(t *testing.T, st store.Store) {
		insertRun(t, st, "r1", t0)
		insertRun(t, st, "r2", at(time.Second))
		insertRun(t, st, "r3", at(10*time.Second))
		equal(t, "lag with r1 due since t0", lag(t, st, at(5*time.Second)), 5*time.Second)
		claim(t, st, "r1", "w1", at(5*time.Second))
		equal(t, "lag with r1 claimed", lag(t, st, at(5*time.Second)), 4*time.Second)
		r2 := claim(t, st, "r2", "w1", at(6*time.Second))
		equal(t, "lag with r1 and r2 claimed, r3 not due", lag(t, st, at(6*time.Second)), time.Duration(0))
		equal(t, "lag once r3 is due", lag(t, st, at(12*time.Second)), 2*time.Second)

		r3 := claim(t, st, "r3", "w1", at(12*time.Second))
		apply(t, st, &store.RunApplyParams{RunID: "r3", Fence: r3.Fence, Now: at(12 * time.Second), Status: store.StatusWaiting})
		apply(t, st, &store.RunApplyParams{RunID: "r2", Fence: r2.Fence, Now: at(12 * time.Second),
			Status: store.StatusCompleted, Output: json.RawMessage(`1`)})
		equal(t, "lag with a signal wait and a completed run", lag(t, st, at(20*time.Second)), time.Duration(0))
		// r1's lease, taken at 5s, expires at 5s+lease: it is runnable again.
		equal(t, "lag after r1's lease expired", lag(t, st, at(5*time.Second+lease+3*time.Second)), 3*time.Second)
	}},
}

func lag(t *testing.T, st store.Store, now time.Time) time.Duration {
	t.Helper()
	d, err := st.RunLag(ctx, &store.RunLagParams{Now: now})
	ok(t, err)
	return d
}
