package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/internal/poll"
	"github.com/wasmflow/wasmflow/store"
)

// Child runs (ABI.md, section 5.9), for every guest language × engine ×
// store: the "children" test guests of modules/TESTGUESTS.md.

// A fan-out's children run as runs of their own, linked to their parent,
// and the parent adds up their results; its timeline shows each child's
// start and end.
func TestConformanceChildrenFanOut(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "children")
		const n = 6
		id := b.start(t, "children", "fanout", map[string]any{"n": n})
		parent := b.completed(t, id, `{"sum":91,"children":6}`)
		kids := children(t, b, parent)
		if len(kids) != n {
			t.Fatalf("%d children, want %d", len(kids), n)
		}
		for _, k := range kids {
			if k.ParentID != id || k.Workflow != "square" || k.Status != store.StatusCompleted {
				t.Errorf("child %s: parent %q, workflow %s, status %s", k.ID, k.ParentID, k.Workflow, k.Status)
			}
			if k.ModuleDigest != parent.ModuleDigest {
				t.Errorf("child %s runs module %s, its parent %s", k.ID, k.ModuleDigest, parent.ModuleDigest)
			}
		}
		evs := b.events(t, id)
		if got := count(evs, store.EventChildStarted, ""); got != n {
			t.Errorf("%d child_started events, want %d", got, n)
		}
		if got := count(evs, store.EventChildCompleted, ""); got != n {
			t.Errorf("%d child_completed events, want %d", got, n)
		}
		page, err := b.host.ListRuns(context.Background(), &host.ListRunsParams{Parent: id, Limit: 100})
		if err != nil || len(page.Runs) != n {
			t.Errorf("ListRuns by parent: %d runs, %v; want %d", len(page.Runs), err, n)
		}
	})
}

// A child that fails reaches its parent as a value, and the parent's
// compensation runs.
func TestConformanceChildFailureIsAValue(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "children")
		id := b.start(t, "children", "compensate", nil)
		run := b.wait(t, id, 60*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Fatalf("compensate %s: %s", run.Status, run.Error)
		}
		out := map[string]string{}
		decode(t, run.Output, &out)
		if out["child"] != "failed" || !strings.Contains(out["error"], "child failed on purpose") || out["undo"] != "undone" {
			t.Errorf("compensate completed with %s", run.Output)
		}
		if got := count(b.events(t, id), store.EventChildFailed, ""); got != 1 {
			t.Errorf("%d child_failed events, want 1", got)
		}
	})
}

// AwaitAny answers with the child that ended first; the parent's end
// cancels the child still running.
func TestConformanceChildrenFirst(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "children")
		id := b.start(t, "children", "first", nil)
		parent := b.completed(t, id, `{"first":{"square":49}}`)
		for _, k := range children(t, b, parent) {
			if k.Workflow == "sleeper" {
				k = b.wait(t, k.ID, 10*time.Second, store.StatusCancelled)
				if k.Status != store.StatusCancelled {
					t.Errorf("the sleeper is %s after its parent completed, want cancelled", k.Status)
				}
			}
		}
	})
}

// Cancelling a parent that waits for its children cancels them.
func TestConformanceCancelParentCancelsChildren(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "children")
		ctx := context.Background()
		id := b.start(t, "children", "waiter", map[string]any{"n": 3})
		parent := b.wait(t, id, 30*time.Second, store.StatusWaiting)
		var kids []*store.Run
		poll.Until(t, 30*time.Second, func() error {
			kids = children(t, b, parent)
			for _, k := range kids {
				if k.Status != store.StatusSleeping {
					return fmt.Errorf("child %s is %s, not yet sleeping", k.ID, k.Status)
				}
			}
			if len(kids) != 3 {
				return fmt.Errorf("%d children, want 3", len(kids))
			}
			return nil
		})
		if _, err := b.host.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		b.wait(t, id, 10*time.Second, store.StatusCancelled)
		for _, k := range kids {
			if k = b.wait(t, k.ID, 10*time.Second, store.StatusCancelled); k.Status != store.StatusCancelled {
				t.Errorf("child %s is %s, want cancelled with its parent", k.ID, k.Status)
			}
		}
	})
}

// A wait for children times out; a child started to be abandoned goes on
// after its parent completed.
func TestConformanceChildTimeoutAndAbandon(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "children")
		id := b.start(t, "children", "timeout", nil)
		parent := b.completed(t, id, `{"timed_out":true}`)
		kids := children(t, b, parent)
		if len(kids) != 1 {
			t.Fatalf("%d children, want 1", len(kids))
		}
		time.Sleep(200 * time.Millisecond) // a cancel would have come with the parent's end
		k, err := b.host.Run(context.Background(), kids[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if k.Status != store.StatusSleeping || k.OnParentEnd != store.ParentEndAbandon {
			t.Errorf("the abandoned sleeper is %s (on parent end %q), want sleeping (abandon)", k.Status, k.OnParentEnd)
		}
	})
}

// A child of a workflow the module does not have is refused, as a value.
func TestConformanceChildRefused(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "children")
		id := b.start(t, "children", "refused", nil)
		run := b.wait(t, id, 60*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Fatalf("refused %s: %s", run.Status, run.Error)
		}
		out := map[string]string{}
		decode(t, run.Output, &out)
		if !strings.Contains(out["refused"], `"nosuch"`) {
			t.Errorf("refused completed with %s; want the reason naming the workflow", run.Output)
		}
		if kids := children(t, b, run); len(kids) != 0 {
			t.Errorf("a refused start made %d runs", len(kids))
		}
	})
}

// A fan-out passes its "ms" to each square child, whose step holds its
// activation that long, as real work would (the end-to-end tests rely on
// it to measure children running in parallel).
func TestConformanceChildrenWorkInTheirSteps(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		const ms = 150
		b := c.setup(t, setupOpts{}, "children")
		id := b.start(t, "children", "fanout", map[string]any{"n": 2, "ms": ms})
		kids := children(t, b, b.completed(t, id, `{"sum":5,"children":2}`))
		if len(kids) != 2 {
			t.Fatalf("%d children, want 2", len(kids))
		}
		for _, k := range kids {
			in := map[string]int{}
			decode(t, k.Input, &in)
			if in["ms"] != ms {
				t.Errorf("child %s has input %s, want ms %d", k.ID, k.Input, ms)
			}
			evs := b.events(t, k.ID)
			if n := count(evs, store.EventStepCompleted, "square"); n != 1 {
				t.Errorf("child %s: step square completed %d times, want once", k.ID, n)
			}
			for _, e := range evs {
				if e.Type != store.EventStepCompleted {
					continue
				}
				var d struct {
					DurationMS int64 `json:"duration_ms"`
				}
				decode(t, e.Data, &d)
				if d.DurationMS < ms {
					t.Errorf("child %s: step %s took %d ms, want at least %d", k.ID, e.Step, d.DurationMS, ms)
				}
			}
		}
	})
}

// A run started in the foreground that fans out is answered once it has
// completed, not when it begins to wait for its children.
func TestConformanceForegroundFanOutWaitsForItsChildren(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "children")
		run, _, err := b.host.StartRun(context.Background(), &host.StartRunParams{Module: "children", Workflow: "fanout",
			Input: json.RawMessage(`{"n":4}`), Wait: 60 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != store.StatusCompleted || !jsonEqual(t, run.Output, `{"sum":30,"children":4}`) {
			t.Errorf("the foreground fan-out answered %s with %s, want completed with the sum of 4 squares", run.Status, run.Output)
		}
	})
}

// children returns a run's children.
func children(t *testing.T, b *bundle, run *store.Run) []*store.Run {
	t.Helper()
	kids, err := b.host.Children(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	return kids
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}
