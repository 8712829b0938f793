package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/internal/pgstat"
	"github.com/wasmflow/wasmflow/store"
)

// purgeBench is `wasmflow bench --purge N`: it seeds N finished runs, has
// the bench's clients start and complete runs for a while, then purges the
// seeded runs as retention does (host.PurgeRuns) while the clients go on,
// and compares the clients' latency during the purge with before it. On
// Postgres it samples, during the purge, the sessions that wait for a lock
// held by the purge's statement.
type purgeBench struct {
	bench   *bench
	store   store.Store
	dbURL   string // postgres only; empty otherwise
	log     *slog.Logger
	seed    int
	clients int
	before  time.Duration // how long the clients run before the purge starts
}

// purgeResult is what `wasmflow bench --purge N --json` prints.
type purgeResult struct {
	Seeded        int     `json:"seeded"`
	SeedSeconds   float64 `json:"seed_seconds"`
	Purged        int64   `json:"purged"`
	Batches       int     `json:"batches"`
	PurgeSeconds  float64 `json:"purge_seconds"`
	RunsPerSecond float64 `json:"purged_runs_per_sec"`
	Clients       int     `json:"clients"`
	Mode          string  `json:"mode"`
	Before        phase   `json:"before"`
	During        phase   `json:"during"`
	// Lock waits sampled during the purge (Postgres only).
	LockSamples       int `json:"lock_samples,omitempty"`
	WaitsOnPurge      int `json:"waits_on_purge"`       // sessions seen waiting for a lock the purge held
	ClaimWaitsOnPurge int `json:"claim_waits_on_purge"` // of which claims
	MaxLockWaiters    int `json:"max_lock_waiters"`     // sessions waiting for any lock, at most, in one sample
	// The claim statement's mean execution time before and during the
	// purge, from pg_stat_statements (Postgres, when the server loads it).
	ClaimsBefore      int64   `json:"claims_before,omitempty"`
	ClaimMeanMSBefore float64 `json:"claim_mean_ms_before,omitempty"`
	ClaimsDuring      int64   `json:"claims_during,omitempty"`
	ClaimMeanMSDuring float64 `json:"claim_mean_ms_during,omitempty"`
}

// phase is the clients' runs that started and completed in one period.
type phase struct {
	Runs       int     `json:"runs"`
	RunsPerSec float64 `json:"runs_per_sec"`
	P50MS      float64 `json:"p50_ms"`
	P99MS      float64 `json:"p99_ms"`
	MaxMS      float64 `json:"max_ms"`
}

// sample is one client run: when it started and how long it took.
type sample struct {
	at time.Time
	d  time.Duration
}

func (pb *purgeBench) run(ctx context.Context) (*purgeResult, error) {
	r := &purgeResult{Seeded: pb.seed, Clients: pb.clients, Mode: "foreground"}
	if pb.bench.background {
		r.Mode = "background"
	}
	start := time.Now()
	finished := start.Add(-2 * time.Hour).UTC().Truncate(time.Microsecond)
	if err := seedFinished(ctx, pb.store, pb.seed, finished); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	r.SeedSeconds = time.Since(start).Seconds()
	pb.log.Warn("bench: seeded finished runs", "runs", pb.seed, "took", time.Since(start).Round(time.Millisecond).String())

	var claims *claimTimes
	if pb.dbURL != "" {
		claims = openClaimTimes(ctx, pb.dbURL, pb.log)
		defer claims.close()
	}
	c0 := claims.read(ctx)
	clientsStart := time.Now()
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	var samples []sample
	var clientErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range pb.clients {
		wg.Go(func() {
			for cctx.Err() == nil {
				at := time.Now()
				d, err := pb.bench.one(cctx)
				if err != nil {
					if cctx.Err() == nil {
						clientErr.Store(&err)
						stop()
					}
					return
				}
				mu.Lock()
				samples = append(samples, sample{at, d})
				mu.Unlock()
			}
		})
	}
	select {
	case <-cctx.Done():
	case <-time.After(pb.before):
	}
	c1 := claims.read(ctx)
	purgeStart := time.Now()
	var locks *lockSampler
	if pb.dbURL != "" {
		locks = startLockSampler(cctx, pb.dbURL, pb.log)
	}
	res, err := pb.bench.host.PurgeRuns(cctx, &host.PurgeRunsParams{Before: finished.Add(time.Minute)})
	purgeEnd := time.Now()
	c2 := claims.read(ctx)
	locks.stop(r)
	stop()
	wg.Wait()
	if e := clientErr.Load(); e != nil {
		return nil, *e
	}
	if err != nil {
		return nil, fmt.Errorf("purge: %w", err)
	}
	r.Purged, r.Batches, r.PurgeSeconds = res.Purged, res.Batches, purgeEnd.Sub(purgeStart).Seconds()
	r.RunsPerSecond = float64(r.Purged) / r.PurgeSeconds
	r.Before = phaseOf(samples, clientsStart, purgeStart)
	r.During = phaseOf(samples, purgeStart, purgeEnd)
	if c0 != nil && c1 != nil && c2 != nil {
		r.ClaimsBefore, r.ClaimMeanMSBefore = c1.since(c0)
		r.ClaimsDuring, r.ClaimMeanMSDuring = c2.since(c1)
	}
	return r, nil
}

// phaseOf is the runs of samples that started at from or later and
// completed by to.
func phaseOf(samples []sample, from, to time.Time) phase {
	var ds []time.Duration
	for _, s := range samples {
		if !s.at.Before(from) && !s.at.Add(s.d).After(to) {
			ds = append(ds, s.d)
		}
	}
	p := phase{Runs: len(ds), RunsPerSec: float64(len(ds)) / to.Sub(from).Seconds()}
	if len(ds) == 0 {
		return p
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	pct := func(q float64) float64 { return ms(ds[int(math.Ceil(q*float64(len(ds))))-1]) }
	p.P50MS, p.P99MS, p.MaxMS = pct(0.50), pct(0.99), ms(ds[len(ds)-1])
	return p
}

// seedFinished makes n runs that completed at finished, each as a run of
// the bench's 3-step workflow leaves its rows: a journal of three steps and
// a timeline of eight events.
func seedFinished(ctx context.Context, st store.Store, n int, finished time.Time) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for int(next.Add(1)) <= n && ctx.Err() == nil {
				if err := seedOne(ctx, st, finished); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

func seedOne(ctx context.Context, st store.Store, at time.Time) error {
	id := uuid.Must(uuid.NewV7()).String()
	run, _, err := st.RunInsert(ctx, &store.RunInsertParams{ID: id, ModuleName: "bench", ModuleVersion: "seed", ModuleDigest: "sha256:seed",
		Workflow: "steps", Input: json.RawMessage(`{"steps":3,"payload_bytes":0}`), Now: at, Owner: "bench-seed", LeaseDuration: 24 * time.Hour}) // the lease outlasts the two-hour-old start
	if err != nil {
		return err
	}
	p := &store.RunApplyParams{RunID: id, Fence: run.Fence, Write: 1, Now: at, Status: store.StatusCompleted,
		Output: json.RawMessage(`{"steps":3}`)}
	for i, name := range []string{"step-1", "step-2", "step-3"} {
		p.Entries = append(p.Entries, &store.Entry{RunID: id, Seq: i + 1, Kind: store.EntryStep, Name: name, Status: store.EntryCompleted,
			Attempts: 1, Output: []byte(`{"i":` + fmt.Sprint(i) + `}`), StartedAt: at, UpdatedAt: at})
		p.Events = append(p.Events, &store.NewEvent{Type: store.EventStepStarted, Step: name, At: at},
			&store.NewEvent{Type: store.EventStepCompleted, Step: name, At: at})
	}
	p.Events = append(p.Events, &store.NewEvent{Type: store.EventRunCompleted, At: at})
	_, err = st.RunApply(ctx, p)
	return err
}

func (r *purgeResult) print(w io.Writer) {
	fmt.Fprintf(w, "purge of %d finished runs (seeded in %.1fs) while %d clients start and complete runs (%s)\n",
		r.Seeded, r.SeedSeconds, r.Clients, r.Mode)
	fmt.Fprintf(w, "  purged     %d runs in %d batches, %.2fs (%.0f runs/s)\n", r.Purged, r.Batches, r.PurgeSeconds, r.RunsPerSecond)
	for _, p := range []struct {
		name string
		ph   phase
	}{{"before", r.Before}, {"during", r.During}} {
		fmt.Fprintf(w, "  %-9s  %d runs, %.1f runs/s, p50 %.2fms  p99 %.2fms  max %.1fms\n", p.name, p.ph.Runs, p.ph.RunsPerSec, p.ph.P50MS, p.ph.P99MS, p.ph.MaxMS)
	}
	if r.ClaimsBefore > 0 && r.ClaimsDuring > 0 {
		fmt.Fprintf(w, "  claims     mean %.3fms before (%d), %.3fms during the purge (%d) (pg_stat_statements)\n",
			r.ClaimMeanMSBefore, r.ClaimsBefore, r.ClaimMeanMSDuring, r.ClaimsDuring)
	}
	if r.LockSamples > 0 {
		fmt.Fprintf(w, "  locks      %d samples during the purge: %d sessions seen waiting on the purge (%d claims); at most %d waiting for any lock\n",
			r.LockSamples, r.WaitsOnPurge, r.ClaimWaitsOnPurge, r.MaxLockWaiters)
	}
}

// lockSampler looks, every 20ms on a connection of its own, for sessions
// that wait for a lock, and for those whose blocker is the purge's
// statement.
type lockSampler struct {
	cancel func()
	done   chan struct{}
	mu     sync.Mutex
	n      int
	purge  int
	claims int
	max    int
}

// purgeStatement and claimStatement begin the statements of RunPurge and
// RunClaim on Postgres (store/postgres).
const (
	purgeStatement = `DELETE FROM runs WHERE id IN (%`
	claimStatement = `WITH c AS (%FOR UPDATE SKIP LOCKED%`
)

func startLockSampler(ctx context.Context, url string, log *slog.Logger) *lockSampler {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		log.Warn("bench: no connection to sample lock waits", "error", err)
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	ls := &lockSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(ls.done)
		defer conn.Close(context.Background())
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var waiting, onPurge, claims int
			err := conn.QueryRow(ctx, `SELECT count(*),
				count(*) FILTER (WHERE EXISTS (SELECT 1 FROM pg_stat_activity b WHERE b.pid = ANY(pg_blocking_pids(a.pid)) AND b.query LIKE $1)),
				count(*) FILTER (WHERE a.query LIKE $2 AND EXISTS (SELECT 1 FROM pg_stat_activity b WHERE b.pid = ANY(pg_blocking_pids(a.pid)) AND b.query LIKE $1))
				FROM pg_stat_activity a WHERE a.wait_event_type = 'Lock'`, purgeStatement, claimStatement).Scan(&waiting, &onPurge, &claims)
			if err == nil {
				ls.mu.Lock()
				ls.n++
				ls.purge += onPurge
				ls.claims += claims
				ls.max = max(ls.max, waiting)
				ls.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return ls
}

// stop ends the sampling and puts what it saw into r.
func (ls *lockSampler) stop(r *purgeResult) {
	if ls == nil {
		return
	}
	ls.cancel()
	<-ls.done
	r.LockSamples, r.WaitsOnPurge, r.ClaimWaitsOnPurge, r.MaxLockWaiters = ls.n, ls.purge, ls.claims, ls.max
}

// claimTimes reads the claim statement's calls and execution time from
// pg_stat_statements, on a connection of its own; nil when the server
// does not load it.
type claimTimes struct {
	conn *pgx.Conn
	view string // pg_stat_statements, qualified by its schema
}

// claimCount is the claim statement's calls and total execution time so
// far.
type claimCount struct {
	calls int64
	ms    float64
}

func openClaimTimes(ctx context.Context, url string, log *slog.Logger) *claimTimes {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil
	}
	ct := &claimTimes{conn: conn}
	var schema string
	_, err = pgstat.ReadCalls(ctx, conn, "") // creates the extension if it can
	if err == nil {
		err = conn.QueryRow(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
			WHERE e.extname = 'pg_stat_statements'`).Scan(&schema)
		ct.view = pgx.Identifier{schema, "pg_stat_statements"}.Sanitize()
	}
	if err != nil || ct.read(ctx) == nil {
		log.Warn("bench: the claims' execution time is not reported", "error", err)
		conn.Close(ctx)
		return nil
	}
	return ct
}

func (ct *claimTimes) read(ctx context.Context) *claimCount {
	if ct == nil {
		return nil
	}
	c := &claimCount{}
	err := ct.conn.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(total_exec_time), 0)::float8
		FROM `+ct.view+` WHERE query LIKE $1 AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		claimStatement).Scan(&c.calls, &c.ms)
	if err != nil {
		return nil
	}
	return c
}

func (ct *claimTimes) close() {
	if ct != nil {
		ct.conn.Close(context.Background())
	}
}

// since returns the calls after before and their mean execution time.
func (c *claimCount) since(before *claimCount) (int64, float64) {
	n := c.calls - before.calls
	if n <= 0 {
		return 0, 0
	}
	return n, (c.ms - before.ms) / float64(n)
}
