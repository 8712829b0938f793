package main_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/internal/proctest"
	"github.com/wasmflow/wasmflow/internal/testmodules"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// `wasmflow bench` carries every run to completion on both stores and
// reports what it measured.
func TestBench(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		database func(t *testing.T) string
		store    string
	}{
		{name: "on a temporary SQLite file", database: func(*testing.T) string { return "" }, store: "sqlite"},
		{name: "on Postgres", database: func(t *testing.T) string { return pgtest.URL(t) }, store: "postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			profile := filepath.Join(t.TempDir(), "cpu.prof")
			cmd := exec.Command(proctest.Binary(t), "bench", "--runs", "50", "--steps", "3", "--concurrency", "4", "--json",
				"--module", testmodules.Path(t, "bench"), "--database-url", tc.database(t), "--cpuprofile", profile)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("wasmflow bench: %v\n%s", err, stderr.Bytes())
			}
			var r struct {
				Runs       int     `json:"runs"`
				Steps      int     `json:"steps"`
				Store      string  `json:"store"`
				RunsPerSec float64 `json:"runs_per_sec"`
				LatencyMS  struct {
					P50, P99 float64
				} `json:"latency_ms"`
				HostCPU *struct{ Seconds float64 } `json:"host_cpu"`
				DBCPU   *struct{ Seconds float64 } `json:"db_cpu"`
				// The test Postgres loads pg_stat_statements.
				StatementsPerRun float64 `json:"statements_per_run"`
				RoundTripsPerRun float64 `json:"round_trips_per_run"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("decode %s: %v", stdout.Bytes(), err)
			}
			// A zero exit status means no run failed: the bench stops at
			// the first run that does not complete with {"steps": 3}.
			if r.Store != tc.store || r.Runs != 50 || r.Steps != 150 || r.RunsPerSec <= 0 || r.LatencyMS.P50 <= 0 || r.LatencyMS.P50 > r.LatencyMS.P99 {
				t.Fatalf("bench results: %s\nwant %s, 50 runs, 150 steps, runs/s > 0, 0 < p50 <= p99", stdout.Bytes(), tc.store)
			}
			// A CPU profile is gzipped protocol buffers.
			if prof, err := os.ReadFile(profile); err != nil || len(prof) < 2 || prof[0] != 0x1f || prof[1] != 0x8b {
				t.Errorf("--cpuprofile wrote %d bytes (%v), want a gzipped profile", len(prof), err)
			}
			if r.HostCPU == nil || r.HostCPU.Seconds <= 0 {
				t.Fatalf("bench results: %s\nwant the host's CPU time", stdout.Bytes())
			}
			// A run makes at least four statements (its insert and a write
			// for each step) and one round trip of its own (the insert: its
			// writes may share batches with other runs').
			if tc.store == "postgres" && (r.DBCPU == nil || r.DBCPU.Seconds <= 0 || r.StatementsPerRun < 4 || r.RoundTripsPerRun < 1 ||
				r.RoundTripsPerRun > r.StatementsPerRun) {
				t.Fatalf("bench results: %s\nwant the database's CPU time, at least 4 statements and 1 round trip per run, no more round trips than statements", stdout.Bytes())
			}
		})
	}
}

// `wasmflow bench --purge N` purges the N runs it seeds while its clients
// go on, and reports their latency before and during the purge, and on
// Postgres the lock waits it sampled.
func TestBenchPurge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		database func(t *testing.T) string
		postgres bool
	}{
		{name: "on a temporary SQLite file", database: func(*testing.T) string { return "" }},
		{name: "on Postgres", database: func(t *testing.T) string { return pgtest.URL(t) }, postgres: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(proctest.Binary(t), "bench", "--purge", "1200", "--purge-before", "1s", "--concurrency", "4", "--background",
				"--json", "--module", testmodules.Path(t, "bench"), "--database-url", tc.database(t))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("wasmflow bench --purge: %v\n%s", err, stderr.Bytes())
			}
			var r struct {
				Seeded, Batches int
				Purged          int64
				PurgeSeconds    float64 `json:"purge_seconds"`
				Mode            string
				Before          struct {
					Runs  int
					P99MS float64 `json:"p99_ms"`
				}
				LockSamples       int   `json:"lock_samples"`
				ClaimWaitsOnPurge int   `json:"claim_waits_on_purge"`
				ClaimsBefore      int64 `json:"claims_before"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("decode %s: %v", stdout.Bytes(), err)
			}
			if r.Seeded != 1200 || r.Purged != 1200 || r.Batches != 3 || r.PurgeSeconds <= 0 || r.Mode != "background" ||
				r.Before.Runs == 0 || r.Before.P99MS <= 0 {
				t.Fatalf("bench --purge results: %s\nwant 1,200 runs seeded and purged in 3 batches, runs measured before", stdout.Bytes())
			}
			// The test Postgres loads pg_stat_statements.
			if tc.postgres && (r.LockSamples == 0 || r.ClaimWaitsOnPurge != 0 || r.ClaimsBefore == 0) {
				t.Fatalf("bench --purge results: %s\nwant lock samples, no claim waiting on the purge, and the claims' times", stdout.Bytes())
			}
		})
	}
}
