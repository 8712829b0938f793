package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

var claimScenarios = []scenario{
	{"claim takes runnable runs oldest wake_at first and starts an activation", func(t *testing.T, st store.Store) {
		insertRun(t, st, "r1", at(2*time.Second))
		insertRun(t, st, "r2", at(1*time.Second))
		insertRun(t, st, "r3", at(10*time.Second)) // not yet due
		now := at(5 * time.Second)
		runs, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "w1", Now: now, LeaseDuration: lease, Limit: 10})
		ok(t, err)
		equal(t, "claimed", ids(runs), []string{"r2", "r1"})
		for _, r := range append(runs, getRun(t, st, "r1")) {
			equal(t, "status", r.Status, store.StatusRunning)
			equal(t, "fence", r.Fence, int64(1))
			equal(t, "activations", r.Activations, 1)
			equal(t, "lease owner", r.LeaseOwner, "w1")
			equal(t, "event count", r.EventCount, int64(2))
			sameTimePtr(t, "wake_at (lease expiry)", r.WakeAt, ptr(now.Add(lease)))
			sameTime(t, "updated_at", r.UpdatedAt, now)
		}
		evs := events(t, st, "r1")
		equal(t, "events", eventTypes(evs), []store.EventType{store.EventRunCreated, store.EventActivationStarted})
		sameJSON(t, "activation_started", evs[1].Data, `{"owner":"w1","activation":1}`)
		sameTime(t, "event at", evs[1].At, now)
		claimNone(t, st, now) // leases held, r3 not due
		equal(t, "r3 status", getRun(t, st, "r3").Status, store.StatusPending)
	}},
	{"claim honours limit and run id", func(t *testing.T, st store.Store) {
		for i := range 3 {
			insertRun(t, st, fmt.Sprintf("r%d", i), at(time.Duration(i)*time.Second))
		}
		runs, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "w", Now: at(time.Minute), LeaseDuration: lease, Limit: 1, RunID: "r2"})
		ok(t, err)
		equal(t, "only r2", ids(runs), []string{"r2"})
		runs, err = st.RunClaim(ctx, &store.RunClaimParams{Owner: "w", Now: at(time.Minute), LeaseDuration: lease, Limit: 1})
		ok(t, err)
		equal(t, "limit 1", ids(runs), []string{"r0"})
		runs, err = st.RunClaim(ctx, &store.RunClaimParams{Owner: "w", Now: at(time.Minute), LeaseDuration: lease, Limit: 5, RunID: "r2"})
		ok(t, err)
		equal(t, "r2 again (held)", len(runs), 0)
	}},
	{"a claim after the lease expired gets a new fence and the old holder is fenced off", func(t *testing.T, st store.Store) {
		insertRun(t, st, "r1", t0)
		first := claim(t, st, "r1", "w1", t0)
		claimNone(t, st, t0.Add(lease-time.Microsecond))
		later := t0.Add(lease)
		second := claim(t, st, "r1", "w2", later)
		equal(t, "fence", second.Fence, first.Fence+1)
		equal(t, "activations", second.Activations, 2)
		equal(t, "owner", second.LeaseOwner, "w2")
		evs := events(t, st, "r1")
		sameJSON(t, "second activation_started", evs[2].Data, `{"owner":"w2","activation":2}`)
		_, err := st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: first.Fence, Now: later,
			Entries: []*store.Entry{stepEntry("r1", 0, store.EntryRunning, later)},
			Events:  []*store.NewEvent{{Type: store.EventStepStarted, Step: "step0", At: later}}})
		wantErr(t, err, store.ErrFenced)
		equal(t, "entries after fenced write", len(entries(t, st, "r1")), 0)
		equal(t, "events after fenced write", len(events(t, st, "r1")), 3)
		states, err := st.RunHeartbeat(ctx, &store.RunHeartbeatParams{Owner: "w1", Now: later,
			LeaseDuration: lease, Leases: []store.Lease{{RunID: "r1", Fence: first.Fence}}})
		ok(t, err)
		equal(t, "old lease held", states[0].Held, false)
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: second.Fence, Now: later})
	}},
	{"concurrent claimers never take one run twice", func(t *testing.T, st store.Store) {
		const runs, claimers = 40, 8
		for i := range runs {
			insertRun(t, st, fmt.Sprintf("r%02d", i), at(time.Duration(i)*time.Millisecond))
		}
		var mu sync.Mutex
		taken := map[string][]string{}
		var wg sync.WaitGroup
		errs := make(chan error, claimers)
		for c := range claimers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("w%d", c)
				for {
					got, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: owner, Now: at(time.Minute), LeaseDuration: lease, Limit: 3})
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, r := range got {
						taken[r.ID] = append(taken[r.ID], owner)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("claim: %v", err)
		}
		equal(t, "runs claimed", len(taken), runs)
		for id, owners := range taken {
			if len(owners) != 1 {
				t.Fatalf("run %s claimed by %v", id, owners)
			}
			r := getRun(t, st, id)
			equal(t, "fence of "+id, r.Fence, int64(1))
			equal(t, "owner of "+id, r.LeaseOwner, owners[0])
			equal(t, "events of "+id, len(events(t, st, id)), 2)
		}
	}},
	{"heartbeat extends held leases and reports lost ones and cancellations", func(t *testing.T, st store.Store) {
		insertRun(t, st, "r1", t0)
		insertRun(t, st, "r2", t0)
		insertRun(t, st, "r3", t0)
		r1 := claim(t, st, "r1", "w", t0)
		r2 := claim(t, st, "r2", "w", t0)
		_, err := st.RunCancel(ctx, &store.RunCancelParams{ID: "r2", Now: t0})
		ok(t, err)
		now := at(20 * time.Second)
		states, err := st.RunHeartbeat(ctx, &store.RunHeartbeatParams{Owner: "w", Now: now, LeaseDuration: lease, Leases: []store.Lease{
			{RunID: "r1", Fence: r1.Fence}, {RunID: "r2", Fence: r2.Fence}, {RunID: "r3", Fence: 0}, {RunID: "nope", Fence: 1}, {RunID: "r1", Fence: r1.Fence + 1},
		}})
		ok(t, err)
		got := make([]string, len(states))
		for i, s := range states {
			got[i] = fmt.Sprintf("%s held=%v cancel=%v", s.RunID, s.Held, s.CancelRequested)
		}
		equal(t, "states", got, []string{
			"r1 held=true cancel=false", "r2 held=true cancel=true", "r3 held=false cancel=false",
			"nope held=false cancel=false", "r1 held=false cancel=false",
		})
		sameTimePtr(t, "r1 lease", getRun(t, st, "r1").WakeAt, ptr(now.Add(lease)))
		sameTimePtr(t, "r3 wake_at", getRun(t, st, "r3").WakeAt, &t0)
		claimNoneOf(t, st, "r1", t0.Add(lease)) // extended past its first expiry
	}},
}
