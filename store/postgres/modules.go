package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

func scanModule(row pgx.Row) (*store.Module, error) {
	var m store.Module
	var workflows []byte
	if err := row.Scan(&m.Name, &m.Version, &m.Digest, &m.Size, &workflows, &m.CreatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(workflows, &m.Workflows); err != nil {
		return nil, fmt.Errorf("workflows of module %s %s: %w", m.Name, m.Version, err)
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return &m, nil
}

func scanModules(rows pgx.Rows) ([]*store.Module, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Module, error) { return scanModule(row) })
}

// ModuleInsert implements store.Store. Inserts of one name are serialized
// with an advisory lock so that two of them never pick the same version;
// another on the digest orders the insert of its bytes with ModuleDelete.
func (s *Store) ModuleInsert(ctx context.Context, p *store.ModuleInsertParams) (*store.Module, bool, error) {
	var m *store.Module
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockModuleName(ctx, tx, p.Name); err != nil {
			return err
		}
		var err error
		m, err = scanModule(tx.QueryRow(ctx, `SELECT `+sqlstore.ModuleColumns+` FROM modules WHERE name = $1 AND digest = $2
			ORDER BY created_at DESC, id DESC LIMIT 1`, p.Name, p.Digest))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		version := p.Version
		if version == "" {
			// Bytes that a deleted version had take that version back.
			if err := tx.QueryRow(ctx, `SELECT version FROM module_versions_retired WHERE name = $1 AND digest = $2
				ORDER BY version DESC LIMIT 1`, p.Name, p.Digest).Scan(&version); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if version == "" {
			if version, err = nextVersion(ctx, tx, p.Name); err != nil {
				return err
			}
		}
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM modules WHERE name = $1 AND version = $2)`,
			p.Name, version).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("module %s version %s has another digest: %w", p.Name, version, store.ErrConflict)
		}
		var retired string
		err = tx.QueryRow(ctx, `SELECT digest FROM module_versions_retired WHERE name = $1 AND version = $2`, p.Name, version).Scan(&retired)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if retired != "" && retired != p.Digest {
			return fmt.Errorf("module %s version %s was deleted and had other bytes; a version is not reused for other bytes: %w", p.Name, version, store.ErrConflict)
		}
		workflows := p.Workflows
		if workflows == nil {
			workflows = []string{}
		}
		wf, _ := json.Marshal(workflows)
		// The bytes may be shared with another module that a ModuleDelete
		// is removing: wait for it to decide.
		if err := lockModuleDigest(ctx, tx, p.Digest); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO module_bytes (digest, bytes) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING`,
			p.Digest, p.Bytes); err != nil {
			return err
		}
		m, err = scanModule(tx.QueryRow(ctx, `INSERT INTO modules (name, version, digest, size, workflows, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+sqlstore.ModuleColumns, p.Name, version, p.Digest, len(p.Bytes), wf, p.Now))
		created = err == nil
		return err
	})
	if err != nil {
		return nil, false, s.wrap("insert module "+p.Name, err)
	}
	return m, created, nil
}

// nextVersion returns one more than the highest integer version name has
// had, deleted ones included.
func nextVersion(ctx context.Context, tx pgx.Tx, name string) (string, error) {
	rows, _ := tx.Query(ctx, `SELECT version FROM modules WHERE name = $1
		UNION ALL SELECT version FROM module_versions_retired WHERE name = $1`, name)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	high := 0
	for _, v := range versions {
		if n, err := strconv.Atoi(v); err == nil && n > high {
			high = n
		}
	}
	return strconv.Itoa(high + 1), nil
}

// ModuleGetByName implements store.Store.
func (s *Store) ModuleGetByName(ctx context.Context, p *store.ModuleGetByNameParams) (*store.Module, error) {
	q := `SELECT ` + sqlstore.ModuleColumns + ` FROM modules WHERE name = $1`
	args := []any{p.Name}
	if p.Version != "" {
		q += ` AND version = $2`
		args = append(args, p.Version)
	}
	var m *store.Module
	err := s.read(ctx, func() (err error) {
		m, err = scanModule(s.pool.QueryRow(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT 1`, args...))
		return err
	})
	return m, s.wrap("get module "+p.Name, err)
}

// ModuleGetBytes implements store.Store.
func (s *Store) ModuleGetBytes(ctx context.Context, p *store.ModuleGetBytesParams) ([]byte, error) {
	var b []byte
	err := s.read(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT bytes FROM module_bytes WHERE digest = $1`, p.Digest).Scan(&b)
	})
	return b, s.wrap("get module bytes "+p.Digest, err)
}

// ModuleImageGet implements store.Store.
func (s *Store) ModuleImageGet(ctx context.Context, p *store.ModuleImageGetParams) (*store.ModuleImage, error) {
	img := &store.ModuleImage{Digest: p.Digest, Format: p.Format}
	err := s.read(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT image, created_at FROM module_images WHERE digest = $1 AND format = $2`, p.Digest, p.Format).
			Scan(&img.Image, &img.CreatedAt)
	})
	if err != nil {
		return nil, s.wrap("get init image of module "+p.Digest, err)
	}
	img.CreatedAt = img.CreatedAt.UTC()
	return img, nil
}

// ModuleImagePut implements store.Store.
func (s *Store) ModuleImagePut(ctx context.Context, p *store.ModuleImagePutParams) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO module_images (digest, format, image, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (digest, format) DO UPDATE SET image = EXCLUDED.image, created_at = EXCLUDED.created_at`,
		p.Digest, p.Format, p.Image, p.Now)
	return s.wrap("put init image of module "+p.Digest, err)
}

// ModuleList implements store.Store.
func (s *Store) ModuleList(ctx context.Context, p *store.ModuleListParams) ([]*store.Module, error) {
	var ms []*store.Module
	err := s.read(ctx, func() (err error) {
		rows, _ := s.pool.Query(ctx, `SELECT DISTINCT ON (name) `+sqlstore.ModuleColumns+` FROM modules
		ORDER BY name, created_at DESC, id DESC`)
		ms, err = scanModules(rows)
		return err
	})
	return ms, s.wrap("list modules", err)
}

// ModuleListVersions implements store.Store.
func (s *Store) ModuleListVersions(ctx context.Context, p *store.ModuleListVersionsParams) ([]*store.Module, error) {
	var ms []*store.Module
	err := s.read(ctx, func() (err error) {
		rows, _ := s.pool.Query(ctx, `SELECT `+sqlstore.ModuleColumns+` FROM modules WHERE name = $1
		ORDER BY created_at DESC, id DESC`, p.Name)
		ms, err = scanModules(rows)
		return err
	})
	return ms, s.wrap("list versions of module "+p.Name, err)
}
