package host_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/internal/poll"
)

// Shutdown returns once the scheduler's own goroutines have ended: its
// heartbeats and its listener for database notifications, not only its
// activations. Not parallel: it counts the goroutines of every host.
func TestShutdownWaitsForTheSchedulersGoroutines(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, "postgres")
	h, err := host.New(ctx, &host.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	count := func() (heartbeats, listeners int) {
		buf := make([]byte, 1<<22)
		dump := string(buf[:runtime.Stack(buf, true)])
		return strings.Count(dump, "scheduler.(*Scheduler).heartbeats("), strings.Count(dump, "postgres.(*Store).Listen(")
	}
	heartbeats, listeners := count()
	h.Start()
	poll.Until(t, 10*time.Second, func() error {
		if hb, l := count(); hb != heartbeats+1 || l != listeners+1 {
			return fmt.Errorf("%d heartbeats and %d listeners running, want %d and %d", hb, l, heartbeats+1, listeners+1)
		}
		return nil
	})
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if hb, l := count(); hb != heartbeats || l != listeners {
		t.Fatalf("after Shutdown: %d heartbeats and %d listeners running, want %d and %d", hb, l, heartbeats, listeners)
	}
}
