package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/postgres"
	"github.com/wasmflow/wasmflow/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestStore(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) store.Store {
		st, err := postgres.Open(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// TestOpenConcurrently checks that processes opening one schema at once
// migrate it once and all succeed.
func TestOpenConcurrently(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := postgres.Open(ctx, url)
			if err == nil {
				_, _, err = st.RunInsert(ctx, &store.RunInsertParams{ID: fmt.Sprint("r", i), ModuleName: "m", ModuleDigest: "sha256:m", Workflow: "w"})
				st.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A store made on the caller's pool works as one that Open made, on the
// pool's schema, and leaves the pool open when it closes.
func TestNewOnACallersPool(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st, err := postgres.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, created, err := st.RunInsert(ctx, &store.RunInsertParams{ID: "r1", ModuleName: "m", ModuleDigest: "sha256:m", Workflow: "w"}); err != nil || !created {
		t.Fatalf("RunInsert: created %v, %v", created, err)
	}
	st.Close()
	var runs int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM runs`).Scan(&runs); err != nil || runs != 1 {
		t.Fatalf("the pool after the store's Close: %d runs, %v; want 1 and the pool open", runs, err)
	}
}
