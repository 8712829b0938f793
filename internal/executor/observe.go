package executor

import (
	"context"
	"encoding/json"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// resumptionWindow bounds how many events before its own activation_started
// an activation reads to learn how the previous one ended: signals received
// in between are skipped, and more of them than this leave it unknown.
const resumptionWindow = 16

// observeResumption logs and tells the Observer when this activation resumes
// a run whose previous activation was interrupted or ended without a word.
// It costs one small read, only for runs activated before, and runs beside
// the activation: it reads nothing the activation changes.
func (a *Activation) observeResumption(ctx context.Context) (wait func()) {
	if a.run.Activations < 2 || a.run.EventCount < 2 {
		return func() {}
	}
	run, log := *a.run, a.logger()
	done := make(chan struct{})
	// Not cancelled with the activation: one that ends at once (its first
	// write completes the run) loses its lease to that write, and the
	// heartbeat that notices stops the activation while this read is
	// still under way.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	go func() {
		defer close(done)
		defer cancel()
		after, err := a.e.resumedAfter(rctx, &run)
		if err != nil {
			log.Warn("could not read how the run's previous activation ended", "err", err)
			return
		}
		if after == "" {
			return
		}
		log.Info("run resumed", "after", after)
		if a.e.obs != nil {
			a.e.obs.Resumed(&run, after)
		}
	}()
	return func() { <-done }
}

// resumedAfter reads the events just before this activation's
// activation_started (the run's last event) and returns what it resumes
// after (Resumed*), or "" for a first activation or a wake-up from a sleep,
// a signal wait or a retry backoff.
func (e *Executor) resumedAfter(ctx context.Context, run *store.Run) (string, error) {
	mine := run.EventCount
	from := max(mine-1-resumptionWindow, 0)
	evs, err := e.store.EventList(ctx, &store.EventListParams{RunID: run.ID, AfterSeq: from, Limit: int(mine - 1 - from)})
	if err != nil {
		return "", err
	}
	for i := len(evs) - 1; i >= 0; i-- {
		switch ev := evs[i]; {
		case ev.Seq >= mine || ev.Type == store.EventSignalReceived:
			// Signals arrive from outside, whatever the run was doing.
		case ev.Type == store.EventRunSuspended:
			var d struct {
				Reason string `json:"reason"`
				Cause  string `json:"cause"`
			}
			_ = json.Unmarshal(ev.Data, &d)
			switch {
			case d.Reason != SuspendInterrupt:
				return "", nil
			case d.Cause == InterruptShutdown || d.Cause == InterruptShutdownForced:
				return ResumedAfterHandoff, nil
			}
			return ResumedAfterInterrupt, nil
		case ev.Type == store.EventRunCreated || ev.Type == store.EventRunRetried:
			return "", nil
		default:
			// The previous activation's last word was not a suspension.
			return ResumedAfterLeaseExpiry, nil
		}
	}
	return "", nil
}

// observeStep tells the Observer that an attempt of step ended.
func (a *Activation) observeStep(step string, d time.Duration, failed, retry bool) {
	if a.e.obs != nil {
		a.e.obs.StepEnded(a.run, step, d, failed, retry)
	}
}
