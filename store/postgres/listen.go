package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmflow/wasmflow/store"
)

// notifyChannel is the channel of the runs_runnable triggers.
const notifyChannel = "wasmflow_runnable"

var _ store.Notifier = (*Store)(nil)

// Listen implements store.Notifier on a connection of its own, outside the
// pool, which it re-opens with backoff when it fails.
func (s *Store) Listen(ctx context.Context, p *store.ListenParams) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, p.Wake)
		if ctx.Err() != nil {
			return
		}
		if p.Error != nil {
			p.Error(fmt.Errorf("store: listen for runnable runs: %w (reconnecting in %s)", err, backoff))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.connConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	wake() // whatever was notified while no one listened
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}
