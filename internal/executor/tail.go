package executor

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// describeTimeout bounds a module's _initialize and describe at upload.
const describeTimeout = 10 * time.Second

// tailSize is how much of a guest's stderr is kept for failure messages.
const tailSize = 4096

// tailWriter turns a guest's stdout or stderr into log lines, counted
// against the activation's log budget (guestLog), and keeps the last max
// bytes for failure messages.
type tailWriter struct {
	mu      sync.Mutex
	log     *guestLog // nil: keep the tail only
	level   slog.Level
	stream  string
	max     int
	lineMax int // longer lines are truncated
	last    []byte
	partial []byte
	cut     int // bytes of the current line dropped past lineMax
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
	n := len(p)
	if w.max > 0 {
		if len(p) > w.max {
			w.last = append(w.last[:0], p[len(p)-w.max:]...)
		} else {
			w.last = append(w.last, p...)
		}
		if len(w.last) > w.max {
			w.last = w.last[len(w.last)-w.max:]
		}
	}
	if w.log == nil {
		return n, nil
	}
	for len(p) > 0 {
		chunk := p
		i := bytes.IndexByte(p, '\n')
		if i >= 0 {
			chunk, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		if room := w.lineMax - len(w.partial); len(chunk) > room {
			w.cut += len(chunk) - room
			chunk = chunk[:room]
		}
		w.partial = append(w.partial, chunk...)
		if i >= 0 {
			w.emit()
		}
	}
	return n, nil
}

// emit logs the line in partial.
func (w *tailWriter) emit() {
	line := string(w.partial)
	if w.cut > 0 {
		line += fmt.Sprintf("… (%d bytes truncated)", w.cut)
	}
	w.partial, w.cut = w.partial[:0], 0
	if w.headline == "" && isCrashLine(line) {
		w.headline = strings.TrimSpace(strings.ToValidUTF8(line, "?"))
	}
	if !w.log.a.replaying() {
		w.log.line(w.level, line, "stream", w.stream)
	}
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
