package sqlstore

import (
	"fmt"

	"github.com/wasmflow/wasmflow/store"
)

// DefaultPurgeLimit is RunPurgeParams.Limit when it is not set.
const DefaultPurgeLimit = 500

// Purgeable is the statuses of RunPurgeParams (all the finished ones when
// it names none) as an SQL list, or ErrInvalidTransition for a status a
// run can still leave on its own.
func Purgeable(p *store.RunPurgeParams) (string, error) {
	statuses := p.Statuses
	if len(statuses) == 0 {
		statuses = []store.RunStatus{store.StatusCompleted, store.StatusFailed, store.StatusCancelled}
	}
	for _, s := range statuses {
		if !s.Terminal() {
			return "", fmt.Errorf("purge runs in status %q: only finished runs (completed, failed, cancelled) can be purged: %w", s, store.ErrInvalidTransition)
		}
	}
	return List(statuses), nil
}

// PurgeMatch is the condition on runs r of a RunPurge: finished in one of
// statuses before the time bound by the placeholder before, and not a
// child whose parent stays (a parent that is gone, or that the same
// criteria purge, lets its children go). It reads the runs_finished index
// (migration 0008) and only finished rows.
func PurgeMatch(statuses, before string) string {
	return `r.status IN ` + statuses + ` AND r.completed_at < ` + before + `
		AND NOT EXISTS (SELECT 1 FROM runs p WHERE p.id = r.parent_id
			AND NOT (p.status IN ` + statuses + ` AND p.completed_at < ` + before + `))`
}

// PurgeLimit is RunPurgeParams.Limit, or its default.
func PurgeLimit(p *store.RunPurgeParams) int {
	if p.Limit <= 0 {
		return DefaultPurgeLimit
	}
	return p.Limit
}
