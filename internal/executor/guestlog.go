package executor

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
)

// guestLog is what one activation's guest writes to the host's log: its
// log calls and the lines of its stdout and stderr, counted against one
// budget of bytes and lines per activation and one per run. The first
// line over either is replaced by one marker line, and the rest of the
// activation's (or the run's) lines are dropped.
type guestLog struct {
	a    *Activation
	runs *runLogs // its mutex guards the counts below and run's

	bytes  int
	lines  int
	capped bool    // the activation's budget is spent
	run    *runLog // the run's count, looked up at the first line
}

// runLog counts what a run wrote to this process's log over its
// activations (RATIONALE.md: "Why are a run's log lines counted in
// memory?").
type runLog struct {
	bytes, lines int64
	capped       bool
	used         time.Time
}

// Cap kinds, as told to Observer.LogCapped.
const (
	LogCappedActivation = "activation"
	LogCappedRun        = "run"
)

// newGuestLog returns the log of an activation. An instance that is no
// run's (a module described at upload, its init image being made) has a
// budget of its own.
func newGuestLog(a *Activation) *guestLog {
	g := &guestLog{a: a, runs: &a.e.runLogs}
	if a.describe != nil || a.capture != nil {
		g.run = &runLog{}
	}
	return g
}

// runLog returns the run's count, creating it at the first line, so
// that runs that log nothing cost nothing. runs.mu must be held.
func (g *guestLog) runLog() *runLog {
	if g.run == nil {
		g.run = g.runs.get(g.a.run.ID)
	}
	return g.run
}

// line logs one line of the guest's, if the budgets allow it. Control
// characters become U+FFFD first: a log handler would escape each into
// several bytes (a line of NUL bytes grew fourfold), and none is fit for
// a terminal that shows the log.
func (g *guestLog) line(level slog.Level, msg string, attrs ...any) {
	if g.spent() {
		return
	}
	msg = strings.Map(printable, msg)
	g.runs.mu.Lock()
	l := g.a.e.limits
	run := g.runLog()
	switch {
	case g.capped || run.capped:
		g.runs.mu.Unlock()
		return
	case g.lines+1 > l.LogLinesPerActivation || g.bytes+len(msg) > l.LogBytesPerActivation:
		g.capped = true
		g.runs.mu.Unlock()
		g.marker(LogCappedActivation, fmt.Sprintf("the guest's log reached its limit of %d lines or %d bytes per activation%s; the rest of this activation's log lines are dropped", l.LogLinesPerActivation, l.LogBytesPerActivation, l.hint("LogLinesPerActivation", "LogBytesPerActivation")))
		return
	case run.lines+1 > l.LogLinesPerRun || run.bytes+int64(len(msg)) > l.LogBytesPerRun:
		run.capped = true
		g.runs.mu.Unlock()
		g.marker(LogCappedRun, fmt.Sprintf("the guest's log reached its limit of %d lines or %d bytes per run%s; the rest of this run's log lines are dropped", l.LogLinesPerRun, l.LogBytesPerRun, l.hint("LogLinesPerRun", "LogBytesPerRun")))
		return
	}
	g.lines++
	g.bytes += len(msg)
	run.lines++
	run.bytes += int64(len(msg))
	g.runs.mu.Unlock()
	g.a.logger().Log(context.Background(), level, msg, append(attrs, "source", "guest")...)
}

// spent reports whether the activation's or the run's budget is spent:
// every further line is dropped.
func (g *guestLog) spent() bool {
	g.runs.mu.Lock()
	defer g.runs.mu.Unlock()
	if g.run == nil {
		g.run = g.runs.runs[g.a.run.ID] // without creating it
	}
	return g.capped || (g.run != nil && g.run.capped)
}

func (g *guestLog) marker(kind, msg string) {
	g.a.logger().Warn(msg, "source", "host", "log_capped", kind)
	if obs := g.a.e.obs; obs != nil {
		obs.LogCapped(g.a.run, kind)
	}
}

func printable(r rune) rune {
	if r != '\t' && unicode.IsControl(r) {
		return '\uFFFD'
	}
	return r
}

// runLogs are the runs' log counts in this process.
type runLogs struct {
	mu   sync.Mutex
	runs map[string]*runLog
}

// maxRunLogs bounds the runs whose log counts a process remembers; the
// one used least recently is forgotten first.
const maxRunLogs = 10000

// get returns the run's count. r.mu must be held.
func (r *runLogs) get(id string) *runLog {
	if l := r.runs[id]; l != nil {
		l.used = time.Now()
		return l
	}
	if r.runs == nil {
		r.runs = make(map[string]*runLog)
	}
	if len(r.runs) >= maxRunLogs {
		var oldest string
		var at time.Time
		for k, l := range r.runs {
			if oldest == "" || l.used.Before(at) {
				oldest, at = k, l.used
			}
		}
		delete(r.runs, oldest)
	}
	l := &runLog{used: time.Now()}
	r.runs[id] = l
	return l
}

// forget drops a run's count once it has finished.
func (r *runLogs) forget(id string) {
	r.mu.Lock()
	delete(r.runs, id)
	r.mu.Unlock()
}
