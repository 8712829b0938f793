package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

func ids(runs []*store.Run) []string {
	s := make([]string, len(runs))
	for i, r := range runs {
		s[i] = r.ID
	}
	return s
}

var runScenarios = []scenario{
	{"run insert creates a pending run, runnable at once, with a run_created event", func(t *testing.T, st store.Store) {
		run := insertRun(t, st, "r1", t0)
		got := getRun(t, st, "r1")
		for _, r := range []*store.Run{run, got} {
			equal(t, "status", r.Status, store.StatusPending)
			equal(t, "module", r.ModuleName+"@"+r.ModuleVersion+"/"+r.ModuleDigest, "shop@1/sha256:aa")
			equal(t, "workflow", r.Workflow, "order")
			sameJSON(t, "input", r.Input, `{"order":7}`)
			equal(t, "attempt", r.Attempt, 1)
			equal(t, "fence", r.Fence, int64(0))
			equal(t, "activations", r.Activations, 0)
			equal(t, "event count", r.EventCount, int64(1))
			equal(t, "output", r.Output, json.RawMessage(nil))
			equal(t, "progress", r.Progress, json.RawMessage(nil))
			equal(t, "lease owner", r.LeaseOwner, "")
			sameTimePtr(t, "wake_at", r.WakeAt, &t0)
			sameTime(t, "created_at", r.CreatedAt, t0)
			sameTime(t, "updated_at", r.UpdatedAt, t0)
			sameTimePtr(t, "completed_at", r.CompletedAt, nil)
		}
		evs := events(t, st, "r1")
		equal(t, "events", eventTypes(evs), []store.EventType{store.EventRunCreated})
		sameTime(t, "event at", evs[0].At, t0)
		_, err := st.RunGetByID(ctx, &store.RunGetByIDParams{ID: "nope"})
		wantErr(t, err, store.ErrNotFound)
	}},
	{"run insert with a reused idempotency key returns the existing run", func(t *testing.T, st store.Store) {
		p := &store.RunInsertParams{ID: "r1", ModuleName: "shop", ModuleVersion: "1", ModuleDigest: "sha256:aa",
			Workflow: "order", Input: json.RawMessage(`1`), IdempotencyKey: "k", Now: t0}
		first, created, err := st.RunInsert(ctx, p)
		ok(t, err)
		equal(t, "created", created, true)
		equal(t, "key", first.IdempotencyKey, "k")
		p2 := *p
		p2.ID, p2.Input = "r2", json.RawMessage(`2`)
		again, created, err := st.RunInsert(ctx, &p2)
		ok(t, err)
		equal(t, "created", created, false)
		equal(t, "id", again.ID, "r1")
		sameJSON(t, "input", again.Input, `1`)
		_, err = st.RunGetByID(ctx, &store.RunGetByIDParams{ID: "r2"})
		wantErr(t, err, store.ErrNotFound)
		equal(t, "events of r1", len(events(t, st, "r1")), 1)
		// Runs without a key never collide; another key is another run.
		p3 := p2
		p3.ID, p3.IdempotencyKey = "r3", "other"
		_, created, err = st.RunInsert(ctx, &p3)
		ok(t, err)
		equal(t, "created with another key", created, true)
		insertRun(t, st, "r4", t0)
		insertRun(t, st, "r5", t0)
		runs, err := st.RunList(ctx, &store.RunListParams{})
		ok(t, err)
		equal(t, "runs", ids(runs), []string{"r5", "r4", "r3", "r1"})
	}},
	{"run insert without a digest resolves its module in the insert", func(t *testing.T, st store.Store) {
		mod := func(version, digest string, workflows ...string) {
			_, _, err := st.ModuleInsert(ctx, &store.ModuleInsertParams{Name: "shop", Version: version, Digest: digest,
				Bytes: []byte("wasm:" + digest), Workflows: workflows, Now: at(time.Duration(len(version)) * time.Second)})
			ok(t, err)
		}
		mod("1", "sha256:01", "order", "refund")
		mod("22", "sha256:02", "order")
		resolve := func(id, version, workflow, key string) (*store.Run, bool, error) {
			return st.RunInsert(ctx, &store.RunInsertParams{ID: id, ModuleName: "shop", ModuleVersion: version,
				Workflow: workflow, IdempotencyKey: key, Now: at(time.Minute), Owner: "host-a", LeaseDuration: time.Minute})
		}
		run, created, err := resolve("r1", "", "order", "")
		ok(t, err)
		equal(t, "created", created, true)
		for _, r := range []*store.Run{run, getRun(t, st, "r1")} {
			equal(t, "latest", r.ModuleName+"@"+r.ModuleVersion+"/"+r.ModuleDigest, "shop@22/sha256:02")
			equal(t, "status", r.Status, store.StatusRunning)
		}
		evs := events(t, st, "r1")
		equal(t, "events", eventTypes(evs), []store.EventType{store.EventRunCreated, store.EventActivationStarted})
		sameJSON(t, "run_created", evs[0].Data, `{"module":"shop","version":"22","workflow":"order"}`)
		run, _, err = resolve("r2", "1", "refund", "")
		ok(t, err)
		equal(t, "named version", run.ModuleVersion+"/"+run.ModuleDigest, "1/sha256:01")
		// The latest version lacks the workflow: an older one that has it
		// is not taken.
		_, _, err = resolve("r3", "", "refund", "")
		wantErr(t, err, store.ErrNotFound)
		_, _, err = resolve("r4", "3", "order", "")
		wantErr(t, err, store.ErrNotFound)
		_, err = st.RunGetByID(ctx, &store.RunGetByIDParams{ID: "r3"})
		wantErr(t, err, store.ErrNotFound)
		_, _, err = st.RunInsert(ctx, &store.RunInsertParams{ID: "r5", ModuleName: "nope", Workflow: "order", Now: t0})
		wantErr(t, err, store.ErrNotFound)
		// A key already held returns its run, resolved or not.
		first, created, err := resolve("r6", "", "order", "k")
		ok(t, err)
		equal(t, "created with a key", created, true)
		again, created, err := resolve("r7", "", "order", "k")
		ok(t, err)
		equal(t, "created again", created, false)
		equal(t, "run of the key", again.ID, first.ID)
		// A child names its digest.
		_, _, err = st.RunInsert(ctx, &store.RunInsertParams{ID: "c1", ModuleName: "shop", Workflow: "order", ParentID: "r1", Now: t0})
		if err == nil {
			t.Fatal("a child run inserted without its module's digest")
		}
	}},
	{"run list pages newest first and filters", func(t *testing.T, st store.Store) {
		for i := 1; i <= 55; i++ {
			wf := "order"
			if i%2 == 0 {
				wf = "refund"
			}
			_, _, err := st.RunInsert(ctx, &store.RunInsertParams{ID: fmt.Sprintf("r%02d", i), ModuleName: fmt.Sprintf("m%d", i%3),
				ModuleVersion: "1", ModuleDigest: "sha256:aa", Workflow: wf, Input: json.RawMessage(`null`), Now: at(time.Duration(i) * time.Second)})
			ok(t, err)
		}
		all, err := st.RunList(ctx, &store.RunListParams{})
		ok(t, err)
		equal(t, "default page size", len(all), 50)
		equal(t, "first", all[0].ID, "r55")
		page, err := st.RunList(ctx, &store.RunListParams{Limit: 3, After: "r50"})
		ok(t, err)
		equal(t, "page after r50", ids(page), []string{"r49", "r48", "r47"})
		page, err = st.RunList(ctx, &store.RunListParams{Limit: 3, Workflow: "refund", Module: "m1", After: "r40"})
		ok(t, err)
		equal(t, "refunds of m1 after r40", ids(page), []string{"r34", "r28", "r22"})
		_, err = st.RunCancel(ctx, &store.RunCancelParams{ID: "r07", Now: at(time.Minute)})
		ok(t, err)
		page, err = st.RunList(ctx, &store.RunListParams{Status: store.StatusCancelled})
		ok(t, err)
		equal(t, "cancelled", ids(page), []string{"r07"})
	}},
	{"run list filters by module version and idempotency key", func(t *testing.T, st store.Store) {
		insertRuns(t, st, []store.RunInsertParams{
			{ID: "r1", ModuleName: "shop", ModuleVersion: "1", Workflow: "order", IdempotencyKey: "order-1"},
			{ID: "r2", ModuleName: "shop", ModuleVersion: "2", Workflow: "order", IdempotencyKey: "order-2"},
			{ID: "r3", ModuleName: "shop", ModuleVersion: "2", Workflow: "order"},
			{ID: "r4", ModuleName: "mail", ModuleVersion: "2", Workflow: "order", IdempotencyKey: "order-4"},
		})
		page, err := st.RunList(ctx, &store.RunListParams{Module: "shop", ModuleVersion: "2"})
		ok(t, err)
		equal(t, "runs of shop@2", ids(page), []string{"r3", "r2"})
		page, err = st.RunList(ctx, &store.RunListParams{IdempotencyKey: "order-2"})
		ok(t, err)
		equal(t, "runs with key order-2", ids(page), []string{"r2"})
		page, err = st.RunList(ctx, &store.RunListParams{IdempotencyKey: "order"})
		ok(t, err)
		equal(t, "runs with key order (keys match whole)", ids(page), []string{})
	}},
	{"run count groups runs by module version, workflow and status", func(t *testing.T, st store.Store) {
		counts, err := st.RunCount(ctx, &store.RunCountParams{})
		ok(t, err)
		equal(t, "groups of no runs", len(counts), 0)
		insertRuns(t, st, []store.RunInsertParams{
			{ID: "r1", ModuleName: "shop", ModuleVersion: "1", Workflow: "order"},
			{ID: "r2", ModuleName: "shop", ModuleVersion: "1", Workflow: "order"},
			{ID: "r3", ModuleName: "shop", ModuleVersion: "1", Workflow: "refund"},
			{ID: "r4", ModuleName: "shop", ModuleVersion: "2", Workflow: "order"},
			{ID: "r5", ModuleName: "mail", ModuleVersion: "1", Workflow: "send"},
		})
		_, err = st.RunCancel(ctx, &store.RunCancelParams{ID: "r2", Now: at(time.Minute)})
		ok(t, err)
		type group struct {
			module, version, workflow string
			status                    store.RunStatus
			count                     int64
		}
		groups := func(counts []*store.RunCount) []group {
			g := []group{}
			for _, c := range counts {
				g = append(g, group{c.ModuleName, c.ModuleVersion, c.Workflow, c.Status, c.Count})
			}
			return g
		}
		counts, err = st.RunCount(ctx, &store.RunCountParams{})
		ok(t, err)
		equal(t, "all groups", groups(counts), []group{
			{"mail", "1", "send", store.StatusPending, 1},
			{"shop", "1", "order", store.StatusCancelled, 1},
			{"shop", "1", "order", store.StatusPending, 1},
			{"shop", "1", "refund", store.StatusPending, 1},
			{"shop", "2", "order", store.StatusPending, 1},
		})
		counts, err = st.RunCount(ctx, &store.RunCountParams{Module: "shop", Workflow: "order"})
		ok(t, err)
		equal(t, "orders of shop", groups(counts), []group{
			{"shop", "1", "order", store.StatusCancelled, 1},
			{"shop", "1", "order", store.StatusPending, 1},
			{"shop", "2", "order", store.StatusPending, 1},
		})
		counts, err = st.RunCount(ctx, &store.RunCountParams{Module: "shop", ModuleVersion: "1", Workflow: "refund"})
		ok(t, err)
		equal(t, "refunds of shop@1", groups(counts), []group{{"shop", "1", "refund", store.StatusPending, 1}})
	}},
}

// insertRuns inserts runs, filling in the digest, the input and the time.
func insertRuns(t *testing.T, st store.Store, runs []store.RunInsertParams) {
	t.Helper()
	for i, p := range runs {
		p.ModuleDigest, p.Input, p.Now = "sha256:"+p.ModuleName+p.ModuleVersion, json.RawMessage(`null`), at(time.Duration(i)*time.Second)
		_, created, err := st.RunInsert(ctx, &p)
		ok(t, err)
		equal(t, "created "+p.ID, created, true)
	}
}
