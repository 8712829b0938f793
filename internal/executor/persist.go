package executor

import (
	"context"
	"errors"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// unavailableFor bounds how long an activation keeps calling a store that
// is unavailable (store.ErrUnavailable: a database restart, a failover)
// before it gives up and leaves its run to its lease. A restart takes a
// second or two; half the default lease covers a slow one while the lease
// may well still be this activation's.
const unavailableFor = 15 * time.Second

// Backoff between calls to an unavailable store: short at first, since most
// blips are over at once, and never so long that a run waits much after the
// database is back.
const (
	unavailableBackoff    = 50 * time.Millisecond
	unavailableBackoffMax = 500 * time.Millisecond
)

// persist makes a store call of the activation, bounded by storeTimeout,
// and makes it again, with backoff, while the store is unavailable, for up
// to unavailableFor or until the activation is stopped. Only calls that are
// safe to repeat go through it: reads, and numbered fenced writes, which
// the store recognises when one that committed is sent again (see apply).
func (a *Activation) persist(call func(ctx context.Context) error) error {
	backoff := unavailableBackoff
	var since time.Time
	for {
		ctx, cancel := context.WithTimeout(a.dbctx, storeTimeout)
		err := call(ctx)
		cancel()
		if err == nil || !errors.Is(err, store.ErrUnavailable) {
			if !since.IsZero() && err == nil {
				a.logger().Info("database available again; the activation goes on", "after", time.Since(since).Round(time.Millisecond))
			}
			return err
		}
		if since.IsZero() {
			since = time.Now()
			a.logger().Warn("database unavailable; retrying", "error", err, "for", unavailableFor)
		}
		if time.Since(since) >= unavailableFor || a.ctx.Err() != nil {
			return err
		}
		sleepCtx(a.ctx, backoff)
		backoff = min(2*backoff, unavailableBackoffMax)
	}
}
