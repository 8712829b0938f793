package postgres

import (
	"context"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// RunPurge implements store.Store. One statement, so one short
// transaction: it picks the oldest matching finished runs on the
// runs_finished index, locks them skipping those another transaction
// holds (a retry, a child's end counted on its parent, another purger),
// and deletes them; the foreign keys delete their rows in the other tables.
// Claims lock only runnable runs (runs_claim): the two never meet on a row.
func (s *Store) RunPurge(ctx context.Context, p *store.RunPurgeParams) (*store.RunPurgeResult, error) {
	statuses, err := sqlstore.Purgeable(p)
	if err != nil {
		return nil, err
	}
	match := sqlstore.PurgeMatch(statuses, "$1")
	res := &store.RunPurgeResult{}
	if p.DryRun {
		err := s.read(ctx, func() error {
			return s.pool.QueryRow(ctx, `SELECT count(*) FROM runs r WHERE `+match, p.Before).Scan(&res.Count)
		})
		return res, s.wrap("count runs to purge", err)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM runs WHERE id IN (
		SELECT r.id FROM runs r WHERE `+match+`
		ORDER BY r.completed_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED)`, p.Before, sqlstore.PurgeLimit(p))
	if err != nil {
		return nil, s.wrap("purge runs", err)
	}
	res.Count = tag.RowsAffected()
	return res, nil
}
