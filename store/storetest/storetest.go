// Package storetest is the conformance suite every store.Store passes: the
// same scenarios, run once per backend.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// scenario is one named behaviour of a store.
type scenario struct {
	name string
	run  func(t *testing.T, st store.Store)
}

// Exercise runs the conformance suite. open returns a fresh, empty store for
// each subtest; it is closed by open's own cleanup.
func Exercise(t *testing.T, open func(t *testing.T) store.Store) {
	var all []scenario
	all = append(all, moduleScenarios...)
	all = append(all, runScenarios...)
	all = append(all, claimScenarios...)
	all = append(all, lagScenarios...)
	all = append(all, wakeupScenarios...)
	all = append(all, applyScenarios...)
	all = append(all, batchScenarios...)
	all = append(all, lifecycleScenarios...)
	all = append(all, signalScenarios...)
	all = append(all, tokenScenarios...)
	all = append(all, snapshotScenarios...)
	all = append(all, childScenarios...)
	all = append(all, versionScenarios...)
	all = append(all, changeScenarios...)
	all = append(all, purgeScenarios...)
	for _, sc := range all {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, open(t))
		})
	}
}

// t0 is the suite's clock origin, at the store's microsecond precision.
var t0 = time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

var ctx = context.Background()

const lease = 30 * time.Second

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %#v, want %#v", what, got, want)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("%s = %v, want %v in UTC", what, got, want)
	}
}

func sameTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Fatalf("%s = %v, want %v", what, got, want)
	default:
		sameTime(t, what, *got, *want)
	}
}

func ptr[T any](v T) *T { return &v }

// sameJSON compares two JSON documents by value.
func sameJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s = %q: not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

// insertRun inserts a run with id, runnable at now.
func insertRun(t *testing.T, st store.Store, id string, now time.Time) *store.Run {
	t.Helper()
	run, created, err := st.RunInsert(ctx, &store.RunInsertParams{
		ID: id, ModuleName: "shop", ModuleVersion: "1", ModuleDigest: "sha256:aa", Workflow: "order",
		Input: json.RawMessage(`{"order":7}`), Now: now,
	})
	ok(t, err)
	if !created {
		t.Fatalf("run %s not created", id)
	}
	return run
}

// claim claims exactly run id at now for owner.
func claim(t *testing.T, st store.Store, id, owner string, now time.Time) *store.Run {
	t.Helper()
	runs, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: owner, Now: now, LeaseDuration: lease, Limit: 1, RunID: id})
	ok(t, err)
	if len(runs) != 1 || runs[0].ID != id {
		t.Fatalf("claim of %s at %v returned %d runs", id, now, len(runs))
	}
	return runs[0]
}

// claimNone checks that nothing is claimable at now.
func claimNone(t *testing.T, st store.Store, now time.Time) {
	t.Helper()
	runs, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "x", Now: now, LeaseDuration: lease, Limit: 10})
	ok(t, err)
	if len(runs) != 0 {
		t.Fatalf("claim at %v took %d runs (first %s, %s), want none", now, len(runs), runs[0].ID, runs[0].Status)
	}
}

// claimNoneOf checks that run id is not claimable at now.
func claimNoneOf(t *testing.T, st store.Store, id string, now time.Time) {
	t.Helper()
	runs, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "x", Now: now, LeaseDuration: lease, Limit: 1, RunID: id})
	ok(t, err)
	if len(runs) != 0 {
		t.Fatalf("claim of %s at %v succeeded, want nothing claimable", id, now)
	}
}

func getRun(t *testing.T, st store.Store, id string) *store.Run {
	t.Helper()
	run, err := st.RunGetByID(ctx, &store.RunGetByIDParams{ID: id})
	ok(t, err)
	return run
}

// events returns the run's whole timeline, checking that seqs count from 1
// without gaps and that EventCount matches it.
func events(t *testing.T, st store.Store, id string) []*store.Event {
	t.Helper()
	evs, err := st.EventList(ctx, &store.EventListParams{RunID: id})
	ok(t, err)
	for i, ev := range evs {
		if ev.Seq != int64(i+1) || ev.RunID != id {
			t.Fatalf("event %d of run %s has seq %d (run %s)", i, id, ev.Seq, ev.RunID)
		}
	}
	if n := getRun(t, st, id).EventCount; n != int64(len(evs)) {
		t.Fatalf("run %s has EventCount %d but %d events", id, n, len(evs))
	}
	return evs
}

func eventTypes(evs []*store.Event) []store.EventType {
	ts := make([]store.EventType, len(evs))
	for i, ev := range evs {
		ts[i] = ev.Type
	}
	return ts
}

func apply(t *testing.T, st store.Store, p *store.RunApplyParams) *store.RunApplyResult {
	t.Helper()
	res, err := st.RunApply(ctx, p)
	ok(t, err)
	return res
}

func entries(t *testing.T, st store.Store, id string) []*store.Entry {
	t.Helper()
	es, err := st.EntryListByRun(ctx, &store.EntryListByRunParams{RunID: id})
	ok(t, err)
	return es
}

func effects(t *testing.T, st store.Store, id string) []*store.Effect {
	t.Helper()
	efs, err := st.EffectListByRun(ctx, &store.EffectListByRunParams{RunID: id})
	ok(t, err)
	return efs
}

func pending(t *testing.T, st store.Store, id, name string) []*store.Signal {
	t.Helper()
	sigs, err := st.SignalListPending(ctx, &store.SignalListPendingParams{RunID: id, Name: name})
	ok(t, err)
	return sigs
}

func signal(t *testing.T, st store.Store, id, name string, now time.Time) *store.Signal {
	t.Helper()
	sig, err := st.SignalInsert(ctx, &store.SignalInsertParams{RunID: id, Name: name, Payload: json.RawMessage(`{"ok":true}`), Now: now})
	ok(t, err)
	return sig
}

// stepEntry is a journal entry for a step at seq.
func stepEntry(id string, seq int, status store.EntryStatus, now time.Time) *store.Entry {
	return &store.Entry{RunID: id, Seq: seq, Kind: store.EntryStep, Name: fmt.Sprintf("step%d", seq), Status: status,
		Attempts: 1, Cursor: []byte(`{"page":3}`), Output: []byte(`"out"`), Error: "", EffectSeq: 1, StartedAt: now, UpdatedAt: now}
}

func effect(id string, stepSeq, seq int, status store.EffectStatus, now time.Time) *store.Effect {
	return &store.Effect{RunID: id, StepSeq: stepSeq, Seq: seq, Name: "charge", Status: status,
		Key: fmt.Sprintf("%s/%d/%d", id, stepSeq, seq), Result: []byte("receipt"), Executions: 1, StartedAt: now, UpdatedAt: now}
}
