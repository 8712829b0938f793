package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/postgres"
)

// twoProcesses opens two stores on one database, as two host processes do.
func twoProcesses(t *testing.T) (a, b *postgres.Store) {
	t.Helper()
	url := pgtest.URL(t)
	a, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// parentAndChild makes running run parent, which has started child, also
// running.
func parentAndChild(t *testing.T, st store.Store, parent, child string, now time.Time) (p, c *store.Run) {
	t.Helper()
	ctx := context.Background()
	runs := map[string]*store.Run{}
	p, _, err := st.RunInsert(ctx, &store.RunInsertParams{ID: parent, ModuleName: "m", ModuleVersion: "1", ModuleDigest: "sha256:00",
		Workflow: "w", Input: json.RawMessage(`{}`), Now: now, Owner: "o", LeaseDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.RunApply(ctx, &store.RunApplyParams{RunID: parent, Fence: p.Fence, Now: now, Children: []*store.RunInsertParams{
		{ID: child, ModuleName: "m", ModuleVersion: "1", ModuleDigest: "sha256:00", Workflow: "w", OnParentEnd: store.ParentEndCancel}}})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "o", Now: now, LeaseDuration: time.Minute, Limit: 1, RunID: child})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim of %s: %v, %v", child, claimed, err)
	}
	runs[child] = claimed[0]
	return p, claimed[0]
}

// both makes the two writes at once, each from its own process, and fails
// the test if either fails.
func both(t *testing.T, a, b store.Store, pa, pb *store.RunApplyParams) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, w := range []struct {
		st store.Store
		p  *store.RunApplyParams
	}{{a, pa}, {b, pb}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.st.RunApply(context.Background(), w.p)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A child's end and its parent's suspension waiting for it, made at once
// by two processes, serialize on the parent's row: whichever commits
// second sees the other, and the parent is never left waiting for an end
// that has happened.
func TestChildEndRacesParentWait(t *testing.T) {
	a, b := twoProcesses(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range 40 {
		p, c := parentAndChild(t, a, fmt.Sprintf("p%02d", i), fmt.Sprintf("p%02d.c", i), now)
		both(t, a, b,
			&store.RunApplyParams{RunID: p.ID, Fence: p.Fence, Now: now, Status: store.StatusWaiting, WakeAtChildrenEnded: 1},
			&store.RunApplyParams{RunID: c.ID, Fence: c.Fence, Now: now, Status: store.StatusCompleted,
				ParentEvent: store.ChildEnded{Child: c.ID, Workflow: c.Workflow, Status: store.StatusCompleted}.Event(now)})
		got, err := a.RunGetByID(context.Background(), &store.RunGetByIDParams{ID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got.WakeAt == nil || !got.WakeAt.Equal(now) || got.ChildrenEnded != 1 || got.Status != store.StatusWaiting {
			t.Fatalf("round %d: parent %s, wake_at %v, children ended %d; want waiting, woken at %v, 1", i, got.Status, got.WakeAt, got.ChildrenEnded, now)
		}
	}
}

// A parent's end (which locks its children) and its child's end (which
// locks the child, then the parent), made at once by two processes, both
// commit. With a child id that sorts before its parent's, the two lock in
// opposite orders; Postgres breaks the deadlock and the write batch's
// retry makes the write again.
func TestParentEndRacesChildEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("a deadlock costs deadlock_timeout")
	}
	a, b := twoProcesses(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i, ids := range [][2]string{{"p1", "p1.c"}, {"p2", "a-p2"}, {"p3", "p3.c"}, {"p4", "a-p4"}} {
		p, c := parentAndChild(t, a, ids[0], ids[1], now)
		both(t, a, b,
			&store.RunApplyParams{RunID: p.ID, Fence: p.Fence, Now: now, Status: store.StatusCompleted},
			&store.RunApplyParams{RunID: c.ID, Fence: c.Fence, Now: now, Status: store.StatusCompleted,
				ParentEvent: store.ChildEnded{Child: c.ID, Workflow: c.Workflow, Status: store.StatusCompleted}.Event(now)})
		got, err := a.RunGetByID(context.Background(), &store.RunGetByIDParams{ID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got.ChildrenEnded != 1 || got.Status != store.StatusCompleted {
			t.Fatalf("round %d: parent %s with %d children ended, want completed with 1", i, got.Status, got.ChildrenEnded)
		}
	}
}

// Children started are runnable at once and wake listeners; so does a
// child's end that wakes its waiting parent.
func TestListenWakesForChildren(t *testing.T) {
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
	p, c := parentAndChild(t, st, "p", "p.c", now)
	expect("after a child was started")
	if _, err := st.RunApply(ctx, &store.RunApplyParams{RunID: p.ID, Fence: p.Fence, Now: now, Status: store.StatusWaiting,
		WakeAtChildrenEnded: 1}); err != nil {
		t.Fatal(err)
	}
	quiet("by a wait for a child")
	if _, err := st.RunApply(ctx, &store.RunApplyParams{RunID: c.ID, Fence: c.Fence, Now: now, Status: store.StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	expect("after the child's end woke its parent")
}

// A parent's end that cancels its waiting child, and so sets
// cancel_requested on the child's running child, made at once with the
// grandchild's end: with a grandchild id that sorts first, the two lock
// out of order; both commit all the same (the aborted batch is made again).
func TestParentEndRacesGrandchildEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("a deadlock costs deadlock_timeout")
	}
	ctx := context.Background()
	a, b := twoProcesses(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range 2 {
		p, c := parentAndChild(t, a, fmt.Sprintf("p%d", i), fmt.Sprintf("p%d.c", i), now)
		g := fmt.Sprintf("a-g%d", i) // sorts before its parent
		if _, err := a.RunApply(ctx, &store.RunApplyParams{RunID: c.ID, Fence: c.Fence, Now: now, Status: store.StatusWaiting,
			WakeAtChildrenEnded: 1, Children: []*store.RunInsertParams{{ID: g, ModuleName: "m", ModuleVersion: "1",
				ModuleDigest: "sha256:00", Workflow: "w", OnParentEnd: store.ParentEndCancel}}}); err != nil {
			t.Fatal(err)
		}
		claimed, err := a.RunClaim(ctx, &store.RunClaimParams{Owner: "o", Now: now, LeaseDuration: time.Minute, Limit: 1, RunID: g})
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim of %s: %v, %v", g, claimed, err)
		}
		both(t, a, b,
			&store.RunApplyParams{RunID: p.ID, Fence: p.Fence, Now: now, Status: store.StatusCompleted},
			&store.RunApplyParams{RunID: g, Fence: claimed[0].Fence, Now: now, Status: store.StatusCompleted})
		gotC, err := a.RunGetByID(ctx, &store.RunGetByIDParams{ID: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		if gotC.Status != store.StatusCancelled || gotC.ChildrenEnded != 1 {
			t.Fatalf("round %d: child %s with %d children ended, want cancelled with 1", i, gotC.Status, gotC.ChildrenEnded)
		}
	}
}
