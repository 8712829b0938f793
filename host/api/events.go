package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host"
)

// heartbeat is how often an idle live stream sends a comment line, so that
// proxies keep the connection open and a gone client is noticed.
const heartbeat = 15 * time.Second

// afterSeq reads where an event listing starts: the Last-Event-ID header of a
// reconnecting EventSource wins over ?after=, as the URL it reconnects to is
// the one it first opened.
func afterSeq(c *fiber.Ctx) (int64, error) {
	name, v := "Last-Event-ID header", c.Get("Last-Event-ID")
	if v == "" {
		name, v = "after", c.Query("after")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, apiError(host.ErrInvalid, name+" must be an event seq (an integer >= 0), not "+strconv.Quote(v))
	}
	return n, nil
}

// streamEvents answers with the run's events after seq as server-sent events
// (id: seq, event: type, data: the event as JSON), and keeps sending new
// ones as they are recorded. The stream ends once the run has finished and
// its last event has been sent, when the client goes away, or when
// Config.Context is done.
func (s *server) streamEvents(c *fiber.Ctx, id string, after int64) error {
	if _, err := s.h.Run(c.UserContext(), id); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	// The writer runs after the handler has returned, when c belongs to
	// another request: it may use only what is captured here.
	h, poll, base := s.h, s.cfg.EventPoll, s.cfg.Context
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithCancel(base)
		defer cancel()
		_ = stream(ctx, w, h, id, after, poll)
	})
	return nil
}

// stream writes events until the run has finished, or until a write fails
// (the client went away) or ctx is done.
func stream(ctx context.Context, w *bufio.Writer, h *host.Host, id string, after int64, poll time.Duration) error {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	lastWrite := time.Now()
	var last []byte // the last event sent, as sent
	for {
		// The run is read before its events: once it is seen finished,
		// every event it recorded up to then is in the listing.
		// The last event sent is read again: the host rewrites its latest
		// event in place (coalesced checkpoints, activation_started
		// completed by the activation's first write), and then the stream
		// sends it again, with its seq, for clients to replace.
		from := after
		if last != nil {
			from--
		}
		run, evs, err := h.RunEvents(ctx, id, from)
		if err != nil {
			return writeStreamError(ctx, w, err)
		}
		sent := 0
		for _, e := range evs {
			data, err := json.Marshal(toEvent(e))
			if err != nil {
				return err
			}
			if e.Seq <= after && bytes.Equal(data, last) {
				continue
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, data); err != nil {
				return err
			}
			after, last = max(after, e.Seq), data
			sent++
		}
		switch {
		case sent > 0:
			lastWrite = time.Now()
			if err := w.Flush(); err != nil {
				return err
			}
		case time.Since(lastWrite) >= heartbeat:
			lastWrite = time.Now()
			if _, err := w.WriteString(": heartbeat\n\n"); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if run.Status.Terminal() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// writeStreamError tells the client, as an "error" event, why the stream
// ended early: the status line (200) is long gone by then. A stream ended by
// Config.Context just stops; the client reconnects with Last-Event-ID.
func writeStreamError(ctx context.Context, w *bufio.Writer, err error) error {
	if ctx.Err() != nil {
		return err
	}
	data, _ := json.Marshal(Error{Error: ErrorBody{Code: "internal", Message: err.Error()}})
	fmt.Fprintf(w, "event: error\ndata: %s\n\n", data)
	w.Flush()
	return err
}
