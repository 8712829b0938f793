package poll_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/poll"
)

// recorder is a testing.TB whose Fatalf records instead of failing.
type recorder struct {
	testing.TB
	fatal string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls poll.Until on a recorder in a goroutine of its own, as
// Fatalf ends it, and returns what it recorded.
func run(timeout time.Duration, cond func() error) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		poll.Until(r, timeout, cond)
	}()
	<-done
	return r.fatal
}

func TestUntil(t *testing.T) {
	t.Parallel()
	t.Run("returns once the condition holds", func(t *testing.T) {
		t.Parallel()
		calls := 0
		if msg := run(time.Minute, func() error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		}); msg != "" || calls != 3 {
			t.Errorf("failed with %q after %d calls, want success after 3", msg, calls)
		}
	})
	t.Run("fails with the last reason when the time is up", func(t *testing.T) {
		t.Parallel()
		calls := 0
		start := time.Now()
		msg := run(100*time.Millisecond, func() error { calls++; return fmt.Errorf("still %d", calls) })
		if want := fmt.Sprintf("after 100ms: still %d", calls); msg != want || calls < 2 {
			t.Errorf("failed with %q after %d calls, want %q", msg, calls, want)
		}
		if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
			t.Errorf("gave up after %s", d)
		}
	})
}
