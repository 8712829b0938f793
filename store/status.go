package store

import "slices"

// RunStatus is the status of a run. The allowed transitions are listed in
// one place, runTransitions, and every Store enforces them.
type RunStatus string

const (
	// StatusPending: runnable once WakeAt has passed (new, interrupted, or
	// waiting for a retry backoff).
	StatusPending RunStatus = "pending"
	// StatusRunning: an activation holds the run's lease.
	StatusRunning RunStatus = "running"
	// StatusSleeping: suspended on a durable timer until WakeAt.
	StatusSleeping RunStatus = "sleeping"
	// StatusWaiting: suspended until a signal arrives or WakeAt (a timeout)
	// passes.
	StatusWaiting RunStatus = "waiting"
	// StatusCompleted, StatusFailed, StatusCancelled are terminal, except that
	// a failed run may be retried.
	StatusCompleted RunStatus = "completed"
	StatusFailed    RunStatus = "failed"
	StatusCancelled RunStatus = "cancelled"
)

// runTransitions maps each status to the statuses it may become.
var runTransitions = map[RunStatus][]RunStatus{
	StatusPending:   {StatusRunning, StatusCancelled},
	StatusRunning:   {StatusRunning, StatusPending, StatusSleeping, StatusWaiting, StatusCompleted, StatusFailed, StatusCancelled},
	StatusSleeping:  {StatusRunning, StatusCancelled},
	StatusWaiting:   {StatusRunning, StatusCancelled},
	StatusCompleted: nil,
	StatusFailed:    {StatusPending}, // retry
	StatusCancelled: nil,
}

// Valid reports whether s is one of the run statuses.
func (s RunStatus) Valid() bool {
	_, ok := runTransitions[s]
	return ok
}

// Terminal reports whether a run in status s has finished.
func (s RunStatus) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// CanBecome reports whether a run in status s may move to status to.
func (s RunStatus) CanBecome(to RunStatus) bool {
	return slices.Contains(runTransitions[s], to)
}

// StatusesBecoming returns the statuses from which a run may move to to, in
// a stable order. Stores use it to guard their updates.
func StatusesBecoming(to RunStatus) []RunStatus {
	var from []RunStatus
	for _, s := range AllStatuses {
		if s.CanBecome(to) {
			from = append(from, s)
		}
	}
	return from
}

// AllStatuses lists every run status in lifecycle order.
var AllStatuses = []RunStatus{StatusPending, StatusRunning, StatusSleeping, StatusWaiting, StatusCompleted, StatusFailed, StatusCancelled}
