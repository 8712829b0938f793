package host

import "github.com/wasmflow/wasmflow/store"

// The records the host's API returns are the store's: these aliases name
// them in package host, so that a caller of the host (the HTTP API, an
// embedder) needs no store package to use them.
type (
	// Module is a module version.
	Module = store.Module
	// Run is a run as it is now.
	Run = store.Run
	// RunStatus is a run's status; RunStatuses lists them.
	RunStatus = store.RunStatus
	// Entry is a step, a timer or a signal wait of a run's journal.
	Entry = store.Entry
	// EntryKind tells a journal entry's kind; EntryStep is a step.
	EntryKind = store.EntryKind
	// EntryStatus is a journal entry's status.
	EntryStatus = store.EntryStatus
	// Event is an event of a run's timeline.
	Event = store.Event
	// Signal is a signal sent to a run.
	Signal = store.Signal
	// Token is an API token, without its secret.
	Token = store.Token
	// TokenScope is what a token allows; scopes nest: read, write, admin.
	TokenScope = store.TokenScope
)

// The run statuses, the journal's step kind and the token scopes, as the
// store defines them.
const (
	StatusPending   = store.StatusPending
	StatusRunning   = store.StatusRunning
	StatusSleeping  = store.StatusSleeping
	StatusWaiting   = store.StatusWaiting
	StatusCompleted = store.StatusCompleted
	StatusFailed    = store.StatusFailed
	StatusCancelled = store.StatusCancelled

	EntryStep   = store.EntryStep
	EntryChild  = store.EntryChild
	EntryChange = store.EntryChange

	ScopeRead  = store.ScopeRead
	ScopeWrite = store.ScopeWrite
	ScopeAdmin = store.ScopeAdmin
)

// RunStatuses lists every run status in lifecycle order.
var RunStatuses = store.AllStatuses
