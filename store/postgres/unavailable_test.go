package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/postgres"
)

// terminateBackends ends every server connection of the store opened with
// application_name app, as a server restart does (SQLSTATE 57P01).
func terminateBackends(t *testing.T, url, app string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no connection of %s to terminate", app)
	}
}

// openNamed opens a store on a new schema whose connections carry an
// application_name of their own, for terminateBackends; it is closed when
// t ends.
func openNamed(t *testing.T) (st *postgres.Store, url, app string) {
	t.Helper()
	url = pgtest.URL(t)
	app = fmt.Sprintf("wasmflow-test-%d", time.Now().UnixNano())
	st, err := postgres.Open(context.Background(), url+"&application_name="+app)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, url, app
}

// After the server dropped every connection of the pool, as a restart does,
// the next read is answered (on a new connection) instead of failing, and a
// write reports ErrUnavailable, which a fenced, numbered write may be sent
// again after.
func TestReadsSurviveDroppedConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, url, app := openNamed(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, _, err := st.RunInsert(ctx, &store.RunInsertParams{ID: "r1", ModuleName: "m", ModuleDigest: "sha256:m", Workflow: "w", Now: now}); err != nil {
		t.Fatal(err)
	}
	reads := []struct {
		name string
		read func() error
	}{
		{"count runs", func() error { _, err := st.RunCount(ctx, &store.RunCountParams{}); return err }},
		{"get a run", func() error { _, err := st.RunGetByID(ctx, &store.RunGetByIDParams{ID: "r1"}); return err }},
		{"list runs", func() error { _, err := st.RunList(ctx, &store.RunListParams{}); return err }},
		{"list events", func() error { _, err := st.EventList(ctx, &store.EventListParams{RunID: "r1"}); return err }},
		{"list modules", func() error { _, err := st.ModuleList(ctx, &store.ModuleListParams{}); return err }},
	}
	for _, r := range reads {
		if err := r.read(); err != nil {
			t.Fatalf("%s before: %v", r.name, err)
		}
		terminateBackends(t, url, app)
		if err := r.read(); err != nil {
			t.Errorf("%s after the server dropped the connections: %v", r.name, err)
		}
	}

	runs, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "w", Now: now, LeaseDuration: time.Minute, Limit: 1})
	if err != nil || len(runs) != 1 {
		t.Fatalf("claim: %v, %d runs", err, len(runs))
	}
	terminateBackends(t, url, app)
	p := &store.RunApplyParams{RunID: "r1", Fence: runs[0].Fence, Write: 1, Now: now, Events: []*store.NewEvent{{Type: store.EventCheckpoint}}}
	_, err = st.RunApply(ctx, p)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write on a dropped connection: err = %v, want ErrUnavailable", err)
	}
	res, err := st.RunApply(ctx, p)
	if err != nil || res.Replayed || res.EventCount != 3 {
		t.Fatalf("the same write sent again: %+v, %v; want it applied once, with 3 events", res, err)
	}
}

// A batch whose connection the server dropped answers every write
// ErrUnavailable, and none for good: the same writes sent again commit,
// each once.
func TestBatchOnDroppedConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, url, app := openNamed(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	var ws []*store.RunApplyParams
	for i := range 3 {
		id := fmt.Sprintf("r%d", i)
		if _, _, err := st.RunInsert(ctx, &store.RunInsertParams{ID: id, ModuleName: "m", ModuleDigest: "sha256:m", Workflow: "w", Now: now}); err != nil {
			t.Fatal(err)
		}
		runs, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "w", Now: now, LeaseDuration: time.Minute, Limit: 1, RunID: id})
		if err != nil || len(runs) != 1 {
			t.Fatalf("claim: %v, %d runs", err, len(runs))
		}
		ws = append(ws, &store.RunApplyParams{RunID: id, Fence: runs[0].Fence, Write: 1, Now: now,
			Events: []*store.NewEvent{{Type: store.EventCheckpoint}}})
	}
	terminateBackends(t, url, app)
	for i, o := range st.RunApplyBatch(ctx, ws) {
		if !errors.Is(o.Err, store.ErrUnavailable) {
			t.Fatalf("write %d on a dropped connection: %+v, want ErrUnavailable", i, o)
		}
	}
	for i, o := range st.RunApplyBatch(ctx, ws) {
		if o.Err != nil || o.Result.Replayed || o.Result.EventCount != 3 {
			t.Fatalf("write %d sent again: %+v; want it applied once, with 3 events", i, o)
		}
	}
}
