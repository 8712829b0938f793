package host_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/store"
)

// forEachStoreKind runs f once per store implementation, each with a fresh
// database: the bulk operations and retention do not depend on the engine.
func forEachStoreKind(t *testing.T, f func(t *testing.T, st store.Store)) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f(t, openStore(t, kind))
		})
	}
}

// bulkHost is a host without workers on st (nothing runs the runs the
// tests make), with cfg's retention.
func bulkHost(t *testing.T, st store.Store, retention, interval time.Duration) *host.Host {
	t.Helper()
	ctx := context.Background()
	h, err := host.New(ctx, &host.Config{Store: st, Workers: -1, Retention: retention, RetentionInterval: interval,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	t.Cleanup(func() {
		h.Shutdown(ctx)
		h.Close(ctx)
	})
	return h
}

// makeRuns makes n runs of module's workflow "order" that end, after one
// activation at now, in status (waiting for a signal, failed, completed),
// and returns their ids.
func makeRuns(t *testing.T, st store.Store, module string, n int, status store.RunStatus, now time.Time) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
		wg.Add(1)
		sem <- struct{}{}
		go func(id string) {
			defer func() { <-sem; wg.Done() }()
			ctx := context.Background()
			run, _, err := st.RunInsert(ctx, &store.RunInsertParams{ID: id, ModuleName: module, ModuleVersion: "1", ModuleDigest: "sha256:aa",
				Workflow: "order", Input: json.RawMessage(`{}`), Now: now, Owner: "seed", LeaseDuration: time.Hour})
			if err != nil {
				errs <- err
				return
			}
			p := &store.RunApplyParams{RunID: id, Fence: run.Fence, Now: now, Status: status,
				Entries: []*store.Entry{{RunID: id, Seq: 1, Kind: store.EntryStep, Name: "charge", Status: store.EntryCompleted,
					Attempts: 1, Output: []byte(`{}`), StartedAt: now, UpdatedAt: now}}}
			switch status {
			case store.StatusFailed:
				p.Error = "boom"
				p.Entries = append(p.Entries, &store.Entry{RunID: id, Seq: 2, Kind: store.EntryStep, Name: "ship",
					Status: store.EntryFailed, Attempts: 1, Error: "boom", StartedAt: now, UpdatedAt: now})
			case store.StatusCompleted:
				p.Output = json.RawMessage(`{"ok":true}`)
			}
			if _, err := st.RunApply(ctx, p); err != nil {
				errs <- err
			}
		}(ids[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// statuses counts the runs of module by status.
func statuses(t *testing.T, st store.Store, module string) map[store.RunStatus]int64 {
	t.Helper()
	groups, err := st.RunCount(context.Background(), &store.RunCountParams{Module: module})
	if err != nil {
		t.Fatal(err)
	}
	got := map[store.RunStatus]int64{}
	for _, g := range groups {
		got[g.Status] += g.Count
	}
	return got
}

func sameCounts(t *testing.T, what string, got, want map[store.RunStatus]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
	for s, n := range want {
		if got[s] != n {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
}

func TestCancelRunsByFilter(t *testing.T) {
	t.Parallel()
	forEachStoreKind(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		h := bulkHost(t, st, 0, 0)
		now := time.Now().UTC().Truncate(time.Microsecond)
		makeRuns(t, st, "shop", 1000, store.StatusWaiting, now)
		makeRuns(t, st, "shop", 3, store.StatusCompleted, now)
		makeRuns(t, st, "mail", 20, store.StatusWaiting, now)

		dry, err := h.CancelRuns(ctx, &host.RunFilter{Module: "shop", Status: store.StatusWaiting}, true)
		if err != nil {
			t.Fatal(err)
		}
		if dry.Matched != 1000 || dry.Done != 0 {
			t.Fatalf("dry run: %+v, want 1000 matched and none done", dry)
		}
		sameCounts(t, "after the dry run", statuses(t, st, "shop"), map[store.RunStatus]int64{store.StatusWaiting: 1000, store.StatusCompleted: 3})

		began := time.Now()
		res, err := h.CancelRuns(ctx, &host.RunFilter{Module: "shop"}, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("cancelled %d runs in %s", res.Done, time.Since(began).Round(time.Millisecond))
		if res.Matched != 1000 || res.Done != 1000 || res.Requested != 0 || len(res.Skipped) != 0 {
			t.Fatalf("cancel: %+v, want 1000 matched and cancelled", res)
		}
		sameCounts(t, "shop", statuses(t, st, "shop"), map[store.RunStatus]int64{store.StatusCancelled: 1000, store.StatusCompleted: 3})
		sameCounts(t, "another module", statuses(t, st, "mail"), map[store.RunStatus]int64{store.StatusWaiting: 20})
		again, err := h.CancelRuns(ctx, &host.RunFilter{Module: "shop"}, true)
		if err != nil || again.Matched != 0 {
			t.Fatalf("dry run after: %+v, %v; want nothing left to cancel", again, err)
		}
	})
}

func TestBulkRefusesWhatItCannotDo(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	h := bulkHost(t, st, 0, 0)
	makeRuns(t, st, "shop", 2, store.StatusWaiting, time.Now())
	ctx := context.Background()
	for name, call := range map[string]func() (*host.BulkResult, error){
		"cancel without a filter": func() (*host.BulkResult, error) { return h.CancelRuns(ctx, &host.RunFilter{}, false) },
		"retry without a filter":  func() (*host.BulkResult, error) { return h.RetryRuns(ctx, &host.RunFilter{}, true) },
		"cancel of finished runs": func() (*host.BulkResult, error) {
			return h.CancelRuns(ctx, &host.RunFilter{Status: store.StatusCompleted}, true)
		},
		"retry of waiting runs": func() (*host.BulkResult, error) {
			return h.RetryRuns(ctx, &host.RunFilter{Status: store.StatusWaiting}, true)
		},
		"a version without its module":  func() (*host.BulkResult, error) { return h.CancelRuns(ctx, &host.RunFilter{ModuleVersion: "1"}, true) },
		"a status that is not a status": func() (*host.BulkResult, error) { return h.CancelRuns(ctx, &host.RunFilter{Status: "asleep"}, true) },
	} {
		if _, err := call(); host.KindOf(err) != host.ErrInvalid {
			t.Errorf("%s: %v, want %s", name, err, host.ErrInvalid)
		}
	}
	sameCounts(t, "runs", statuses(t, st, "shop"), map[store.RunStatus]int64{store.StatusWaiting: 2})
	res, err := h.CancelRuns(ctx, &host.RunFilter{All: true}, false)
	if err != nil || res.Done != 2 {
		t.Fatalf("cancel of all, asked for: %+v, %v", res, err)
	}
}

func TestRetryRunsByFilter(t *testing.T) {
	t.Parallel()
	forEachStoreKind(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		h := bulkHost(t, st, 0, 0)
		now := time.Now().UTC().Truncate(time.Microsecond)
		failed := makeRuns(t, st, "shop", 30, store.StatusFailed, now)
		makeRuns(t, st, "shop", 4, store.StatusCompleted, now)
		makeRuns(t, st, "mail", 5, store.StatusFailed, now)

		dry, err := h.RetryRuns(ctx, &host.RunFilter{Module: "shop", Workflow: "order"}, true)
		if err != nil || dry.Matched != 30 {
			t.Fatalf("dry run: %+v, %v; want 30 matched", dry, err)
		}
		res, err := h.RetryRuns(ctx, &host.RunFilter{Module: "shop", ModuleVersion: "1", Status: store.StatusFailed}, false)
		if err != nil || res.Matched != 30 || res.Done != 30 {
			t.Fatalf("retry: %+v, %v; want 30 retried", res, err)
		}
		sameCounts(t, "shop", statuses(t, st, "shop"), map[store.RunStatus]int64{store.StatusPending: 30, store.StatusCompleted: 4})
		sameCounts(t, "another module", statuses(t, st, "mail"), map[store.RunStatus]int64{store.StatusFailed: 5})
		run, err := st.RunGetByID(ctx, &store.RunGetByIDParams{ID: failed[0]})
		if err != nil || run.Attempt != 2 {
			t.Fatalf("a retried run: %+v, %v; want attempt 2", run, err)
		}
	})
}

func TestRetentionPurgesOldFinishedRuns(t *testing.T) {
	t.Parallel()
	forEachStoreKind(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		old := makeRuns(t, st, "shop", 1200, store.StatusCompleted, now.Add(-3*time.Hour))
		makeRuns(t, st, "shop", 7, store.StatusFailed, now.Add(-3*time.Hour))
		makeRuns(t, st, "shop", 5, store.StatusCompleted, now)
		makeRuns(t, st, "shop", 6, store.StatusWaiting, now.Add(-3*time.Hour))

		h := bulkHost(t, st, time.Hour, 50*time.Millisecond)
		deadline := time.Now().Add(30 * time.Second)
		for statuses(t, st, "shop")[store.StatusFailed] > 0 || statuses(t, st, "shop")[store.StatusCompleted] > 5 {
			if time.Now().After(deadline) {
				t.Fatalf("retention left %v", statuses(t, st, "shop"))
			}
			time.Sleep(20 * time.Millisecond)
		}
		sameCounts(t, "kept", statuses(t, st, "shop"), map[store.RunStatus]int64{store.StatusCompleted: 5, store.StatusWaiting: 6})
		evs, err := st.EventList(ctx, &store.EventListParams{RunID: old[0]})
		if err != nil || len(evs) != 0 {
			t.Fatalf("events of a purged run: %d, %v", len(evs), err)
		}
		// The counter is added to after the batch's delete commits: wait for it
		// as for the rows.
		for got := purgedTotal(t, h); got != 1207; got = purgedTotal(t, h) {
			if got > 1207 || time.Now().After(deadline) {
				t.Fatalf("wasmflow_runs_purged_total = %v, want 1207", got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func purgedTotal(t *testing.T, h *host.Host) float64 {
	t.Helper()
	mfs, err := h.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "wasmflow_runs_purged_total" {
			var m *dto.Metric = mf.GetMetric()[0]
			return m.GetCounter().GetValue()
		}
	}
	t.Fatal("no wasmflow_runs_purged_total")
	return 0
}

func TestPurgeRunsOnDemand(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	h := bulkHost(t, st, 0, 0)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	makeRuns(t, st, "shop", 3, store.StatusCompleted, now.Add(-time.Hour))
	makeRuns(t, st, "shop", 2, store.StatusFailed, now.Add(-time.Hour))
	dry, err := h.PurgeRuns(ctx, &host.PurgeRunsParams{Before: now, Status: store.StatusFailed, DryRun: true})
	if err != nil || dry.Matched != 2 || dry.Purged != 0 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	res, err := h.PurgeRuns(ctx, &host.PurgeRunsParams{Before: now, Status: store.StatusFailed})
	if err != nil || res.Purged != 2 || res.Batches != 1 {
		t.Fatalf("purge: %+v, %v", res, err)
	}
	sameCounts(t, "left", statuses(t, st, "shop"), map[store.RunStatus]int64{store.StatusCompleted: 3})
	for name, p := range map[string]*host.PurgeRunsParams{
		"no time":               {},
		"a status not finished": {Before: now, Status: store.StatusWaiting},
	} {
		if _, err := h.PurgeRuns(ctx, p); host.KindOf(err) != host.ErrInvalid {
			t.Errorf("%s: %v, want %s", name, err, host.ErrInvalid)
		}
	}
}
