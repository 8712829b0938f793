package postgres

import (
	"context"
	"time"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// RunLag implements store.Store. It reads the runs_claim index, as a claim
// does.
func (s *Store) RunLag(ctx context.Context, p *store.RunLagParams) (time.Duration, error) {
	var oldest *time.Time
	err := s.read(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT min(wake_at) FROM runs WHERE status IN `+sqlstore.Claimable+` AND wake_at <= $1`,
			p.Now).Scan(&oldest)
	})
	if err != nil || oldest == nil {
		return 0, s.wrap("run lag", err)
	}
	return p.Now.Sub(*oldest), nil
}
