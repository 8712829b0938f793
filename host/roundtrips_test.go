package host_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/internal/pgstat"
	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/postgres"
)

// A 3-step run started in the foreground costs the database four round
// trips: its insert, already claimed, which resolves its module's latest
// version in the same statement, and three writes (the last step's with the run's completion;
// the journal of a first activation is not read). The waiting answer
// reads nothing: it watches the run from before its insert, and takes the
// run as the last write returned it. pg_stat_statements counts the
// statements of a role that only this test's host uses; each round trip
// of the Postgres store is one statement, or one pipelined write batch
// (pgstat.Calls.RoundTrips).
func TestForegroundRunRoundTrips(t *testing.T) {
	ctx := context.Background()
	base := pgtest.URL(t)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	var b [6]byte
	rand.Read(b[:])
	role := "wasmflow_rt_" + hex.EncodeToString(b[:])
	for _, q := range []string{
		`CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA public`,
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT ALL ON SCHEMA ` + pgx.Identifier{schema}.Sanitize() + ` TO ` + role,
		`DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO ` + role + `', current_database()); END $$`,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer admin.Close(ctx)
		admin.Exec(ctx, `DROP OWNED BY `+role+` CASCADE`)
		admin.Exec(ctx, `DROP ROLE `+role)
	})
	u.User = url.User(role)
	st, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// No polls during the run: what is counted is the run's.
	bd := setup(t, st, setupOpts{poll: time.Hour, lease: time.Minute}, "bench")
	start := func() *store.Run {
		run, _, err := bd.host.StartRun(ctx, &host.StartRunParams{Module: "bench", Workflow: "steps",
			Input: []byte(`{"steps":3}`), Wait: 20 * time.Second})
		if err != nil || run.Status != store.StatusCompleted {
			t.Fatalf("run: %v, %v", run, err)
		}
		return run
	}
	start() // the module's lookups, compilation and image are the first run's
	before, err := pgstat.ReadCalls(ctx, admin, role)
	if err != nil {
		t.Fatal(err)
	}
	start()
	after, err := pgstat.ReadCalls(ctx, admin, role)
	if err != nil {
		t.Fatal(err)
	}
	calls := after.Since(before)
	var lines []string
	reads := 0 // reads of the run
	for q, n := range calls {
		one := strings.Join(strings.Fields(q), " ")
		lines = append(lines, fmt.Sprintf("%3d  %s", n, one[:min(len(one), 110)]))
		if strings.HasPrefix(one, "SELECT id, module_name, ") && strings.HasSuffix(one, "FROM runs WHERE id = $1") {
			reads += int(n)
		}
	}
	sort.Strings(lines)
	trips := calls.RoundTrips()
	t.Logf("%d statements in %d round trips:\n%s", calls.Statements(), trips, strings.Join(lines, "\n"))
	if trips > 4 {
		t.Errorf("a 3-step foreground run took %d round trips, want at most 4", trips)
	}
	if reads != 0 {
		t.Errorf("the waiting answer read the run %d times, want none", reads)
	}
}
