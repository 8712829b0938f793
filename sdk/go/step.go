package wasmflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wasmflow/wasmflow/abi"
)

// Step runs fn as the step name of the workflow, at most until it completes
// once. The first time the run reaches the step, fn runs and its output is
// encoded as JSON and recorded; when the run replays, Step returns the
// recorded output and fn does not run. Live or replayed, the value returned
// is the one decoded from the recorded JSON, so the code after the step
// sees the same value either way.
//
// If fn returns an error, the host retries the step per its options
// (MaxAttempts, Backoff, NonRetryable): the run suspends until the backoff
// has passed and, in a later activation, fn runs again with
// StepContext.Attempt one higher and the last cursor saved. When the step
// fails for good (no attempts left, a NonRetryable prefix, or an error
// wrapped with Permanent), Step returns a *StepError carrying the error's
// message; replay returns the same *StepError. A panic in fn is an error of
// the step whose message starts with "panic: ".
//
// Step may be called only from workflow code, never inside a step body:
// steps do not nest.
func Step[T any](ctx *Context, name string, fn func(s *StepContext) (T, error), opts ...StepOption) (T, error) {
	for {
		v, err, parked := step(ctx, name, fn, opts)
		if !parked {
			return v, err
		}
		// The attempt failed and its retry is scheduled: this instance was
		// parked and resumed; begin the step again.
	}
}

// step runs one attempt of the step, or returns its recorded outcome.
func step[T any](ctx *Context, name string, fn func(s *StepContext) (T, error), opts []StepOption) (T, error, bool) {
	var zero T
	switch hostStepBegin(name, encodeOptions(opts)) {
	case abi.StepDone:
		v, err := decodeOutput[T](name, result())
		return v, err, false
	case abi.StepFailed:
		return zero, &StepError{Step: name, Message: string(result())}, false
	}
	s := &StepContext{ctx: ctx, name: name, cursor: result()}
	v, err := runBody(s, fn)
	if err != nil {
		status := uint32(abi.EndError)
		if isPermanent(err) {
			status = abi.EndPermanent
		}
		msg := err.Error()
		if hostStepEnd(status, []byte(msg)) {
			return zero, nil, true
		}
		// The host returned: the step failed for good (a retry would have
		// suspended the run inside step_end, or parked it).
		return zero, &StepError{Step: name, Message: msg}, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		msg := fmt.Sprintf("wasmflow: the output of step %q does not encode as JSON: %v", name, err)
		hostStepEnd(abi.EndPermanent, []byte(msg))
		return zero, &StepError{Step: name, Message: msg}, false
	}
	hostStepEnd(abi.EndOK, out)
	v, err = decodeOutput[T](name, out)
	return v, err, false
}

// runBody runs a step body, turning a panic into an error; a cursor that
// cannot advance (ErrUnadvanceableCursor) is a permanent one.
func runBody[T any](s *StepContext, fn func(s *StepContext) (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			var zero T
			v, err = zero, fmt.Errorf("panic: %v", p)
			if ce, ok := p.(*CursorError); ok {
				err = Permanent(ce)
			}
		}
	}()
	return fn(s)
}

func decodeOutput[T any](step string, b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("wasmflow: the recorded output of step %q does not decode into %T: %w", step, v, err)
	}
	return v, nil
}

// StepError is the error Step returns for a step that failed for good. Only
// the message survives a replay, so it carries no wrapped cause: match it
// with errors.As and its fields.
type StepError struct {
	// Step is the step's name.
	Step string
	// Message is the message of the error that ended the step's last
	// attempt.
	Message string
}

func (e *StepError) Error() string { return fmt.Sprintf("step %q failed: %s", e.Step, e.Message) }

// Permanent marks err as not worth retrying: a step body (or an effect) that
// returns it fails at once, whatever attempts are left. Permanent(nil) is
// nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// StepOption sets an option of a step.
type StepOption func(*abi.StepOptions)

// MaxAttempts sets how many times the step's body may run before the step
// fails for good. The default is 3; 1 disables retries.
func MaxAttempts(n int) StepOption {
	return func(o *abi.StepOptions) { o.MaxAttempts = n }
}

// Backoff sets the delay before the second attempt (default 1s), which
// doubles for each further attempt up to max (default 1m).
func Backoff(initial, max time.Duration) StepOption {
	return func(o *abi.StepOptions) { o.BackoffMS, o.MaxBackoffMS = millis(initial), millis(max) }
}

// NonRetryable makes the step fail at once, without retry, on an error whose
// message starts with one of prefixes.
func NonRetryable(prefixes ...string) StepOption {
	return func(o *abi.StepOptions) { o.NonRetryable = append(o.NonRetryable, prefixes...) }
}

// Timeout bounds one attempt of the step's body. The host stops an attempt
// that runs longer; it fails and is retried per the step's policy. The
// default is no step timeout, only the host's activation time limit.
func Timeout(d time.Duration) StepOption {
	return func(o *abi.StepOptions) { o.TimeoutMS = millis(d) }
}

// Isolated makes the step start in a fresh activation: if anything ran live
// in the current one, the run is suspended first and resumes with the step.
// Use it for long or heavy steps that should have an activation's whole time
// budget to themselves.
func Isolated() StepOption {
	return func(o *abi.StepOptions) { o.Isolated = true }
}

// ResumeErrorsAfterAdvancing makes an error of the body after it saved a
// new cursor (with StepContext.Set or Advance) resume the step from that
// cursor without using up an attempt, as Rails' option of that name does.
// The step waits the backoff the next retry would have waited before it
// resumes, and the run's activations are bounded by the host, so a body
// that keeps advancing and failing cannot loop without pause or for ever.
// Permanent and NonRetryable errors still fail the step at once, and an
// error with no new cursor uses up an attempt as usual.
func ResumeErrorsAfterAdvancing() StepOption {
	return func(o *abi.StepOptions) { o.ResumeErrorsAfterAdvancing = true }
}

// millis rounds d up to whole milliseconds, so that a positive duration
// never becomes 0, which means "the default".
func millis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

func encodeOptions(opts []StepOption) []byte {
	if len(opts) == 0 {
		return nil
	}
	var o abi.StepOptions
	for _, opt := range opts {
		opt(&o)
	}
	b, err := json.Marshal(&o)
	if err != nil {
		panic(fmt.Sprintf("wasmflow: encode step options: %v", err))
	}
	return b
}
