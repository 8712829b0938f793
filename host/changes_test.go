package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store"
)

// Patch markers (ABI.md, section 5.10), with the versions test guest of
// modules/TESTGUESTS.md in Go and Rust: module "versions" in versions 1 to
// 4 of the code of workflow "order".

// versionsBundle is a host with the four versions of the versions guest in
// c's language pushed as versions "1" to "4" of module "versions".
type versionsBundle struct {
	*bundle
	digests map[string]string // version -> module digest
	swap    *swapDigest
	applies *applyCounter
}

// setupVersions starts a host for c with the versions guest. Its store
// hands runs of swapFrom's digest, from their second activation on, out
// pinned to swapTo's (both versions; empty: no swap), and counts writes.
func setupVersions(t *testing.T, c *combo, o setupOpts, swapFrom, swapTo string) *versionsBundle {
	t.Helper()
	vb := &versionsBundle{digests: map[string]string{}, swap: &swapDigest{}, applies: &applyCounter{n: map[string]int{}}}
	o.wrap = func(s store.Store) store.Store {
		vb.applies.Store = s
		vb.swap.Store = vb.applies
		return vb.swap
	}
	vb.bundle = c.setup(t, o)
	for _, v := range []string{"1", "2", "3", "4"} {
		mod, _, err := vb.host.PushModule(context.Background(), &host.PushModuleParams{
			Name: "versions", Version: v, Wasm: testmodules.Bytes(t, c.guest("versions-v"+v)),
		})
		if err != nil {
			t.Fatalf("push versions %s: %v", v, err)
		}
		vb.digests[v] = mod.Digest
	}
	if swapFrom != "" {
		vb.swap.mu.Lock()
		vb.swap.from, vb.swap.to = vb.digests[swapFrom], vb.digests[swapTo]
		vb.swap.mu.Unlock()
	}
	return vb
}

// startWaiting starts a run of workflow order of the given version and
// waits until it waits for signal go.
func (vb *versionsBundle) startWaiting(t *testing.T, version string) string {
	t.Helper()
	run, _, err := vb.host.StartRun(context.Background(), &host.StartRunParams{Module: "versions", Version: version, Workflow: "order"})
	if err != nil {
		t.Fatal(err)
	}
	vb.wait(t, run.ID, 30*time.Second, store.StatusWaiting)
	return run.ID
}

// signal sends signal go to a run.
func (vb *versionsBundle) signal(t *testing.T, id string) {
	t.Helper()
	if _, err := vb.host.Signal(context.Background(), id, "go", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
}

// journal returns a run's journal as "kind name" strings.
func (vb *versionsBundle) journal(t *testing.T, id string) []string {
	t.Helper()
	ctx := context.Background()
	run, err := vb.host.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := vb.host.Steps(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, string(e.Kind)+" "+e.Name)
	}
	return out
}

// applyCounter counts RunApply calls (the run's writes) per run.
type applyCounter struct {
	store.Store
	mu sync.Mutex
	n  map[string]int
}

func (s *applyCounter) RunApply(ctx context.Context, p *store.RunApplyParams) (*store.RunApplyResult, error) {
	s.mu.Lock()
	s.n[p.RunID]++
	s.mu.Unlock()
	return s.Store.RunApply(ctx, p)
}

func (s *applyCounter) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[id]
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// A new run of version 2 takes the new code: the marker is journaled where
// changed was called, with one change_recorded event and no write of its
// own. Its second activation, after the signal, takes the new code again
// and records nothing more, whether it replays the journal (snapshots
// off) or resumes where the guest parked (the Go SDK's guests park).
func TestChangedNewRunTakesTheNewCode(t *testing.T) {
	for _, replay := range []bool{true, false} {
		name := map[bool]string{true: "replayed", false: "resumed where it parked, if it parks"}[replay]
		t.Run(name, func(t *testing.T) {
			forEachComboOf(t, []string{"go", "rust"}, func(t *testing.T, c *combo) {
				vb := setupVersions(t, c, setupOpts{noSnapshots: replay}, "", "")
				old := vb.startWaiting(t, "1")
				id := vb.startWaiting(t, "2")
				want := []string{"step a", "change fix-b", "step b2", "signal go"}
				if got := vb.journal(t, id); !equalStrings(got, want) {
					t.Errorf("journal %q, want %q", got, want)
				}
				if n, m := vb.applies.count(id), vb.applies.count(old); n != m {
					t.Errorf("the first activation of a run of version 2 made %d writes, one of version 1 %d: the marker must go with another write", n, m)
				}
				vb.signal(t, id)
				vb.completed(t, id, `{"steps":["a@2","b2@2","c@2"],"version":2}`)
				evs := vb.events(t, id)
				if n := count(evs, store.EventChangeRecorded, ""); n != 1 {
					t.Errorf("%d change_recorded events, want 1 (none on replay)", n)
				}
				for _, e := range evs {
					if e.Type == store.EventChangeRecorded && (e.Step != "" || data(t, e)["change"] != "fix-b") {
						t.Errorf("change_recorded %s for step %q, want {\"change\":\"fix-b\"} of the run", e.Data, e.Step)
					}
				}
				acts := started(t, vb.bundle, id)
				switch {
				case len(acts) != 2:
					t.Errorf("activations %v, want 2", acts)
				case !replay && c.parks():
					if !resumedParked(acts[1]) {
						t.Errorf("second activation %v, want it resumed where the guest parked", acts[1])
					}
				case acts[1]["replayed_steps"] != float64(2):
					t.Errorf("second activation %v, want it to replay steps a and b2", acts[1])
				}
			})
		})
	}
}

// Runs of code before and after a change replay as the patch marker says
// when their module version is swapped under them while they wait. (The
// swap stands in for POST /v1/runs/{id}/upgrade, which re-pins a run to
// another version of its module; here the store hands the run out pinned
// to the other digest from its second activation on.)
func TestChangedReplay(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to string
		output   string // the run's output; "" when it fails
		err      string // in the run's error when it fails
		journal  []string
	}{
		{name: "a run of the old code replays the old branch of the new", from: "1", to: "2",
			output:  `{"steps":["a@1","b@1","c@2"],"version":2}`,
			journal: []string{"step a", "step b", "signal go", "step c"}},
		{name: "a run with the marker keeps the new branch once the old is deprecated", from: "2", to: "4",
			output:  `{"steps":["a@2","b2@2","c@4"],"version":4}`,
			journal: []string{"step a", "change fix-b", "step b2", "signal go", "step c"}},
		{name: "a run of the old code fails once the old branch is deprecated", from: "1", to: "4",
			err: `nondeterminism at journal position 1: the journal has step "b" but the code asked for step "b2"`},
		{name: "a run with the marker fails with code from before the change", from: "2", to: "1",
			err: `nondeterminism at journal position 1: the journal has change "fix-b" but the code asked for step "b"`},
		{name: "a run of the old code fails with a change made without a marker", from: "1", to: "3",
			err: `nondeterminism at journal position 1: the journal has step "b" but the code asked for step "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachComboOf(t, []string{"go", "rust"}, func(t *testing.T, c *combo) {
				vb := setupVersions(t, c, setupOpts{}, tc.from, tc.to)
				id := vb.startWaiting(t, tc.from)
				vb.signal(t, id)
				run := vb.wait(t, id, 60*time.Second, store.StatusCompleted, store.StatusFailed)
				if tc.output == "" {
					if run.Status != store.StatusFailed || !strings.Contains(run.Error, tc.err) {
						t.Fatalf("run %s with error %q, want failed with %q", run.Status, run.Error, tc.err)
					}
					if n := count(vb.events(t, id), store.EventNondeterminism, ""); n != 1 {
						t.Errorf("%d nondeterminism events, want 1", n)
					}
					return
				}
				if run.Status != store.StatusCompleted {
					t.Fatalf("run %s: %s", run.Status, run.Error)
				}
				if !jsonEqual(t, run.Output, tc.output) {
					t.Errorf("output %s, want %s", run.Output, tc.output)
				}
				if got := vb.journal(t, id); !equalStrings(got, tc.journal) {
					t.Errorf("journal %q, want %q", got, tc.journal)
				}
				if n, want := count(vb.events(t, id), store.EventChangeRecorded, ""), map[bool]int{true: 1}[tc.from == "2"]; n != want {
					t.Errorf("%d change_recorded events, want %d", n, want)
				}
			})
		})
	}
}

// A new run of version 4, which deprecates the change, takes the new code
// and records no marker.
func TestChangedDeprecatedRecordsNothing(t *testing.T) {
	forEachComboOf(t, []string{"go", "rust"}, func(t *testing.T, c *combo) {
		vb := setupVersions(t, c, setupOpts{}, "", "")
		id := vb.startWaiting(t, "4")
		vb.signal(t, id)
		vb.completed(t, id, `{"steps":["a@4","b2@4","c@4"],"version":4}`)
		if got, want := vb.journal(t, id), []string{"step a", "step b2", "signal go", "step c"}; !equalStrings(got, want) {
			t.Errorf("journal %q, want %q", got, want)
		}
		if n := count(vb.events(t, id), store.EventChangeRecorded, ""); n != 0 {
			t.Errorf("%d change_recorded events, want none", n)
		}
	})
}

// changed inside a step body is a guest fault that names the step.
func TestChangedInsideAStepFails(t *testing.T) {
	forEachComboOf(t, []string{"go", "rust"}, func(t *testing.T, c *combo) {
		vb := setupVersions(t, c, setupOpts{}, "", "")
		run, _, err := vb.host.StartRun(context.Background(), &host.StartRunParams{Module: "versions", Version: "2", Workflow: "in_step"})
		if err != nil {
			t.Fatal(err)
		}
		got := vb.wait(t, run.ID, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		want := `changed called inside step "a": patch markers belong between steps`
		if got.Status != store.StatusFailed || !strings.Contains(got.Error, want) {
			t.Errorf("run %s with error %q, want failed with %q", got.Status, got.Error, want)
		}
	})
}

// loseMarkerWrite is a store whose first write carrying a patch marker
// fails, as if the process died before it committed.
type loseMarkerWrite struct {
	store.Store
	mu   sync.Mutex
	lost bool
}

func (s *loseMarkerWrite) RunApply(ctx context.Context, p *store.RunApplyParams) (*store.RunApplyResult, error) {
	s.mu.Lock()
	lose := !s.lost && slices.ContainsFunc(p.Entries, func(e *store.Entry) bool { return e.Kind == store.EntryChange })
	s.lost = s.lost || lose
	s.mu.Unlock()
	if lose {
		return nil, errors.New("the write is lost")
	}
	return s.Store.RunApply(ctx, p)
}

// A marker lost with the write that held it is recorded again by the next
// activation, which reaches the position live: the run takes the new code
// once, with one marker in its journal and one change_recorded event.
func TestChangedMarkerLostWithItsWriteIsRecordedAgain(t *testing.T) {
	forEachComboOf(t, []string{"go", "rust"}, func(t *testing.T, c *combo) {
		lose := &loseMarkerWrite{}
		b := c.setup(t, setupOpts{wrap: func(s store.Store) store.Store { lose.Store = s; return lose }}, "versions-v2")
		id := b.start(t, "versions-v2", "order", nil)
		b.wait(t, id, 30*time.Second, store.StatusWaiting)
		if !lose.lost {
			t.Fatal("no write carried the marker")
		}
		if _, err := b.host.Signal(context.Background(), id, "go", json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
		b.completed(t, id, `{"steps":["a@2","b2@2","c@2"],"version":2}`)
		vb := &versionsBundle{bundle: b}
		if got, want := vb.journal(t, id), []string{"step a", "change fix-b", "step b2", "signal go", "step c"}; !equalStrings(got, want) {
			t.Errorf("journal %q, want %q", got, want)
		}
		if n := count(b.events(t, id), store.EventChangeRecorded, ""); n != 1 {
			t.Errorf("%d change_recorded events, want 1", n)
		}
		if acts := started(t, b, id); len(acts) != 3 {
			t.Errorf("%d activations, want 3: the one whose write was lost, the one that waits, the one after the signal", len(acts))
		}
	})
}
