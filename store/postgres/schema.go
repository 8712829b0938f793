package postgres

import "context"

// SchemaVersion returns the highest migration version applied to the
// database (0 for none).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, s.wrap("read schema version", err)
}
