package executor

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// describeTimeout bounds a module's _initialize and describe at upload.
const describeTimeout = 10 * time.Second

// maxGuestOutput bounds what one activation may write to stdout and stderr;
// the rest is dropped with one warning.
const maxGuestOutput = 1 << 20

// tailWriter turns a guest's stdout or stderr into log lines, bounded, and
// keeps the last max bytes for failure messages.
type tailWriter struct {
	mu      sync.Mutex
	log     *slog.Logger
	level   slog.Level
	stream  string
	a       *Activation
	max     int
	last    []byte
	partial []byte
	total   int
	dropped bool
	// headline is the first line that reads like a runtime's crash report
	// ("fatal error: out of memory", "panic: ...", "... panicked at ..."):
	// it says more about a failure than the stack dump that follows it.
	headline string
}

// crashMarkers mark the lines runtimes print first when they die.
var crashMarkers = []string{"fatal error: ", "panic: ", " panicked at ", "runtime error: ", "Aborted", "abort("}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.max > 0 {
		w.last = append(w.last, p...)
		if len(w.last) > w.max {
			w.last = w.last[len(w.last)-w.max:]
		}
	}
	if w.log == nil {
		return len(p), nil
	}
	w.total += len(p)
	if w.total > maxGuestOutput {
		if !w.dropped {
			w.dropped = true
			w.logger().Warn("guest output over the limit; dropping the rest", "stream", w.stream, "limit_bytes", maxGuestOutput)
		}
		return len(p), nil
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if w.headline == "" && isCrashLine(line) {
			w.headline = strings.TrimSpace(strings.ToValidUTF8(line, "?"))
		}
		if w.a == nil || !w.a.replaying() {
			w.logger().Log(context.Background(), w.level, line, "source", "guest", "stream", w.stream)
		}
	}
	return len(p), nil
}

// logger is the activation's logger, asked at each line so that the line
// names the step being run, or the writer's own.
func (w *tailWriter) logger() *slog.Logger {
	if w.a != nil {
		return w.a.logger()
	}
	return w.log
}

func isCrashLine(line string) bool {
	for _, m := range crashMarkers {
		if strings.Contains(line, m) {
			return true
		}
	}
	return false
}

// crashHeadline returns the first crash line seen, if any.
func (w *tailWriter) crashHeadline() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.headline
}

// tail returns the last lines written, trimmed, on one line.
func (w *tailWriter) tail() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.TrimSpace(strings.ToValidUTF8(string(w.last), "?"))
	// Keep the most telling part: the last few lines.
	lines := strings.Split(s, "\n")
	if len(lines) > 6 {
		lines = lines[len(lines)-6:]
	}
	return strings.Join(lines, " | ")
}
