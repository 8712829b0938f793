package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// RunLag implements store.Store. It reads the runs_claim index, as a claim
// does.
func (s *Store) RunLag(ctx context.Context, p *store.RunLagParams) (time.Duration, error) {
	var oldest sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT min(wake_at) FROM runs WHERE status IN `+sqlstore.Claimable+` AND wake_at <= ?`,
		micros(p.Now)).Scan(&oldest)
	if err != nil || !oldest.Valid {
		return 0, wrap("run lag", err)
	}
	return p.Now.Sub(fromMicros(oldest.Int64)), nil
}
