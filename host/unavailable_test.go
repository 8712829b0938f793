package host_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// blinkingStore makes every third write and journal read meet an
// unavailable database: a third of those writes fail before reaching it,
// and the others commit but lose their answer, as when the connection dies
// after COMMIT was sent.
type blinkingStore struct {
	store.Store
	mu     sync.Mutex
	writes int
	reads  int
	blinks int
}

func (s *blinkingStore) blink(n *int) (before, after bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*n++
	switch *n % 6 {
	case 2:
		s.blinks++
		return true, false
	case 5:
		s.blinks++
		return false, true
	}
	return false, false
}

func (s *blinkingStore) RunApply(ctx context.Context, p *store.RunApplyParams) (*store.RunApplyResult, error) {
	before, after := s.blink(&s.writes)
	if before {
		return nil, fmt.Errorf("store: apply to run %s: %w: connection refused", p.RunID, store.ErrUnavailable)
	}
	res, err := s.Store.RunApply(ctx, p)
	if after && err == nil {
		return nil, fmt.Errorf("store: apply to run %s: %w: the connection died after COMMIT", p.RunID, store.ErrUnavailable)
	}
	return res, err
}

func (s *blinkingStore) RunJournal(ctx context.Context, p *store.RunJournalParams) (*store.RunJournal, error) {
	if before, after := s.blink(&s.reads); before || after {
		return nil, fmt.Errorf("store: read journal of run %s: %w", p.RunID, store.ErrUnavailable)
	}
	return s.Store.RunJournal(ctx, p)
}

// An activation whose writes meet an unavailable database sends them again
// and carries on: the run completes in its first activation, without
// waiting for its lease, with every step completed once and no event
// written twice, although half of the failed writes had committed.
func TestActivationsCarryOnThroughAnUnavailableDatabase(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		bs := &blinkingStore{}
		b := setup(t, st, setupOpts{engine: eng, lease: time.Minute, wrap: func(s store.Store) store.Store { bs.Store = s; return bs }}, "bench")
		const steps = 20
		start := time.Now()
		id := b.start(t, "bench", "steps", map[string]any{"steps": steps})
		run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Fatalf("run %s: %s %s", id, run.Status, run.Error)
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("the run took %s: it waited for its lease", took)
		}
		evs := b.events(t, id)
		if n := count(evs, store.EventActivationStarted, ""); n != 1 {
			t.Errorf("%d activations, want 1: the activation gave up on its writes", n)
		}
		for i := range steps {
			if n := count(evs, store.EventStepCompleted, fmt.Sprintf("s%d", i)); n != 1 {
				t.Errorf("step s%d completed %d times", i, n)
			}
		}
		if n := count(evs, store.EventRunCompleted, ""); n != 1 {
			t.Errorf("%d run_completed events, want 1", n)
		}
		bs.mu.Lock()
		defer bs.mu.Unlock()
		if bs.blinks < 4 {
			t.Fatalf("only %d store calls met an unavailable database", bs.blinks)
		}
		t.Logf("%d store calls met an unavailable database; the run completed in %s", bs.blinks, time.Since(start).Round(time.Millisecond))
	})
}

// claimsDownStore fails claims and heartbeats while down is set.
type claimsDownStore struct {
	store.Store
	down atomic.Bool
}

func (s *claimsDownStore) RunClaim(ctx context.Context, p *store.RunClaimParams) ([]*store.Run, error) {
	if s.down.Load() {
		return nil, fmt.Errorf("store: claim runs: %w: connection refused", store.ErrUnavailable)
	}
	return s.Store.RunClaim(ctx, p)
}

func (s *claimsDownStore) RunHeartbeat(ctx context.Context, p *store.RunHeartbeatParams) ([]*store.LeaseState, error) {
	if s.down.Load() {
		return nil, fmt.Errorf("store: heartbeat: %w: connection refused", store.ErrUnavailable)
	}
	return s.Store.RunHeartbeat(ctx, p)
}

// The scheduler survives a database outage without a restart: claims and
// heartbeats that fail meanwhile back off and succeed again once it is
// over, so a run created during the outage is claimed after it, and a run
// in flight keeps its lease.
func TestSchedulerRecoversFromAnOutage(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	ds := &claimsDownStore{}
	// A lease long enough to outlast the outage plus a heartbeat interval
	// (a third of it): the last heartbeat before the outage may be that old.
	b := setup(t, st, setupOpts{lease: 6 * time.Second, poll: 100 * time.Millisecond,
		wrap: func(s store.Store) store.Store { ds.Store = s; return ds }}, "bench")
	warm := b.start(t, "bench", "steps", map[string]any{"steps": 1}) // the module compiled
	b.wait(t, warm, 30*time.Second, store.StatusCompleted)
	inFlight := b.start(t, "bench", "steps", map[string]any{"steps": 5000})
	time.Sleep(200 * time.Millisecond) // under way
	ds.down.Store(true)
	during := b.start(t, "bench", "steps", map[string]any{"steps": 3})
	time.Sleep(2500 * time.Millisecond) // claims fail, heartbeats fail, backoff grows
	ds.down.Store(false)
	up := time.Now()
	b.wait(t, during, 8*time.Second, store.StatusCompleted) // claims back off 5s at most
	t.Logf("the run created during the outage completed %s after it", time.Since(up).Round(time.Millisecond))
	run := b.wait(t, inFlight, 60*time.Second, store.StatusCompleted)
	if run.Activations != 1 {
		t.Errorf("the run in flight had %d activations, want 1: its lease was lost to the outage", run.Activations)
	}
}
