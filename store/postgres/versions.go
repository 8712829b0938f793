package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// versionTx is the Postgres statements of RunUpgrade and ModuleDelete,
// whose logic is sqlstore's.
type versionTx struct{ steerTx }

var (
	_ sqlstore.UpgradeTx = versionTx{}
	_ sqlstore.DeleteTx  = versionTx{}
)

// RunUpgrade implements store.Store.
func (s *Store) RunUpgrade(ctx context.Context, p *store.RunUpgradeParams) (*store.Run, error) {
	var run *store.Run
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		run, err = sqlstore.RunUpgrade(ctx, versionTx{steerTx{tx}}, p)
		return err
	})
	if err != nil {
		return nil, s.wrap("upgrade run "+p.ID, err)
	}
	return run, nil
}

// ModuleDelete implements store.Store. It takes the locks of ModuleInsert
// of the name and of the digest, in that order, so that neither a new
// version of the name nor another module with the same bytes is inserted
// while it decides whether the bytes can go.
func (s *Store) ModuleDelete(ctx context.Context, p *store.ModuleDeleteParams) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockModuleName(ctx, tx, p.Name); err != nil {
			return err
		}
		return sqlstore.ModuleDelete(ctx, versionTx{steerTx{tx}}, p)
	})
	return s.wrap("delete module "+p.Name+" version "+p.Version, err)
}

// lockModuleName serializes the writes of the versions of module name.
func lockModuleName(ctx context.Context, tx pgx.Tx, name string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('wasmflow module ' || $1, 0))`, name)
	return err
}

// lockModuleDigest serializes the writes of the bytes of digest.
func lockModuleDigest(ctx context.Context, tx pgx.Tx, digest string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('wasmflow module bytes ' || $1, 0))`, digest)
	return err
}

func (t versionTx) ModuleDigestLock(ctx context.Context, name, version string) (string, error) {
	var digest string
	err := t.tx.QueryRow(ctx, `SELECT digest FROM modules WHERE name = $1 AND version = $2 FOR SHARE`, name, version).Scan(&digest)
	return digest, err
}

func (t versionTx) RunRepin(ctx context.Context, id, version, digest string, now time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE runs SET module_version = $2, module_digest = $3, updated_at = $4 WHERE id = $1`,
		id, version, digest, now); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `DELETE FROM run_snapshots WHERE run_id = $1`, id)
	return err
}

func (t versionTx) ModuleLock(ctx context.Context, name, version string) (string, error) {
	var digest string
	err := t.tx.QueryRow(ctx, `SELECT digest FROM modules WHERE name = $1 AND version = $2 FOR UPDATE`, name, version).Scan(&digest)
	if err != nil {
		return "", err
	}
	return digest, lockModuleDigest(ctx, t.tx, digest)
}

func (t versionTx) PinnedRuns(ctx context.Context, name, version string) (int64, error) {
	var n int64
	err := t.tx.QueryRow(ctx, `SELECT count(*) FROM runs WHERE module_name = $1 AND module_version = $2
		AND status IN `+sqlstore.Pinning, name, version).Scan(&n)
	return n, err
}

func (t versionTx) ModuleRemove(ctx context.Context, name, version string) error {
	_, err := t.tx.Exec(ctx, `WITH gone AS (
			DELETE FROM modules WHERE name = $1 AND version = $2 RETURNING name, version, digest
		) INSERT INTO module_versions_retired (name, version, digest) SELECT name, version, digest FROM gone
		ON CONFLICT (name, version) DO UPDATE SET digest = excluded.digest`, name, version)
	return err
}

func (t versionTx) DigestUsed(ctx context.Context, digest string) (bool, error) {
	var used bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM modules WHERE digest = $1)`, digest).Scan(&used)
	return used, err
}

func (t versionTx) BytesRemove(ctx context.Context, digest string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM module_images WHERE digest = $1`, digest); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `DELETE FROM module_bytes WHERE digest = $1`, digest)
	return err
}
