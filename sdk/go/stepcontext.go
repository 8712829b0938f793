package wasmflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// StepContext is the handle a step body receives, modelled on Active Job
// Continuations' step object: the attempt number, the step's cursor, and
// checkpoints. It is valid only while the body runs.
//
// A step that works through many items saves a cursor after each one (Set,
// Advance). Saving persists the cursor and is a checkpoint: a safe point
// where the host may stop the run (shutdown, cancellation, an activation
// that used half its time) to resume it later, in this process or another,
// by running the body again from the last saved cursor. Code between two
// saves may therefore run more than once; save after finishing each unit of
// work, never before.
type StepContext struct {
	ctx     *Context
	name    string
	cursor  []byte
	attempt int
}

// Context returns the workflow's Context. Inside a step body its clock and
// random source are real, not replayed.
func (s *StepContext) Context() *Context { return s.ctx }

// Name returns the step's name.
func (s *StepContext) Name() string { return s.name }

// Attempt returns the step's attempt number: 1 for the first attempt, one
// more for each retry after an error. Resuming from a checkpoint is not a
// new attempt.
func (s *StepContext) Attempt() int {
	if s.attempt == 0 {
		s.attempt = int(sysStepAttempt())
	}
	return s.attempt
}

// Cursor decodes the step's saved cursor into v, a pointer, and reports
// whether there was one. Without a saved cursor v is left as it is, so set
// it to the starting position first. It panics, failing the attempt, if the
// cursor does not decode into v (the code changed the cursor's type).
func (s *StepContext) Cursor(v any) bool {
	if len(s.cursor) == 0 {
		return false
	}
	if err := json.Unmarshal(s.cursor, v); err != nil {
		panic(fmt.Sprintf("wasmflow: the saved cursor of step %q does not decode into %T: %v", s.name, v, err))
	}
	return true
}

// Set saves v, encoded as JSON, as the step's cursor, and checkpoints. When
// Set returns, the cursor is persisted. If the host must stop the run here,
// Set does not return: the run suspends, and the body runs again later with
// this cursor. It panics, failing the attempt, if v does not encode.
// Called inside an Effect's function it fails the run with the host's
// guest fault "checkpoint inside effect": save the cursor after the effect.
func (s *StepContext) Set(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("wasmflow: the cursor of step %q does not encode as JSON: %v", s.name, err))
	}
	hostCursorSet(b)
	s.cursor = b
}

// Advance increments an integer cursor (none saved counts as 0), saves it as
// Set does, and returns the new value. A loop over items 0..n-1 reads:
//
//	var i int64
//	s.Cursor(&i)
//	for ; i < n; i = s.Advance() {
//		process(i)
//	}
//
// A saved cursor that is not an integer, or is the largest int64, cannot
// advance: Advance then saves nothing and ends the body with a *CursorError
// (errors.Is ErrUnadvanceableCursor), which fails the step at once, without
// retry, as Rails' advance! raises UnadvanceableCursorError.
func (s *StepContext) Advance() int64 {
	var n int64
	if len(s.cursor) > 0 {
		if err := json.Unmarshal(s.cursor, &n); err != nil {
			panic(&CursorError{Step: s.name, Cursor: string(s.cursor), Reason: "it is not an integer"})
		}
	}
	if n == math.MaxInt64 {
		panic(&CursorError{Step: s.name, Cursor: string(s.cursor), Reason: "it is the largest int64"})
	}
	n++
	s.Set(n)
	return n
}

// ErrUnadvanceableCursor is what a *CursorError matches with errors.Is: the
// step's saved cursor cannot advance.
var ErrUnadvanceableCursor = errors.New("wasmflow: unadvanceable cursor")

// CursorError says why StepContext.Advance could not advance a step's
// cursor. Its message, which the step's failure carries, names the step
// and the cursor.
type CursorError struct {
	Step   string // the step's name
	Cursor string // the saved cursor, as JSON text
	Reason string // why it cannot advance
}

func (e *CursorError) Error() string {
	return fmt.Sprintf("%v: the cursor %s of step %q cannot advance: %s", ErrUnadvanceableCursor, e.Cursor, e.Step, e.Reason)
}

// Unwrap makes errors.Is(err, ErrUnadvanceableCursor) hold.
func (e *CursorError) Unwrap() error { return ErrUnadvanceableCursor }

// Checkpoint marks a safe point to stop without saving a cursor: if the
// host must stop the run here, Checkpoint does not return, and the body runs
// again later from the last saved cursor. Like Set, it may not be called
// inside an Effect's function.
func (s *StepContext) Checkpoint() { hostCheckpoint() }
