package wasmflow

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"
)

// Context is the handle a workflow function receives: the run it executes,
// its deterministic clock and random source, its log, and the compensations
// registered so far. It is valid for the one invocation it was made for and
// is not safe for concurrent use: workflow code runs on one goroutine.
type Context struct {
	workflow string
	runID    string
	attempt  int
	rng      *rand.Rand
	logger   *slog.Logger
	undo     []compensation
}

// RunID returns the id of the run.
func (c *Context) RunID() string {
	if c.runID == "" {
		c.runID = string(readResult(sysRunID()))
	}
	return c.runID
}

// Workflow returns the name of the workflow being run.
func (c *Context) Workflow() string { return c.workflow }

// Attempt returns the run's attempt number: 1 for a new run, one more for
// each manual retry of the run.
func (c *Context) Attempt() int {
	if c.attempt == 0 {
		c.attempt = int(sysAttempt())
	}
	return c.attempt
}

// Now returns the current time as the host gives it. Outside a step body it
// is the run's workflow clock: the time of the latest journal entry the run
// has reached, the same on every replay. Inside a step body it is the real
// time.
func (c *Context) Now() time.Time { return time.Unix(0, sysNow()) }

// Random fills p with random bytes from the host. Outside a step body they
// come from a stream seeded by the run and its journal position, identical
// on every replay; inside a step body they are fresh.
func (c *Context) Random(p []byte) { hostRandom(p) }

// Rand returns a random number generator that draws from Random, and so is
// deterministic outside step bodies in the same way.
func (c *Context) Rand() *rand.Rand {
	if c.rng == nil {
		c.rng = rand.New(hostSource{})
	}
	return c.rng
}

type hostSource struct{}

func (hostSource) Uint64() uint64 {
	var b [8]byte
	hostRandom(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// Logger returns a logger whose records go to the run's log through the
// host, at their level. The host drops lines written while the run replays
// what it did before, so each line appears once.
func (c *Context) Logger() *slog.Logger {
	if c.logger == nil {
		c.logger = slog.New(newLogHandler())
	}
	return c.logger
}

// Logf writes a line to the run's log at info level, formatted as by
// fmt.Sprintf.
func (c *Context) Logf(format string, args ...any) {
	c.Logger().Info(fmt.Sprintf(format, args...))
}

// Progress publishes v, encoded as JSON, as the run's progress value for
// UIs, replacing the previous one. It returns an error only when v does not
// encode.
func (c *Context) Progress(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("wasmflow: progress value does not encode as JSON: %w", err)
	}
	hostProgress(b)
	return nil
}

// compensation is an undo registered with Compensate.
type compensation struct {
	name string
	fn   func(s *StepContext) error
	opts []StepOption
}

// Compensate registers undo as the compensation of what the workflow has
// done so far (a saga): typically called right after the step whose effect
// it reverses has succeeded. If the workflow function then returns an error,
// the registered compensations run in reverse order of registration, each as
// a step named "undo:" + name with opts, so each is journaled and runs to
// completion once; then the run fails with the workflow's error.
//
// Registration is in memory and happens again on every replay, since the
// workflow code runs again: register compensations deterministically, like
// everything outside step bodies.
func (c *Context) Compensate(name string, undo func(s *StepContext) error, opts ...StepOption) {
	c.undo = append(c.undo, compensation{name: name, fn: undo, opts: opts})
}

// compensate runs the registered compensations after the workflow failed
// with err and returns the run's failure message.
func (c *Context) compensate(err error) string {
	msg := err.Error()
	var failed []string
	for i := len(c.undo) - 1; i >= 0; i-- {
		u := c.undo[i]
		_, uerr := Step(c, "undo:"+u.name, func(s *StepContext) (struct{}, error) {
			return struct{}{}, u.fn(s)
		}, u.opts...)
		if uerr != nil {
			failed = append(failed, uerr.Error())
		}
	}
	c.undo = nil
	if len(failed) > 0 {
		msg += "; compensation failed: " + strings.Join(failed, "; ")
	}
	return msg
}
