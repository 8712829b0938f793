package host_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/flowtest"
	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/internal/poll"
	"github.com/wasmflow/wasmflow/internal/proctest"
	"github.com/wasmflow/wasmflow/store"
)

// metric sums the series of metric name whose labels include labels (name,
// value pairs): counters' and gauges' values, histograms' sample counts. A
// metric with no such series is 0.
func metric(t testing.TB, h *host.Host, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := h.Metrics().Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// waitMetric waits until metric returns want; counters the scheduler
// updates after an activation returns lag behind the run's status.
func waitMetric(t testing.TB, h *host.Host, want float64, name string, labels ...string) {
	t.Helper()
	poll.Until(t, 10*time.Second, func() error {
		if got := metric(t, h, name, labels...); got != want {
			return fmt.Errorf("%s%v = %g, want %g", name, labels, got, want)
		}
		return nil
	})
}

func wantMetric(t testing.TB, h *host.Host, want float64, name string, labels ...string) {
	t.Helper()
	if got := metric(t, h, name, labels...); got != want {
		t.Errorf("%s%v = %g, want %g", name, labels, got, want)
	}
}

func TestMetricsCountRetriesAndStepOutcomes(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng}, "faults")
		id := b.start(t, "faults", "flaky", nil)
		b.wait(t, id, 20*time.Second, store.StatusCompleted)
		h, flaky := b.host, []string{"module", "faults", "workflow", "flaky"}
		waitMetric(t, h, 3, "wasmflow_activation_duration_seconds", "engine", eng)
		wantMetric(t, h, 2, "wasmflow_step_retries_total", append(flaky, "step", "flaky")...)
		wantMetric(t, h, 2, "wasmflow_step_duration_seconds", append(flaky, "step", "flaky", "outcome", "failed")...)
		wantMetric(t, h, 1, "wasmflow_step_duration_seconds", append(flaky, "step", "flaky", "outcome", "completed")...)
		wantMetric(t, h, 2, "wasmflow_activation_duration_seconds", "engine", eng, "status", "pending")
		wantMetric(t, h, 1, "wasmflow_activation_duration_seconds", "engine", eng, "status", "completed")
		// Waking up for a retry resumes nothing that was interrupted.
		wantMetric(t, h, 0, "wasmflow_interrupts_total")
		wantMetric(t, h, 0, "wasmflow_resumptions_total")
		wantMetric(t, h, 0, "wasmflow_lease_losses_total")
	})
}

func TestMetricsCountInterruptsAndResumptions(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		atHalf := flowtest.InterruptDuringStep("count", func(cur []byte) bool { return string(cur) == `{"next":50,"sum":1225}` })
		b := setup(t, st, setupOpts{engine: eng, hooks: atHalf}, "faults")
		id := b.start(t, "faults", "cursor", map[string]any{"items": 100})
		run := b.wait(t, id, 20*time.Second, store.StatusCompleted)
		h, cursor := b.host, []string{"module", "faults", "workflow", "cursor"}
		if run.Activations != 2 {
			t.Fatalf("run had %d activations, want 2", run.Activations)
		}
		wantMetric(t, h, 1, "wasmflow_interrupts_total", append(cursor, "cause", executor.InterruptHook)...)
		wantMetric(t, h, 1, "wasmflow_interrupts_total")
		// The resumption is read beside the activation, and counted once it
		// is known: it may come just after the run's end.
		waitMetric(t, h, 1, "wasmflow_resumptions_total", append(cursor, "after", executor.ResumedAfterInterrupt)...)
		wantMetric(t, h, 1, "wasmflow_resumptions_total")
		for _, e := range b.events(t, id) {
			if e.Type == store.EventRunSuspended && data(t, e)["cause"] != executor.InterruptHook {
				t.Errorf("run_suspended %s, want cause %q", e.Data, executor.InterruptHook)
			}
		}
	})
}

func TestMetricsCountResumptionsAfterALeaseExpired(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng, hooks: flowtest.CrashBeforeEffectEnd("effects", "first"), lease: time.Second}, "faults")
		id := b.start(t, "faults", "effects", nil)
		b.wait(t, id, 20*time.Second, store.StatusCompleted)
		h, effects := b.host, []string{"module", "faults", "workflow", "effects"}
		// The resumption is read beside the activation, and counted once it
		// is known: it may come just after the run's end.
		waitMetric(t, h, 1, "wasmflow_resumptions_total", append(effects, "after", executor.ResumedAfterLeaseExpiry)...)
		wantMetric(t, h, 1, "wasmflow_resumptions_total")
		wantMetric(t, h, 1, "wasmflow_effects_uncertain_total", effects...)
		wantMetric(t, h, 0, "wasmflow_interrupts_total")
	})
}

func TestMetricsCountAHandoffOnBothSides(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		first := setup(t, st, setupOpts{engine: eng}, "export")
		id := first.start(t, "export", "export", map[string]any{"items": 100000, "delay_ms": 5})
		first.wait(t, id, 30*time.Second, store.StatusRunning)
		time.Sleep(200 * time.Millisecond) // inside the long step
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := first.host.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		export := []string{"module", "export", "workflow", "export"}
		wantMetric(t, first.host, 1, "wasmflow_interrupts_total", append(export, "cause", executor.InterruptShutdown)...)
		wantMetric(t, first.host, 1, "wasmflow_interrupts_total")

		second := setup(t, st, setupOpts{engine: eng})
		waitMetric(t, second.host, 1, "wasmflow_resumptions_total", append(export, "after", executor.ResumedAfterHandoff)...)
		wantMetric(t, second.host, 1, "wasmflow_resumptions_total")
		if _, err := second.host.Cancel(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		second.wait(t, id, 10*time.Second, store.StatusCancelled)
	})
}

// stealAtFirstCheckpoint returns hooks that, at the first checkpoint of a
// run, claim it for another owner as if its lease had expired, then call
// after (which may block) before the activation goes on.
func stealAtFirstCheckpoint(st store.Store, after func()) host.Hooks {
	var once sync.Once
	return flowtest.Observe(func(p *host.Point) {
		if p.Kind != host.PointDuringStep {
			return
		}
		once.Do(func() {
			_, err := st.RunClaim(context.Background(), &store.RunClaimParams{
				Owner: "thief", Now: time.Now().Add(time.Hour), LeaseDuration: time.Hour, Limit: 1, RunID: p.Run.ID,
			})
			if err != nil {
				panic(fmt.Sprintf("steal run %s: %v", p.Run.ID, err))
			}
			after()
		})
	})
}

func TestMetricsCountLeaseLosses(t *testing.T) {
	t.Parallel()
	t.Run("a refused write", func(t *testing.T) {
		t.Parallel()
		forEachStore(t, func(t *testing.T, st store.Store, eng string) {
			// A long lease: no heartbeat comes before the next write.
			b := setup(t, st, setupOpts{engine: eng, lease: time.Minute, hooks: stealAtFirstCheckpoint(st, func() {})}, "faults")
			b.start(t, "faults", "cursor", map[string]any{"items": 1000})
			waitMetric(t, b.host, 1, "wasmflow_lease_losses_total", "detected_by", "write")
			wantMetric(t, b.host, 1, "wasmflow_lease_losses_total")
			wantMetric(t, b.host, 1, "wasmflow_activation_duration_seconds", "engine", eng, "status", "running")
		})
	})
	t.Run("a heartbeat", func(t *testing.T) {
		t.Parallel()
		forEachStore(t, func(t *testing.T, st store.Store, eng string) {
			// The guest waits at its checkpoint long enough for ten
			// heartbeats (every 100ms), one of which notices the loss.
			wait := func() { time.Sleep(time.Second) }
			b := setup(t, st, setupOpts{engine: eng, lease: 300 * time.Millisecond, hooks: stealAtFirstCheckpoint(st, wait)}, "faults")
			b.start(t, "faults", "cursor", map[string]any{"items": 1000})
			waitMetric(t, b.host, 1, "wasmflow_lease_losses_total")
			wantMetric(t, b.host, 1, "wasmflow_lease_losses_total", "detected_by", "heartbeat")
			wantMetric(t, b.host, 1, "wasmflow_activation_duration_seconds", "engine", eng, "status", "running")
		})
	})
}

func TestMetricsReadRunsAndLagFromTheStore(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		// One worker, held by the first run before its step: the second run
		// waits for a free slot.
		release := make(chan struct{})
		var once sync.Once
		hold := flowtest.Observe(func(p *host.Point) {
			if p.Kind == host.PointBeforeStep && p.Run.Workflow == "cursor" {
				<-release
			}
		})
		b := setup(t, st, setupOpts{engine: eng, workers: 1, hooks: hold}, "faults")
		t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the host's shutdown
		held := b.start(t, "faults", "cursor", map[string]any{"items": 10})
		b.wait(t, held, 10*time.Second, store.StatusRunning)
		waiting := b.start(t, "faults", "ok", nil)
		const waited = 300 * time.Millisecond
		time.Sleep(waited)

		h := b.host
		if lag := metric(t, h, "wasmflow_oldest_runnable_run_age_seconds"); lag < waited.Seconds() || lag > 30 {
			t.Errorf("lag = %gs, want at least %s (the time run %s has waited)", lag, waited, waiting)
		}
		faults := []string{"module", "faults"}
		wantMetric(t, h, 1, "wasmflow_runs", append(faults, "workflow", "cursor", "status", "running")...)
		wantMetric(t, h, 1, "wasmflow_runs", append(faults, "workflow", "ok", "status", "pending")...)
		wantMetric(t, h, 0, "wasmflow_runs", append(faults, "workflow", "ok", "status", "completed")...)
		wantMetric(t, h, 2, "wasmflow_runs")

		once.Do(func() { close(release) })
		b.wait(t, held, 10*time.Second, store.StatusCompleted)
		b.wait(t, waiting, 10*time.Second, store.StatusCompleted)
	})
}

func TestLogLinesNameTheirRunStepAndActivation(t *testing.T) {
	t.Parallel()
	var out proctest.LockedBuffer
	// Interrupted after its first step and crashed inside its second, the
	// run has three activations, and logs from the host and from the guest,
	// inside steps and between them.
	b := setup(t, openStore(t, "sqlite"), setupOpts{
		hooks:  flowtest.Combine(flowtest.InterruptAfterStep("charge_payment"), flowtest.CrashBeforeEffectEnd("send_receipt", "email")),
		lease:  time.Second,
		logger: slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, "receipt")
	h := b.host
	id := b.start(t, "receipt", "receipt", map[string]any{"order_id": "A-1", "amount_cents": 4200, "email": "ada@example.com"})
	run := b.wait(t, id, 20*time.Second, store.StatusCompleted)
	if run.Activations != 3 {
		t.Fatalf("run had %d activations, want 3", run.Activations)
	}
	waitMetric(t, h, 3, "wasmflow_activation_duration_seconds") // the last one has logged

	type line struct {
		Msg        string   `json:"msg"`
		RunID      string   `json:"run_id"`
		Activation *float64 `json:"activation"`
		Step       *string  `json:"step"`
		Source     string   `json:"source"`
		After      string   `json:"after"`
	}
	// Each line the test expects, by how it begins, with the step and the
	// activations it may name (step "" for none).
	want := map[string]struct {
		step        string
		activations []float64
	}{
		"charging":                        {"charge_payment", []float64{1}},
		"run suspended":                   {"", []float64{1}},
		"run resumed after interrupt":     {"", []float64{2}},
		"emailing receipt":                {"send_receipt", []float64{2, 3}}, // executed again after the crash
		"run resumed after lease_expired": {"", []float64{3}},
		"effect outcome uncertain":        {"send_receipt", []float64{3}},
		"run finished":                    {"", []float64{3}},
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		raw := sc.Text()
		if !strings.Contains(raw, run.ID) {
			continue
		}
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, raw)
		}
		if l.RunID != run.ID || l.Activation == nil || *l.Activation < 1 || *l.Activation > 3 {
			t.Errorf("log line about run %s lacks its run_id or activation: %s", run.ID, raw)
			continue
		}
		key := l.Msg
		if l.After != "" {
			key += " after " + l.After
		}
		for prefix, w := range want {
			if !strings.HasPrefix(key, prefix) {
				continue
			}
			seen[prefix] = true
			step := ""
			if l.Step != nil {
				step = *l.Step
			}
			if step != w.step || !slices.Contains(w.activations, *l.Activation) {
				t.Errorf("%q: step %q activation %g, want step %q activation in %v: %s", prefix, step, *l.Activation, w.step, w.activations, raw)
			}
		}
	}
	for prefix := range want {
		if !seen[prefix] {
			t.Errorf("no log line %q about run %s; the log:\n%s", prefix, run.ID, out.String())
		}
	}
}
