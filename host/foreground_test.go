package host_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/flowtest"
	"github.com/wasmflow/wasmflow/store"
)

// StartRun with Wait runs the run in the calling process and answers once it
// has finished or waits for a signal; the rest goes on in the background.
func TestStartRunWithWaitRunsInTheForeground(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		// A poll interval far longer than the test: only the foreground
		// claim can start these runs in time.
		b := setup(t, st, setupOpts{engine: eng, poll: time.Hour}, "faults")
		ctx := context.Background()
		run, created, err := b.host.StartRun(ctx, &host.StartRunParams{Module: "faults", Workflow: "ok", Wait: 20 * time.Second})
		if err != nil || !created {
			t.Fatalf("start: %v %v", created, err)
		}
		if run.Status != store.StatusCompleted || string(run.Output) != `{"ok":true}` {
			t.Fatalf("foreground run: %s %s %q", run.Status, run.Output, run.Error)
		}
		evs := b.events(t, run.ID)
		if d := data(t, evs[1]); evs[1].Type != store.EventActivationStarted || d["owner"] != b.host.Owner() {
			t.Errorf("first activation: %s %v, want activation_started by this process %s", evs[1].Type, d, b.host.Owner())
		}

		in := json.RawMessage(`{"timeout_ms": 60000}`)
		run, _, err = b.host.StartRun(ctx, &host.StartRunParams{Module: "faults", Workflow: "await", Input: in, Wait: 20 * time.Second})
		if err != nil || run.Status != store.StatusWaiting {
			t.Fatalf("foreground run of a workflow awaiting a signal: %v %v, want waiting", run.Status, err)
		}
		if _, err := b.host.Signal(ctx, run.ID, "go", json.RawMessage(`"hi"`)); err != nil {
			t.Fatal(err)
		}
		// A signal wakes the scheduler of this process at once.
		run = b.wait(t, run.ID, 20*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Fatalf("after the signal: %v %q", run.Status, run.Error)
		}
	})
}

// A run that is interrupted more often than Limits.Activations allows fails
// with the limit named.
func TestRunFailsAtItsActivationLimit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		always := flowtest.InterruptDuringStep("write_files", func([]byte) bool { return true })
		b := setup(t, st, setupOpts{engine: eng, hooks: always, limits: host.Limits{Activations: 3}}, "export")
		id := b.start(t, "export", "export", map[string]any{"items": 50})
		run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		want := "the run reached its limit of 3 activations: it was interrupted"
		if run.Status != store.StatusFailed || !strings.HasPrefix(run.Error, want) {
			t.Fatalf("run %s %q, want failed with %q", run.Status, run.Error, want)
		}
		if run.Activations != 4 {
			t.Errorf("%d activations, want 4 (3 allowed, the 4th fails the run)", run.Activations)
		}
	})
}

// A foreground run takes a worker slot like any activation: with the only
// slot taken, it is created runnable by any process instead of running
// beside the busy one, and starts when the slot is free.
func TestForegroundRunsCountAgainstTheWorkers(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng, workers: 1}, "faults", "export")
		ctx := context.Background()
		busy, _, err := b.host.StartRun(ctx, &host.StartRunParams{Module: "export", Workflow: "export",
			Input: json.RawMessage(`{"items": 100, "delay_ms": 10}`), Wait: 300 * time.Millisecond})
		if err != nil || busy.Status != store.StatusRunning {
			t.Fatalf("long foreground run: %v %v, want running after 300ms", busy.Status, err)
		}
		run, _, err := b.host.StartRun(ctx, &host.StartRunParams{Module: "faults", Workflow: "ok", Wait: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != store.StatusPending || run.Activations != 0 {
			t.Fatalf("foreground run with no free slot: %s after %d activations, want pending and not started", run.Status, run.Activations)
		}
		run = b.wait(t, run.ID, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Fatalf("run after the slot was free: %s %q", run.Status, run.Error)
		}
		if b.wait(t, busy.ID, 30*time.Second, store.StatusCompleted, store.StatusFailed).Status != store.StatusCompleted {
			t.Fatal("the long run did not complete")
		}
	})
}
