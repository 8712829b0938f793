package host_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host/executor"
	"github.com/wasmflow/wasmflow/store"
)

// Cancelling a running run stops it at its next checkpoint.
func TestCancelStopsARunningRunAtItsNextCheckpoint(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng, lease: time.Second}, "export")
		id := b.start(t, "export", "export", map[string]any{"items": 100000, "delay_ms": 5})
		b.wait(t, id, 30*time.Second, store.StatusRunning)
		if _, err := b.host.Cancel(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		// The activation learns of it at its next heartbeat (lease/3) or
		// write, and stops at its next checkpoint.
		run := b.wait(t, id, 10*time.Second, store.StatusCancelled, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCancelled {
			t.Fatalf("run %s %q, want cancelled", run.Status, run.Error)
		}
		if n := count(b.events(t, id), store.EventRunCancelled, ""); n != 1 {
			t.Errorf("%d run_cancelled events, want 1", n)
		}
	})
}

// A shutdown whose grace period ends before a guest reaches a checkpoint
// stops the guest where it is and hands its run back, runnable at once.
func TestShutdownAfterTheGracePeriodHandsBackAGuestThatNeverCheckpoints(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng, limits: executor.Limits{ActivationTimeout: time.Minute}}, "faults")
		id := b.start(t, "faults", "loop", nil)
		b.wait(t, id, 30*time.Second, store.StatusRunning)
		time.Sleep(200 * time.Millisecond) // inside the loop
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := b.host.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("shutdown took %s with a 500ms grace period", d)
		}
		run, err := b.host.Run(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != store.StatusPending || run.LeaseOwner != "" || run.WakeAt == nil || run.WakeAt.After(time.Now()) {
			t.Fatalf("after shutdown: %s owner %q wake %v, want pending, released, runnable now", run.Status, run.LeaseOwner, run.WakeAt)
		}
		evs := b.events(t, id)
		last := evs[len(evs)-1]
		if last.Type != store.EventRunSuspended || !strings.Contains(string(last.Data), `"interrupt"`) {
			t.Errorf("last event %s %s, want run_suspended (interrupt)", last.Type, last.Data)
		}
	})
}
