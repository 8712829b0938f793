package wasmflow

import (
	"bytes"
	"context"
	"log/slog"
	"sync"

	"github.com/wasmflow/wasmflow/abi"
)

// logHandler is a slog.Handler that formats records as "message k=v ..." and
// hands them to the host's log at their level. The host stamps the time.
type logHandler struct {
	mu   *sync.Mutex
	buf  *bytes.Buffer
	text slog.Handler // formats attributes only, into buf
}

func newLogHandler() *logHandler {
	buf := new(bytes.Buffer)
	text := slog.NewTextHandler(buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	return &logHandler{mu: new(sync.Mutex), buf: buf, text: text}
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	h.buf.WriteString(r.Message)
	h.buf.WriteByte(' ')
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	hostLog(logLevel(r.Level), bytes.TrimRight(h.buf.Bytes(), " \n"))
	return nil
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{mu: h.mu, buf: h.buf, text: h.text.WithAttrs(attrs)}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{mu: h.mu, buf: h.buf, text: h.text.WithGroup(name)}
}

func logLevel(l slog.Level) uint32 {
	switch {
	case l < slog.LevelInfo:
		return abi.LogDebug
	case l < slog.LevelWarn:
		return abi.LogInfo
	case l < slog.LevelError:
		return abi.LogWarn
	}
	return abi.LogError
}
