package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/store"
)

// TestFencedApplyLeavesConnectionsClean checks that a refused RunApply rolls
// its batch back and returns the connection to the pool usable, instead of
// leaving it in a failed transaction (which the pool would have to destroy).
func TestFencedApplyLeavesConnectionsClean(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(t)+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	run := runningRun(t, s, now)
	newConns := s.pool.Stat().NewConnsCount()
	for range 10 {
		_, err := s.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: run.Fence + 1, Now: now,
			Events: []*store.NewEvent{{Type: store.EventCheckpoint}}})
		if !errors.Is(err, store.ErrFenced) {
			t.Fatalf("stale apply: err = %v, want ErrFenced", err)
		}
	}
	res, err := s.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: now,
		Events: []*store.NewEvent{{Type: store.EventCheckpoint}}})
	if err != nil {
		t.Fatalf("apply after refused ones: %v", err)
	}
	if res.EventCount != 3 {
		t.Fatalf("event count = %d, want 3", res.EventCount)
	}
	if n := s.pool.Stat().NewConnsCount(); n != newConns {
		t.Fatalf("refused applies made the pool open %d new connections", n-newConns)
	}
}

// TestOpenPlansStatementsOnce checks that the connections Open makes use
// generic plans from a statement's first execution, unless the URL asks
// for another plan_cache_mode, which wins.
func TestOpenPlansStatementsOnce(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	for _, c := range []struct{ url, want string }{
		{url, "force_generic_plan"},
		{url + "&plan_cache_mode=force_custom_plan", "force_custom_plan"},
	} {
		s, err := Open(ctx, c.url)
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		err = s.pool.QueryRow(ctx, "SHOW plan_cache_mode").Scan(&mode)
		s.Close()
		if err != nil || mode != c.want {
			t.Errorf("%s: plan_cache_mode = %q (%v), want %q", c.url, mode, err, c.want)
		}
	}
}

// TestYoungTablesAreAnalysed checks that the store analyses a table that
// has grown well past its last analysis once it has committed the writes
// of a threshold, and leaves the tables that have not.
func TestYoungTablesAreAnalysed(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.analyzeAfter = []int64{3}
	for _, table := range []string{"runs", "entries"} { // so that only the store analyses them
		if _, err := s.pool.Exec(ctx, "ALTER TABLE "+table+" SET (autovacuum_enabled = false)"); err != nil {
			t.Fatal(err)
		}
	}
	pages := func(table string) (n int32) {
		t.Helper()
		if err := s.pool.QueryRow(ctx, `SELECT relpages FROM pg_class WHERE oid = $1::regclass`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	run := runningRun(t, s, now)
	for w := range 3 {
		if pages("entries") != 0 {
			t.Fatalf("entries analysed after %d writes, before the threshold", w)
		}
		var es []*store.Entry
		for seq := w * 500; seq < (w+1)*500; seq++ {
			es = append(es, &store.Entry{RunID: "r1", Seq: seq, Kind: store.EntryStep, Name: "step", Status: store.EntryCompleted, Attempts: 1, Output: []byte(`{"i":1}`)})
		}
		if _, err := s.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: now, Entries: es}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); pages("entries") == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("entries, grown to 1,500 rows, was not analysed after the threshold's writes")
		}
	}
	if n := pages("runs"); n != 0 {
		t.Errorf("runs, of one row, was analysed (%d pages)", n)
	}
}

// runningRun inserts run r1 and claims it at now.
func runningRun(t *testing.T, s *Store, now time.Time) *store.Run {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.RunInsert(ctx, &store.RunInsertParams{ID: "r1", ModuleName: "m", ModuleDigest: "sha256:m", Workflow: "w", Now: now}); err != nil {
		t.Fatal(err)
	}
	runs, err := s.RunClaim(ctx, &store.RunClaimParams{Owner: "w", Now: now, LeaseDuration: time.Minute, Limit: 1})
	if err != nil || len(runs) != 1 {
		t.Fatalf("claim: %v, %d runs", err, len(runs))
	}
	return runs[0]
}

// TestBatchesProbeRunsByKey checks the plans of a batch's statements, as
// Postgres runs them (auto_explain, sent back as notices), on tables as
// young as a new database's: each reads runs through its primary key, never
// by a sequential scan (the plan a table of a few rows gets, kept by every
// connection as the table grows) nor through the claim index (a walk of
// every runnable run, filtered by id).
func TestBatchesProbeRunsByKey(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = planCacheMode
	var mu sync.Mutex
	var plans []string
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		plans = append(plans, n.Message)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	run := runningRun(t, s, now)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_level = notice`)
		return err
	}
	explained, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer explained.Close()
	s.pool = explained
	for w := int64(1); w <= 3; w++ {
		p := &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Write: w, Now: now,
			Entries: []*store.Entry{{RunID: "r1", Seq: int(w), Kind: store.EntryStep, Name: "s", Status: store.EntryCompleted, Attempts: 1, Output: []byte(`{}`)}},
			Events:  []*store.NewEvent{{Type: store.EventStepCompleted, Step: "s"}}}
		if w == 3 {
			p.Status, p.Output = store.StatusCompleted, []byte(`{}`)
		}
		if _, err := s.RunApply(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var fence int
	for _, plan := range plans {
		if strings.Contains(plan, "FOR UPDATE") && strings.Contains(plan, "fence") {
			fence++
		}
		if strings.Contains(plan, "Seq Scan on runs") || strings.Contains(plan, "runs_claim") {
			t.Errorf("a statement of a batch reads runs other than by its key:\n%s", plan)
		}
	}
	if fence != 3 {
		t.Fatalf("%d plans of the fence read among %d plans, want 3", fence, len(plans))
	}
}
