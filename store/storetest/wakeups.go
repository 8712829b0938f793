package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// wakeupScenarios cover what a scheduler needs to start runs on time: runs
// created already claimed (foreground runs), and the list of upcoming
// wake-ups its timers are set from.
var wakeupScenarios = []scenario{
	{"run insert with an owner creates the run claimed by that owner", func(t *testing.T, st store.Store) {
		run, created, err := st.RunInsert(ctx, &store.RunInsertParams{
			ID: "r1", ModuleName: "shop", ModuleVersion: "1", ModuleDigest: "sha256:aa", Workflow: "order",
			Input: json.RawMessage(`{"order":7}`), Now: t0, Owner: "w1", LeaseDuration: lease,
		})
		ok(t, err)
		equal(t, "created", created, true)
		for _, r := range []*store.Run{run, getRun(t, st, "r1")} {
			equal(t, "status", r.Status, store.StatusRunning)
			equal(t, "fence", r.Fence, int64(1))
			equal(t, "activations", r.Activations, 1)
			equal(t, "lease owner", r.LeaseOwner, "w1")
			equal(t, "event count", r.EventCount, int64(2))
			sameTimePtr(t, "wake_at (lease expiry)", r.WakeAt, ptr(t0.Add(lease)))
			sameTime(t, "created_at", r.CreatedAt, t0)
		}
		evs := events(t, st, "r1")
		equal(t, "events", eventTypes(evs), []store.EventType{store.EventRunCreated, store.EventActivationStarted})
		sameJSON(t, "activation_started", evs[1].Data, `{"owner":"w1","activation":1}`)
		sameTime(t, "activation_started at", evs[1].At, t0)

		claimNoneOf(t, st, "r1", t0.Add(lease-time.Microsecond)) // its lease is held
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: at(time.Second),
			Status: store.StatusCompleted, Output: json.RawMessage(`1`)})
		equal(t, "status after the owner's write", getRun(t, st, "r1").Status, store.StatusCompleted)
	}},
	{"a run inserted claimed whose lease expires is claimed again with a new fence", func(t *testing.T, st store.Store) {
		first, _, err := st.RunInsert(ctx, &store.RunInsertParams{
			ID: "r1", ModuleName: "shop", ModuleVersion: "1", ModuleDigest: "sha256:aa", Workflow: "order",
			Now: t0, Owner: "w1", LeaseDuration: lease,
		})
		ok(t, err)
		second := claim(t, st, "r1", "w2", t0.Add(lease))
		equal(t, "fence", second.Fence, first.Fence+1)
		equal(t, "activations", second.Activations, 2)
		_, err = st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: first.Fence, Now: t0.Add(lease)})
		wantErr(t, err, store.ErrFenced)
	}},
	{"run insert with an owner and a reused idempotency key leaves the existing run as it is", func(t *testing.T, st store.Store) {
		p := &store.RunInsertParams{ID: "r1", ModuleName: "shop", ModuleVersion: "1", ModuleDigest: "sha256:aa",
			Workflow: "order", IdempotencyKey: "k", Now: t0}
		_, _, err := st.RunInsert(ctx, p)
		ok(t, err)
		p2 := *p
		p2.ID, p2.Owner, p2.LeaseDuration = "r2", "w1", lease
		again, created, err := st.RunInsert(ctx, &p2)
		ok(t, err)
		equal(t, "created", created, false)
		equal(t, "id", again.ID, "r1")
		equal(t, "status", again.Status, store.StatusPending)
		equal(t, "lease owner", again.LeaseOwner, "")
		equal(t, "events", eventTypes(events(t, st, "r1")), []store.EventType{store.EventRunCreated})
	}},
	{"wake-ups list runs that are not running, earliest first, after a time", func(t *testing.T, st store.Store) {
		equal(t, "wake-ups of an empty store", wakeups(t, st, 10), []string(nil))
		insertRun(t, st, "new", at(3*time.Second))
		insertRun(t, st, "held", t0)
		claim(t, st, "held", "w", t0) // running: its wake_at is its lease expiry
		for i, d := range []time.Duration{5 * time.Second, time.Second, 4 * time.Second} {
			id := fmt.Sprintf("nap%d", i)
			r := insertRun(t, st, id, t0)
			r = claim(t, st, id, "w", t0)
			apply(t, st, &store.RunApplyParams{RunID: id, Fence: r.Fence, Now: t0, Status: store.StatusSleeping, WakeAt: ptr(at(d))})
		}
		w := insertRun(t, st, "wait", t0)
		w = claim(t, st, "wait", "w", t0)
		apply(t, st, &store.RunApplyParams{RunID: "wait", Fence: w.Fence, Now: t0, Status: store.StatusWaiting}) // no timeout
		wt := insertRun(t, st, "timeout", t0)
		wt = claim(t, st, "timeout", "w", t0)
		apply(t, st, &store.RunApplyParams{RunID: "timeout", Fence: wt.Fence, Now: t0, Status: store.StatusWaiting, WakeAt: ptr(at(2 * time.Second))})
		done := insertRun(t, st, "done", t0)
		done = claim(t, st, "done", "w", t0)
		apply(t, st, &store.RunApplyParams{RunID: "done", Fence: done.Fence, Now: t0, Status: store.StatusCompleted, Output: json.RawMessage(`1`)})

		equal(t, "wake-ups", wakeups(t, st, 10), []string{
			"nap1@1s", "timeout@2s", "new@3s", "nap2@4s", "nap0@5s",
		})
		equal(t, "the first three", wakeups(t, st, 3), []string{"nap1@1s", "timeout@2s", "new@3s"})
		got, err := st.RunListWakeups(ctx, &store.RunListWakeupsParams{Limit: 1})
		ok(t, err)
		sameTime(t, "first wake-up", got[0].At, at(time.Second))
		got, err = st.RunListWakeups(ctx, &store.RunListWakeupsParams{After: at(2 * time.Second), Limit: 10})
		ok(t, err)
		equal(t, "wake-ups after 2s", len(got), 3)
		equal(t, "first wake-up after 2s", got[0].RunID, "new")

		// A claim of what is due takes the runs the wake-ups named, in order.
		runs, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "w2", Now: at(3 * time.Second), LeaseDuration: lease, Limit: 10})
		ok(t, err)
		equal(t, "claimed at 3s", ids(runs), []string{"nap1", "timeout", "new"})
		equal(t, "wake-ups after the claim", wakeups(t, st, 10), []string{"nap2@4s", "nap0@5s"})
	}},
}

// wakeups lists up to limit wake-ups as "id@offset from t0".
func wakeups(t *testing.T, st store.Store, limit int) []string {
	t.Helper()
	ws, err := st.RunListWakeups(ctx, &store.RunListWakeupsParams{Limit: limit})
	ok(t, err)
	var s []string
	for _, w := range ws {
		s = append(s, fmt.Sprintf("%s@%s", w.RunID, w.At.Sub(t0)))
	}
	return s
}
