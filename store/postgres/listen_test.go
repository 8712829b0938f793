package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/postgres"
)

// A listener is woken once when it connects, when a run is created, and when
// a claimed run is handed back; not by writes that leave a run running, nor
// by a run created already claimed (a foreground run).
func TestListenWakesWhenARunBecomesRunnable(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	expect, quiet := listenWakes(ctx, t, st)
	expect("after connecting")

	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, _, err := st.RunInsert(ctx, &store.RunInsertParams{ID: "r1", ModuleName: "m", ModuleVersion: "1", ModuleDigest: "sha256:00", Workflow: "w", Input: json.RawMessage(`{}`), Now: now}); err != nil {
		t.Fatal(err)
	}
	expect("after a run was created")

	runs, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "p1", Now: now, LeaseDuration: time.Minute, Limit: 1})
	if err != nil || len(runs) != 1 {
		t.Fatalf("claim: %v %v", runs, err)
	}
	quiet("by a claim")
	if _, err := st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: runs[0].Fence, Now: now, Progress: json.RawMessage(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
	quiet("by a write that keeps the run running")
	if _, _, err := st.RunInsert(ctx, &store.RunInsertParams{ID: "r2", ModuleName: "m", ModuleVersion: "1", ModuleDigest: "sha256:00", Workflow: "w", Input: json.RawMessage(`{}`), Now: now, Owner: "p1", LeaseDuration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	quiet("by a run created claimed")
	if _, err := st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: runs[0].Fence, Now: now, Status: store.StatusPending}); err != nil {
		t.Fatal(err)
	}
	expect("after the run was handed back")
}

// listenWakes listens on st until ctx ends and returns expect, which fails
// t unless a wake-up comes within 10 s, and quiet, which fails it if one
// comes within 300 ms.
func listenWakes(ctx context.Context, t *testing.T, st *postgres.Store) (expect, quiet func(what string)) {
	wakes := make(chan struct{}, 16)
	go st.Listen(ctx, &store.ListenParams{
		Wake:  func() { wakes <- struct{}{} },
		Error: func(err error) { t.Logf("listen: %v", err) },
	})
	expect = func(what string) {
		t.Helper()
		select {
		case <-wakes:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up %s", what)
		}
	}
	quiet = func(what string) {
		t.Helper()
		select {
		case <-wakes:
			t.Fatalf("woken %s", what)
		case <-time.After(300 * time.Millisecond):
		}
	}
	return expect, quiet
}
