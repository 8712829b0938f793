package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmflow/wasmflow/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestURL checks that each URL is a fresh, empty schema of its own that
// tables are created in.
func TestURL(t *testing.T) {
	ctx := context.Background()
	a, b := pgtest.URL(t), pgtest.URL(t)
	if a == b {
		t.Fatalf("two calls returned the same URL %s", a)
	}
	connA, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer connA.Close(ctx)
	if _, err := connA.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := connA.QueryRow(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = 't'`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if schema == "public" {
		t.Fatalf("table created in public, not in the test schema")
	}
	connB, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer connB.Close(ctx)
	var n int
	if err := connB.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("second schema has %d tables, want 0", n)
	}
}

// TestRestart checks that a restart terminates the connections of the
// server's clients, as an operator's restart does, and that the server
// answers again on the same URL.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.NewServer(t)
	url := srv.URL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	took := srv.Restart(t, 0)
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a connection made before the restart still works")
	}
	again, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect after the restart: %v", err)
	}
	defer again.Close(ctx)
	if _, err := again.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	t.Logf("the server restarted in %s", took.Round(time.Millisecond))
}
