package host_test

import (
	"context"
	"fmt"
	"github.com/wasmflow/wasmflow/host"
	"strings"
	"sync"
	"testing"
	"time"

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
		b := setup(t, st, setupOpts{engine: eng, limits: host.Limits{ActivationTimeout: time.Minute}}, "faults")
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

// lostDuringWrite is a store on which the heartbeat reports a run's lease
// lost while the run's completing write is in flight: what a heartbeat sees
// when it races the activation's own last write. The write, which the store
// has not refused, must still land.
type lostDuringWrite struct {
	store.Store
	writing  chan struct{} // closed when the completing write starts
	answered chan struct{} // closed once a heartbeat reported the lease lost
	wrote    sync.Once
	once     sync.Once
}

func (s *lostDuringWrite) RunApply(ctx context.Context, p *store.RunApplyParams) (*store.RunApplyResult, error) {
	if p.Status == store.StatusCompleted {
		s.wrote.Do(func() { close(s.writing) })
		select {
		case <-s.answered:
		case <-time.After(10 * time.Second):
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("the completing write was cancelled: %w", err)
		}
	}
	return s.Store.RunApply(ctx, p)
}

func (s *lostDuringWrite) RunHeartbeat(ctx context.Context, p *store.RunHeartbeatParams) ([]*store.LeaseState, error) {
	states, err := s.Store.RunHeartbeat(ctx, p)
	select {
	case <-s.writing:
		for _, st := range states {
			st.Held = false
		}
		defer s.once.Do(func() { close(s.answered) })
	default:
	}
	return states, err
}

// An activation's writes are not cancelled with it: a heartbeat that finds
// the lease gone while the last write is in flight (the write itself may be
// what ended the lease) stops the guest, but the write lands or is refused
// by the store's fence, never abandoned half-known.
func TestAWriteInFlightOutlivesALostLease(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		lost := &lostDuringWrite{writing: make(chan struct{}), answered: make(chan struct{})}
		b := setup(t, st, setupOpts{engine: eng, lease: 600 * time.Millisecond, wrap: func(s store.Store) store.Store { lost.Store = s; return lost }}, "faults")
		id := b.start(t, "faults", "ok", nil)
		run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted || run.Activations != 1 {
			t.Fatalf("run %s after %d activations (%q), want completed by its first", run.Status, run.Activations, run.Error)
		}
		if n := count(b.events(t, id), store.EventActivationStarted, ""); n != 1 {
			t.Errorf("%d activations started, want 1", n)
		}
	})
}
