package sqlite

import (
	"context"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// RunPurge implements store.Store. One statement in one short write
// transaction: the oldest matching finished runs, on the runs_finished
// index, deleted with (by their foreign keys) their rows in the other
// tables. SQLite has one writer at a time; a batch holds it briefly.
func (s *Store) RunPurge(ctx context.Context, p *store.RunPurgeParams) (*store.RunPurgeResult, error) {
	statuses, err := sqlstore.Purgeable(p)
	if err != nil {
		return nil, err
	}
	match := sqlstore.PurgeMatch(statuses, "?1")
	res := &store.RunPurgeResult{}
	if p.DryRun {
		err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM runs r WHERE `+match, micros(p.Before)).Scan(&res.Count)
		return res, wrap("count runs to purge", err)
	}
	err = s.tx(ctx, func(tx *txn) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id IN (
			SELECT r.id FROM runs r WHERE `+match+` ORDER BY r.completed_at LIMIT ?2)`, micros(p.Before), sqlstore.PurgeLimit(p))
		if err != nil {
			return err
		}
		res.Count, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return nil, wrap("purge runs", err)
	}
	return res, nil
}
