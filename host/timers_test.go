package host_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// A timer that falls due while another is pending fires on time, not at the
// next poll: two runs sleeping 1 s and 1.5 s, started together, both fire
// within 200 ms of their due time with a poll interval of 1 s (a scheduler
// that remembered only the earliest wake-up fired the second at the poll
// after the first, about 500 ms late).
func TestTimerDueWhileAnotherIsPendingFiresOnTime(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng, poll: time.Second}, "faults")
		first := b.start(t, "faults", "sleepy", map[string]any{"ms": 1000})
		second := b.start(t, "faults", "sleepy", map[string]any{"ms": 1500})
		for _, id := range []string{first, second} {
			run := b.wait(t, id, 20*time.Second, store.StatusCompleted, store.StatusFailed)
			if run.Status != store.StatusCompleted {
				t.Fatalf("run %s: %s %q", id, run.Status, run.Error)
			}
			lag := timerLag(t, b.events(t, id))
			t.Logf("run %s: timer lag %s", id, lag)
			if lag < 0 || lag > 200*time.Millisecond {
				t.Errorf("run %s: timer fired %s after its due time, want at most 200ms", id, lag)
			}
		}
	})
}

// timerLag returns how long after its due time (timer_scheduled's wake_at)
// the run's one timer fired (timer_fired's time).
func timerLag(t testing.TB, evs []*store.Event) time.Duration {
	t.Helper()
	var due, fired time.Time
	for _, e := range evs {
		switch e.Type {
		case store.EventTimerScheduled:
			var d struct {
				WakeAt time.Time `json:"wake_at"`
			}
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatalf("timer_scheduled data %s: %v", e.Data, err)
			}
			due = d.WakeAt
		case store.EventTimerFired:
			fired = e.At
		}
	}
	if due.IsZero() || fired.IsZero() {
		t.Fatalf("no timer scheduled and fired in %d events", len(evs))
	}
	return fired.Sub(due)
}
