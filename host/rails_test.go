package host_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/flowtest"
	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/store"
)

// The parts of Rails' Active Job Continuations that sit beside steps and
// cursors: no checkpoint inside an effect, a delay before an interrupted
// run resumes, resumed steps and replays in the timeline,
// resume_errors_after_advancing, and a cursor that cannot advance.

// A checkpoint or a cursor save between effect_begin and effect_end is a
// named guest fault: the run fails there, saying so, and nothing of the
// checkpoint is recorded.
func TestConformanceCheckpointInsideEffect(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "faults")
		for _, tc := range []struct {
			call  string
			input map[string]any
		}{
			{"cursor_set", nil},
			{"checkpoint", map[string]any{"checkpoint": 1}},
		} {
			id := b.start(t, "faults", "in_effect", tc.input)
			run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
			if run.Status != store.StatusFailed {
				t.Fatalf("%s inside an effect: run %s, want failed", tc.call, run.Status)
			}
			for _, want := range []string{tc.call + ": checkpoint inside effect", `effect "charge"`, `step "pay"`} {
				if !strings.Contains(run.Error, want) {
					t.Errorf("%s inside an effect: error %q does not say %q", tc.call, run.Error, want)
				}
			}
			evs := b.events(t, id)
			if n := count(evs, store.EventEffectStarted, "pay"); n != 1 {
				t.Errorf("%s inside an effect: %d effect_started events, want 1", tc.call, n)
			}
			if n := count(evs, store.EventCheckpoint, ""); n != 0 {
				t.Errorf("%s inside an effect: %d checkpoint events, want none", tc.call, n)
			}
		}
	})
}

// An interrupted run waits the resume delay before it resumes: the host's
// (--resume-delay), or its workflow's own when it declares one. The
// suspension's wake_at is the delay after it, and the next activation is
// claimed no earlier. The host that runs the workflows is not the one the
// module was uploaded to: it learns the workflow's options by itself.
func TestConformanceResumeDelay(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		const hostDelay = 400 * time.Millisecond
		hooks := flowtest.InterruptDuringStep("count", func(cursor []byte) bool { return cursorNext(t, cursor) == 5 })
		c.setup(t, setupOpts{workers: -1}, "faults") // uploads, runs nothing
		b := setup(t, c.st, setupOpts{engine: c.engine, hooks: hooks, resumeDelay: hostDelay})
		for _, tc := range []struct {
			workflow string
			delay    time.Duration
		}{
			{"cursor", hostDelay},
			{"patient", 300 * time.Millisecond}, // its own, shorter than the host's
		} {
			id := b.start(t, "faults", tc.workflow, map[string]any{"items": 10})
			b.completed(t, id, `{"processed":10,"sum":45}`)
			checkResumeDelay(t, b.events(t, id), tc.delay)
		}
	})
}

// checkResumeDelay checks that a run's one interrupt was suspended until
// delay after it, and that the run's next activation began no earlier.
func checkResumeDelay(t *testing.T, evs []*store.Event, delay time.Duration) {
	t.Helper()
	var wake time.Time
	resumed := false
	for _, e := range evs {
		switch {
		case e.Type == store.EventRunSuspended:
			d := data(t, e)
			if d["reason"] != "interrupt" || !wake.IsZero() {
				t.Fatalf("unexpected suspension %s", e.Data)
			}
			at, err := time.Parse(time.RFC3339Nano, d["wake_at"].(string))
			if err != nil {
				t.Fatal(err)
			}
			wake = at
			// wake_at is the interrupt's time plus the delay; the event is
			// stamped a moment after that time was taken.
			if gap := wake.Sub(e.At); gap > delay || gap < delay-50*time.Millisecond {
				t.Errorf("suspended at %s until %s: %s later, want %s", e.At.Format(time.RFC3339Nano), d["wake_at"], gap, delay)
			}
		case e.Type == store.EventActivationStarted && !wake.IsZero():
			resumed = true
			if e.At.Before(wake) {
				t.Errorf("the run resumed at %s, before its wake_at %s", e.At.Format(time.RFC3339Nano), wake.Format(time.RFC3339Nano))
			}
		}
	}
	if !resumed {
		t.Errorf("the run was never interrupted and resumed")
	}
}

// Each activation's activation_started counts the steps it replayed, and
// step_started says whether the step resumes, and from which cursor.
func TestConformanceReplayedAndResumedSteps(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{hooks: flowtest.Combine(
			flowtest.InterruptAfterStep("b"),
			flowtest.InterruptDuringStep("count", func(cursor []byte) bool { return cursorNext(t, cursor) == 5 }),
		)}, "steps", "faults")

		// Interrupted after b (step_end does not park): the second
		// activation replays a and b, and runs c fresh.
		id := b.start(t, "steps", "abc", nil)
		b.completed(t, id, `["a","b","c"]`)
		if got := replayedSteps(t, started(t, b, id)); !equalInts(got, []int{0, 2}) {
			t.Errorf("abc: activations replayed %v steps, want [0 2]", got)
		}
		for _, e := range b.events(t, id) {
			if e.Type == store.EventStepStarted && data(t, e)["resumed"] != false {
				t.Errorf("abc: step %s started with %s, want resumed false", e.Step, e.Data)
			}
		}

		// Interrupted inside count at item 5: a guest that replays starts
		// the step again from its cursor; one that parked goes on inside it
		// (no new step_started), replaying nothing.
		id = b.start(t, "faults", "cursor", map[string]any{"items": 10})
		b.completed(t, id, `{"processed":10,"sum":45}`)
		acts := started(t, b, id)
		if got := replayedSteps(t, acts); !equalInts(got, []int{0, 0}) {
			t.Errorf("cursor: activations replayed %v steps, want [0 0]", got)
		}
		var starts []map[string]any
		for _, e := range b.events(t, id) {
			if e.Type == store.EventStepStarted {
				starts = append(starts, data(t, e))
			}
		}
		if len(starts) == 0 || starts[0]["resumed"] != false || starts[0]["cursor"] != nil {
			t.Fatalf("cursor: first step_started %v, want resumed false and no cursor", starts)
		}
		if resumedParked(acts[1]) {
			if len(starts) != 1 {
				t.Errorf("cursor: %d step_started events after a parked resume, want 1", len(starts))
			}
			return
		}
		if len(starts) != 2 || starts[1]["resumed"] != true || !jsonValueEqual(starts[1]["cursor"], `{"next":5,"sum":10}`) || starts[1]["attempt"] != 1.0 {
			t.Errorf("cursor: step_started events %v, want the second resumed at {\"next\":5,\"sum\":10} in attempt 1", starts)
		}
	})
}

// replayedSteps returns each activation's replayed_steps.
func replayedSteps(t *testing.T, acts []map[string]any) []int {
	t.Helper()
	var out []int
	for _, a := range acts {
		n, ok := a["replayed_steps"].(float64)
		if !ok {
			t.Fatalf("activation_started %v has no replayed_steps", a)
		}
		out = append(out, int(n))
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// jsonValueEqual reports whether v, decoded from an event, is the JSON
// value want.
func jsonValueEqual(v any, want string) bool {
	var w any
	if json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	return reflect.DeepEqual(v, w)
}

// With resume_errors_after_advancing, an error after the step saved a new
// cursor resumes the step from it without using up an attempt: a step of
// one attempt that fails three times, each time after advancing, completes
// in its first attempt, waiting its backoff before each resumption. One that
// would advance and fail for ever is stopped by the run's activation limit.
func TestConformanceResumeErrorsAfterAdvancing(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{limits: host.Limits{Activations: 8}}, "faults")
		id := b.start(t, "faults", "advancing", map[string]any{"items": 3})
		run := b.completed(t, id, `{"attempt":1,"items":3}`)
		if run.Activations != 4 {
			t.Errorf("%d activations, want 4 (one per error, and the last)", run.Activations)
		}
		evs := b.events(t, id)
		if n := count(evs, store.EventRetryScheduled, ""); n != 0 {
			t.Errorf("%d retry_scheduled events, want none", n)
		}
		failures := 0
		var wake, failedAt time.Time
		for _, e := range evs {
			d := data(t, e)
			switch e.Type {
			case store.EventStepFailed:
				failedAt = e.At
				if d["resuming"] != true || d["retrying"] != false || d["attempt"] != 1.0 || !jsonValueEqual(d["cursor"], jsonInt(failures+1)) {
					t.Errorf("step_failed %s, want resuming in attempt 1 at cursor %d", e.Data, failures+1)
				}
				failures++
			case store.EventRunSuspended:
				if d["reason"] != "interrupt" || d["cause"] != executor.InterruptErrorAfterAdvancing {
					t.Errorf("run_suspended %s, want an interrupt with cause %s", e.Data, executor.InterruptErrorAfterAdvancing)
				}
				wake, _ = time.Parse(time.RFC3339Nano, d["wake_at"].(string))
				// The backoff counts from the failure, not from the
				// suspension's event, which a busy machine may stamp later.
				if wake.Sub(failedAt) < 15*time.Millisecond {
					t.Errorf("failed at %s, suspended until %s: want the step's 20 ms backoff", failedAt.Format(time.RFC3339Nano), d["wake_at"])
				}
			case store.EventActivationStarted:
				if e.At.Before(wake) {
					t.Errorf("resumed at %s, before wake_at %s", e.At.Format(time.RFC3339Nano), wake.Format(time.RFC3339Nano))
				}
			case store.EventStepStarted:
				if d["attempt"] != 1.0 {
					t.Errorf("step_started %s, want attempt 1", e.Data)
				}
			}
		}
		if failures != 3 {
			t.Errorf("%d step_failed events, want 3", failures)
		}

		id = b.start(t, "faults", "advancing", map[string]any{"items": 1000})
		run = b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusFailed || !strings.Contains(run.Error, "limit of 8 activations: ") {
			t.Errorf("a step that keeps advancing and failing: run %s (%s), want failed at the activation limit", run.Status, run.Error)
		}
	})
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Advance on a cursor that is not an integer fails the step at once, with
// the SDK's named error rather than a decoding panic (the SDK guests only:
// Advance is the SDKs').
func TestConformanceUnadvanceableCursor(t *testing.T) {
	forEachComboOf(t, []string{"go", "rust"}, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "faults")
		id := b.start(t, "faults", "unadvanceable", nil)
		run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusFailed {
			t.Fatalf("run %s, want failed", run.Status)
		}
		for _, want := range []string{"unadvanceable cursor", `"page-1"`, `"count"`, "cannot advance"} {
			if !strings.Contains(run.Error, want) || strings.Contains(run.Error, "panic") {
				t.Errorf("error %q does not say %q, or mentions a panic", run.Error, want)
			}
		}
		evs := b.events(t, id)
		if n := count(evs, store.EventStepStarted, "count"); n != 1 {
			t.Errorf("count started %d times, want once (the error is permanent)", n)
		}
	})
}
