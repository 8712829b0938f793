package wasmflow

import (
	"runtime"

	"github.com/wasmflow/wasmflow/abi"
)

// Changed is a patch marker: it lets workflow code change what it does
// while runs of the old code are in flight. It reports true when the run
// takes the new code of the change id: a run that reaches the call for the
// first time (a new run, or a run past this point in its journal) takes
// it, and the host records the marker in its journal, so that its replays
// take it too. It reports false when the run replays a journal written by
// the code before the change, which made no call here: that run keeps the
// old code. Only in workflow code, never inside a step body.
//
//	if wasmflow.Changed(ctx, "fix-123") {
//		// new code
//	} else {
//		// old code
//	}
//
// Once no run in flight can still need the old code, replace the call with
// Deprecated and remove the old code; once no run has the marker in its
// journal, remove the call too.
func Changed(ctx *Context, id string) bool {
	return hostChanged(id, abi.ChangeAsk) == abi.ChangeNew
}

// Deprecated declares that the old code of change id is gone: the code
// after it is the new code only. It records nothing. A run whose journal
// has the marker goes on replaying; a run that took the old code fails at
// its next journaled call with a nondeterminism error naming both calls,
// as for any other change of code under a run. Only in workflow code,
// never inside a step body.
func Deprecated(ctx *Context, id string) {
	hostChanged(id, abi.ChangeDeprecated)
}

func hostChanged(id string, flags uint32) uint32 {
	p, n := stringPtr(id)
	r := sysChanged(p, n, flags)
	runtime.KeepAlive(id)
	return r
}
