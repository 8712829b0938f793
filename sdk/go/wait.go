package wasmflow

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/wasmflow/wasmflow/abi"
)

// NoTimeout makes AwaitSignal wait as long as it takes.
const NoTimeout time.Duration = -1

// Sleep is a durable sleep of d, named name (empty names it "sleep"): the
// host records a timer at its current time plus d and suspends the run,
// which costs no memory and no process while it waits, then resumes it, on
// any process, once the time has passed. On replay a fired timer returns at
// once. Only in workflow code, never inside a step body (use time.Sleep
// there, which counts against the activation's time).
func Sleep(ctx *Context, name string, d time.Duration) {
	hostSleep(name, millis(d))
}

// AwaitSignal waits for the next signal named name sent to the run (signals
// sent before the wait count, oldest first) and decodes its JSON payload
// into T. The run suspends while it waits. It reports false if timeout
// passed first; timeout NoTimeout (any negative value) waits for ever, and 0
// only takes a signal already there. Only in workflow code, never inside a
// step body. The outcome is journaled: replay returns the same signal or
// the same timeout.
//
// The error is non-nil only when a signal arrived whose payload does not
// decode into T; the bool is then true.
func AwaitSignal[T any](ctx *Context, name string, timeout time.Duration) (T, bool, error) {
	var v T
	ms := int64(-1)
	if timeout >= 0 {
		ms = millis(timeout)
	}
	if hostAwaitSignal(name, ms) == abi.SignalTimedOut {
		return v, false, nil
	}
	if err := json.Unmarshal(result(), &v); err != nil {
		return v, true, fmt.Errorf("wasmflow: the payload of signal %q does not decode into %T: %w", name, v, err)
	}
	return v, true, nil
}
