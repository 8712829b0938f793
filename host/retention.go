package host

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// The batches of PurgeRuns: how many runs one short transaction deletes,
// and the pause between two, which leaves the database to the runs that
// are being carried meanwhile.
const (
	PurgeBatch = 500
	PurgePause = 20 * time.Millisecond
)

// DefaultRetentionInterval is Config.RetentionInterval's default.
const DefaultRetentionInterval = time.Minute

// PurgeRunsParams are the arguments of PurgeRuns.
type PurgeRunsParams struct {
	// Before: only runs that finished before this time. Required.
	Before time.Time
	// Status: only finished runs in this status (completed, failed or
	// cancelled); empty: all of them.
	Status RunStatus
	// DryRun counts the runs that would be purged and purges none.
	DryRun bool
}

// PurgeResult is what PurgeRuns did.
type PurgeResult struct {
	// Matched is, with DryRun, how many runs match; Purged, without it,
	// how many were deleted, in Batches transactions.
	Matched  int64
	Purged   int64
	Batches  int
	Duration time.Duration
}

// PurgeRuns deletes the runs that finished before p.Before (in p.Status
// when set), with their events, journals, effects, signals and snapshots,
// in short transactions of PurgeBatch runs with a pause of PurgePause
// between them, until none is left or ctx ends. A finished child run is
// kept as long as its parent is (see store.Store's RunPurge). Purging takes
// no lock a claim wants: finished runs are never claimed, and a run locked
// by anyone else is skipped. Several processes may purge at once.
func (h *Host) PurgeRuns(ctx context.Context, p *PurgeRunsParams) (*PurgeResult, error) {
	if p.Before.IsZero() {
		return nil, errorf(ErrInvalid, "before is required: purge runs that finished before this time")
	}
	sp := &store.RunPurgeParams{Before: p.Before, Limit: PurgeBatch, DryRun: p.DryRun}
	if p.Status != "" {
		if !p.Status.Terminal() {
			return nil, errorf(ErrInvalid, "status %s is not a finished status: only completed, failed or cancelled runs can be purged", quote(string(p.Status)))
		}
		sp.Statuses = []store.RunStatus{p.Status}
	}
	start := time.Now()
	res := &PurgeResult{}
	if p.DryRun {
		r, err := h.store.RunPurge(ctx, sp)
		if err != nil {
			return nil, err
		}
		res.Matched, res.Duration = r.Count, time.Since(start)
		return res, nil
	}
	for {
		r, err := h.store.RunPurge(ctx, sp)
		if err != nil {
			res.Duration = time.Since(start)
			return res, err
		}
		res.Batches++
		res.Purged += r.Count
		h.metrics.RunsPurged(r.Count)
		if r.Count < int64(sp.Limit) {
			break
		}
		select {
		case <-ctx.Done():
			res.Duration = time.Since(start)
			return res, ctx.Err()
		case <-time.After(PurgePause):
		}
	}
	res.Duration = time.Since(start)
	return res, nil
}

// retain purges, at start and then every RetentionInterval until ctx ends,
// the runs that finished longer than Retention ago.
func (h *Host) retain(ctx context.Context) {
	tick := time.NewTicker(h.cfg.RetentionInterval)
	defer tick.Stop()
	for {
		res, err := h.PurgeRuns(ctx, &PurgeRunsParams{Before: now().Add(-h.cfg.Retention)})
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			h.log.Warn("retention: purge failed", "err", err, "purged", res.Purged)
		case res.Purged > 0:
			h.log.Info("retention: purged finished runs", "runs", res.Purged, "batches", res.Batches,
				"retention", h.cfg.Retention.String(), "took", res.Duration.Round(time.Millisecond).String())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RunFilter selects runs for CancelRuns and RetryRuns. Empty fields match
// every run.
type RunFilter struct {
	Status        RunStatus
	Module        string
	ModuleVersion string // only with Module
	Workflow      string
	// All must be set to act on every run when the filter has no other
	// field: a bulk change of every run is never the default.
	All bool
}

func (f *RunFilter) empty() bool {
	return f.Status == "" && f.Module == "" && f.ModuleVersion == "" && f.Workflow == ""
}

// BulkResult is what CancelRuns or RetryRuns did, or with a dry run would
// do.
type BulkResult struct {
	// Matched is how many runs matched the filter in a status that allows
	// the change (with a dry run, all that was done).
	Matched int64
	// Done is how many were cancelled (or retried); Requested, for
	// CancelRuns, how many were running and were asked to stop (their
	// activations cancel them at their next host call).
	Done      int64
	Requested int64
	// Skipped counts the matched runs left as they were, by reason: each
	// changed status (or was purged) between the page that listed it and
	// its own change.
	Skipped map[string]int64
}

// bulkPage is how many runs CancelRuns and RetryRuns list at a time.
const bulkPage = 500

// CancelRuns cancels every run that matches f and has not finished, each
// as Cancel does (without waiting for running ones), one short transaction
// per run. f.Status, when set, is pending, running, sleeping or waiting. A
// filter without any field is refused unless f.All is set. With dryRun it
// only counts.
func (h *Host) CancelRuns(ctx context.Context, f *RunFilter, dryRun bool) (*BulkResult, error) {
	statuses := []store.RunStatus{store.StatusPending, store.StatusSleeping, store.StatusWaiting, store.StatusRunning}
	if f.Status != "" {
		if !f.Status.Valid() || f.Status.Terminal() {
			return nil, errorf(ErrInvalid, "status %s: only runs that have not finished (pending, running, sleeping, waiting) can be cancelled", quote(string(f.Status)))
		}
		statuses = []store.RunStatus{f.Status}
	}
	return h.bulk(ctx, f, statuses, dryRun, "cancel", func(run *store.Run) (bool, error) {
		got, err := h.store.RunCancel(ctx, &store.RunCancelParams{ID: run.ID, Now: now()})
		if err == nil {
			h.watchers.changed(run.ID, nil)
		}
		return err == nil && got.Status == store.StatusRunning, err
	})
}

// RetryRuns retries every failed run that matches f, each as Retry does,
// one short transaction per run. f.Status, when set, is failed. A filter
// without any field is refused unless f.All is set. With dryRun it only
// counts.
func (h *Host) RetryRuns(ctx context.Context, f *RunFilter, dryRun bool) (*BulkResult, error) {
	if f.Status != "" && f.Status != store.StatusFailed {
		return nil, errorf(ErrInvalid, "status %s: only failed runs can be retried", quote(string(f.Status)))
	}
	res, err := h.bulk(ctx, f, []store.RunStatus{store.StatusFailed}, dryRun, "retry", func(run *store.Run) (bool, error) {
		_, err := h.store.RunRetry(ctx, &store.RunRetryParams{ID: run.ID, Now: now()})
		return false, err
	})
	if err == nil && !dryRun && res.Done > 0 && h.sched != nil {
		h.sched.Wake()
	}
	return res, err
}

// bulk pages through the runs matching f in each of statuses, oldest page
// last, and changes each with change, which reports whether the change was
// only requested. A run that no longer allows the change is skipped.
func (h *Host) bulk(ctx context.Context, f *RunFilter, statuses []store.RunStatus, dryRun bool, verb string,
	change func(*store.Run) (requested bool, err error)) (*BulkResult, error) {
	if err := checkFilters(f.Module, f.ModuleVersion, f.Workflow); err != nil {
		return nil, err
	}
	if f.empty() && !f.All {
		return nil, errorf(ErrInvalid, "a bulk %s without a filter would %s every run: give a status, module, version or workflow, or ask for all explicitly", verb, verb)
	}
	res := &BulkResult{Skipped: map[string]int64{}}
	if dryRun {
		groups, err := h.store.RunCount(ctx, &store.RunCountParams{Module: f.Module, ModuleVersion: f.ModuleVersion, Workflow: f.Workflow})
		if err != nil {
			return nil, err
		}
		for _, g := range groups {
			if slices.Contains(statuses, g.Status) {
				res.Matched += g.Count
			}
		}
		return res, nil
	}
	for _, status := range statuses {
		after := ""
		for {
			runs, err := h.store.RunList(ctx, &store.RunListParams{Status: status, Module: f.Module, ModuleVersion: f.ModuleVersion,
				Workflow: f.Workflow, After: after, Limit: bulkPage})
			if err != nil {
				return res, err
			}
			for _, run := range runs {
				res.Matched++
				requested, err := change(run)
				switch {
				case errors.Is(err, store.ErrNotFound):
					res.Skipped["purged"]++
				case errors.Is(err, store.ErrInvalidTransition):
					res.Skipped[skipReason(err)]++
				case err != nil:
					return res, err
				case requested:
					res.Requested++
				default:
					res.Done++
				}
			}
			if len(runs) < bulkPage {
				break
			}
			after = runs[len(runs)-1].ID
		}
	}
	return res, nil
}

// skipReason is the status a run was found in when its change was
// refused: "run is completed".
func skipReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "run is "); i >= 0 {
		msg = msg[i:]
		if j := strings.IndexAny(msg, ",:"); j >= 0 {
			msg = msg[:j]
		}
	}
	return msg
}
