package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/sqlite"
	"github.com/wasmflow/wasmflow/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sub", "wasmflow.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// TestReopen checks that opening an existing database keeps its data and
// applies no migration twice.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wasmflow.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.RunInsert(ctx, &store.RunInsertParams{ID: "r1", ModuleName: "m", ModuleDigest: "sha256:m", Workflow: "w"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.RunGetByID(ctx, &store.RunGetByIDParams{ID: "r1"}); err != nil {
		t.Fatal(err)
	}
}

// A second opener of a database that a process has open is refused with an
// error that says so, and opens it once the first has closed it.
func TestOneProcessAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wasmflow.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(ctx, path)
	if err == nil || !strings.Contains(err.Error(), "in use by process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second open: %v, want it refused naming this process", err)
	}
	st.Close()
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	st.Close()
}

// Runs left running by a process that ended without releasing them (kill
// -9) are claimable as soon as the database is opened again, not when
// their leases expire.
func TestOpenTakesBackLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wasmflow.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, _, err := st.RunInsert(ctx, &store.RunInsertParams{ID: "r1", ModuleName: "m", ModuleDigest: "sha256:m", Workflow: "w", Now: now}); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "dead", Now: now, LeaseDuration: time.Hour, Limit: 1})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %d runs", err, len(claimed))
	}
	st.Close()

	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	again, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "new", Now: time.Now().UTC(), LeaseDuration: time.Hour, Limit: 1})
	if err != nil || len(again) != 1 {
		t.Fatalf("claim after reopening: %v, %d runs; want the run whose owner is gone", err, len(again))
	}
	if again[0].Fence != claimed[0].Fence+1 {
		t.Errorf("fence %d after the claim, want %d", again[0].Fence, claimed[0].Fence+1)
	}
}
