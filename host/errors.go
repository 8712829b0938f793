package host

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wasmflow/wasmflow/store"
)

// ErrorKind is the kind of an error of the host API, matched with
// errors.Is and read with KindOf. Its value is the code the REST API
// answers with, so that a kind has one name everywhere. Some kinds refine
// a broader one (ErrModuleNotFound is an ErrNotFound): errors.Is matches
// the broader kind too. The messages of the errors the host returns are for
// people: they say what is wrong without the kind's name in front.
type ErrorKind string

// The kinds of the host's errors.
const (
	// ErrInvalid: the request is malformed (bad names, bad filters).
	ErrInvalid ErrorKind = "invalid_request"
	// ErrInvalidJSON: a JSON payload does not parse. An ErrInvalid.
	ErrInvalidJSON ErrorKind = "invalid_json"
	// ErrInvalidModule: PushModule was given bytes that are not a valid
	// wasmflow module; the message says why. An ErrInvalid.
	ErrInvalidModule ErrorKind = "invalid_module"
	// ErrUnauthorized: the bearer token is unknown or revoked.
	ErrUnauthorized ErrorKind = "unauthorized"
	// ErrNotFound: no such module, workflow, run or token.
	ErrNotFound ErrorKind = "not_found"
	// ErrModuleNotFound: StartRun names a module, or a module version,
	// that does not exist. An ErrNotFound.
	ErrModuleNotFound ErrorKind = "module_not_found"
	// ErrWorkflowNotFound: the module exists but does not export the
	// workflow asked for. An ErrNotFound.
	ErrWorkflowNotFound ErrorKind = "workflow_not_found"
	// ErrConflict: the request conflicts with the current state (a module
	// version that exists with other bytes).
	ErrConflict ErrorKind = "conflict"
	// ErrVersionInUse: DeleteModuleVersion of a version that runs still
	// need; the message says how many and what to do. An ErrConflict.
	ErrVersionInUse ErrorKind = "version_in_use"
	// ErrIdempotencyKeyReused: StartRun was given the idempotency key of a
	// run started with another module, version, workflow or input. An
	// ErrConflict.
	ErrIdempotencyKeyReused ErrorKind = "idempotency_key_reused"
	// ErrRunFinished: a signal to a run that has finished. An ErrConflict.
	ErrRunFinished ErrorKind = "run_finished"
	// ErrInvalidTransition: Cancel or Retry of a run whose status does not
	// allow it. An ErrConflict.
	ErrInvalidTransition ErrorKind = "invalid_transition"
	// ErrRunRunning: UpgradeRun of a run that is running; it can be
	// upgraded once it suspends. An ErrConflict.
	ErrRunRunning ErrorKind = "run_running"
	// ErrUpgradeDiverged: UpgradeRun to a version whose code diverges from
	// the run's journal (a *DivergenceError says where). An ErrConflict.
	ErrUpgradeDiverged ErrorKind = "upgrade_diverged"
	// ErrTooLarge: a payload or a module is over its limit; the message
	// names the limit and its value.
	ErrTooLarge ErrorKind = "too_large"
	// ErrUnavailable: the store cannot be reached now (a restart, a
	// failover); trying again later may succeed.
	ErrUnavailable ErrorKind = "unavailable"
	// ErrInternal: anything else, a bug.
	ErrInternal ErrorKind = "internal"
)

// broader is the kind each refining kind refines.
var broader = map[ErrorKind]ErrorKind{
	ErrInvalidJSON:          ErrInvalid,
	ErrInvalidModule:        ErrInvalid,
	ErrModuleNotFound:       ErrNotFound,
	ErrVersionInUse:         ErrConflict,
	ErrWorkflowNotFound:     ErrNotFound,
	ErrIdempotencyKeyReused: ErrConflict,
	ErrRunFinished:          ErrConflict,
	ErrInvalidTransition:    ErrConflict,
	ErrRunRunning:           ErrConflict,
	ErrUpgradeDiverged:      ErrConflict,
}

// Error returns the kind in words ("not found").
func (k ErrorKind) Error() string { return strings.ReplaceAll(string(k), "_", " ") }

// Is reports whether k is target or refines it.
func (k ErrorKind) Is(target error) bool {
	t, ok := target.(ErrorKind)
	for ; ok && k != ""; k = broader[k] {
		if k == t {
			return true
		}
	}
	return false
}

// KindOf returns the kind of an error the host returned: its ErrorKind,
// ErrUnavailable when the store could not be reached, and ErrInternal for
// anything else.
func KindOf(err error) ErrorKind {
	var k ErrorKind
	switch {
	case errors.As(err, &k):
		return k
	case errors.Is(err, store.ErrUnavailable):
		return ErrUnavailable
	}
	return ErrInternal
}

// kindError is an error of a kind (errors.Is matches the kind) with a
// message for people that does not start with the kind's name.
type kindError struct {
	kind ErrorKind
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// errorf returns an error of kind with the formatted message; %w works in
// format as in fmt.Errorf.
func errorf(kind ErrorKind, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}
