package sqlite

import (
	"context"
	"time"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// versionTx is the SQLite statements of RunUpgrade and ModuleDelete, whose
// logic is sqlstore's. A write transaction holds the database's one write
// lock, so what it reads stays as it is until it commits.
type versionTx struct{ steerTx }

var (
	_ sqlstore.UpgradeTx = versionTx{}
	_ sqlstore.DeleteTx  = versionTx{}
)

// RunUpgrade implements store.Store.
func (s *Store) RunUpgrade(ctx context.Context, p *store.RunUpgradeParams) (*store.Run, error) {
	var run *store.Run
	err := s.tx(ctx, func(tx *txn) (err error) {
		run, err = sqlstore.RunUpgrade(ctx, versionTx{steerTx{tx}}, p)
		return err
	})
	if err != nil {
		return nil, wrap("upgrade run "+p.ID, err)
	}
	return run, nil
}

// ModuleDelete implements store.Store.
func (s *Store) ModuleDelete(ctx context.Context, p *store.ModuleDeleteParams) error {
	err := s.tx(ctx, func(tx *txn) error {
		return sqlstore.ModuleDelete(ctx, versionTx{steerTx{tx}}, p)
	})
	return wrap("delete module "+p.Name+" version "+p.Version, err)
}

func (t versionTx) ModuleDigestLock(ctx context.Context, name, version string) (string, error) {
	return t.ModuleLock(ctx, name, version)
}

func (t versionTx) RunRepin(ctx context.Context, id, version, digest string, now time.Time) error {
	if _, err := t.tx.ExecContext(ctx, `UPDATE runs SET module_version = ?, module_digest = ?, updated_at = ? WHERE id = ?`,
		version, digest, micros(now), id); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `DELETE FROM run_snapshots WHERE run_id = ?`, id)
	return err
}

func (t versionTx) ModuleLock(ctx context.Context, name, version string) (string, error) {
	var digest string
	err := t.tx.QueryRowContext(ctx, `SELECT digest FROM modules WHERE name = ? AND version = ?`, name, version).Scan(&digest)
	return digest, err
}

func (t versionTx) PinnedRuns(ctx context.Context, name, version string) (int64, error) {
	var n int64
	err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE module_name = ? AND module_version = ?
		AND status IN `+sqlstore.Pinning, name, version).Scan(&n)
	return n, err
}

func (t versionTx) ModuleRemove(ctx context.Context, name, version string) error {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO module_versions_retired (name, version, digest)
		SELECT name, version, digest FROM modules WHERE name = ? AND version = ?
		ON CONFLICT (name, version) DO UPDATE SET digest = excluded.digest`, name, version); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `DELETE FROM modules WHERE name = ? AND version = ?`, name, version)
	return err
}

func (t versionTx) DigestUsed(ctx context.Context, digest string) (bool, error) {
	var used bool
	err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM modules WHERE digest = ?)`, digest).Scan(&used)
	return used, err
}

func (t versionTx) BytesRemove(ctx context.Context, digest string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM module_images WHERE digest = ?`, digest); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `DELETE FROM module_bytes WHERE digest = ?`, digest)
	return err
}
