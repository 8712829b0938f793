// Package poll waits, in tests, for what another goroutine or process
// makes true: the one wait-until loop the tests share.
package poll

import (
	"testing"
	"time"
)

// Interval is how long Until sleeps between two calls of its condition.
const Interval = 20 * time.Millisecond

// Until calls cond until it returns nil, every Interval, and fails t with
// the last error cond returned (which says what has not happened yet) once
// timeout has passed. cond may fail t itself, for what must never happen.
func Until(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
			return
		}
		time.Sleep(Interval)
	}
}
